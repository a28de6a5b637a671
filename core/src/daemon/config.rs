//! What a daemon process is told (its group's settings) and why it stops.
use crate::config::DaemonOptions;
use crate::wire;

/// What the daemon process needs to know about its group.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub group: String,
    /// This process's slot in the group (for the start-up log line).
    pub index: usize,
    pub socket_path: String,
    pub threads: u32,
    /// `processes=` was given: `wsgi.multiprocess` is True.
    pub multiprocess: bool,
    pub token: [u8; wire::TOKEN_LEN],
    pub maximum_requests: u64,
    pub restart_interval: u64,
    pub inactivity_timeout: u64,
    pub request_timeout: u64,
    /// Seconds a request interrupted at request-timeout gets to unwind (0: no interruption).
    pub interrupt_timeout: u64,
    pub graceful_timeout: u64,
    /// Seconds running requests get after SIGUSR1 (0: graceful-timeout).
    pub eviction_timeout: u64,
    /// RLIMIT_CPU soft limit in seconds (0: none); the hard limit is one second plus
    /// shutdown-timeout above it, as in mod_wsgi.
    pub cpu_time_limit: u64,
    pub shutdown_timeout: u64,
    /// Replace the process if a script import keeps failing this long (0: off).
    pub startup_timeout: u64,
    /// Replace the process if the GIL cannot be taken for this long (0: off).
    pub deadlock_timeout: u64,
    pub queue_timeout: u64,
    /// Seconds of silence tolerated on a connection from an Apache child.
    pub socket_timeout: u64,
    pub stack_size: Option<usize>,
    pub apache_version: (u32, u32, u32),
    /// The Apache parent's pid, recorded before the fork: a different parent means it died
    /// (possibly during a slow start-up) and this process must go.
    pub parent_pid: i32,
}

impl DaemonConfig {
    /// The settings of process `index` of the group configured by `o`. The rest is known only
    /// to the Apache side: the group's socket and token, Apache's `Timeout` in seconds (used when
    /// `socket-timeout` is not given), Apache's version and the Apache parent's pid. Pure.
    pub fn from_options(
        o: &DaemonOptions,
        index: usize,
        socket_path: String,
        token: [u8; wire::TOKEN_LEN],
        apache_timeout: u64,
        apache_version: (u32, u32, u32),
        parent_pid: i32,
    ) -> Self {
        DaemonConfig {
            group: o.name.clone(),
            index,
            socket_path,
            threads: o.threads,
            multiprocess: o.processes_given,
            token,
            maximum_requests: o.maximum_requests,
            restart_interval: o.restart_interval,
            inactivity_timeout: o.inactivity_timeout,
            request_timeout: o.request_timeout,
            interrupt_timeout: o.interrupt_timeout,
            graceful_timeout: o.graceful_timeout,
            eviction_timeout: o.eviction_timeout,
            cpu_time_limit: o.cpu_time_limit,
            shutdown_timeout: o.shutdown_timeout,
            startup_timeout: o.startup_timeout,
            deadlock_timeout: o.deadlock_timeout,
            queue_timeout: o.queue_timeout,
            socket_timeout: o.socket_timeout.unwrap_or(apache_timeout),
            stack_size: o.stack_size.map(|v| v as usize),
            apache_version,
            parent_pid,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownReason {
    /// SIGUSR1: a graceful restart of this process (mod_wsgi's meaning).
    GracefulSignal,
    MaximumRequests,
    RestartInterval,
    InactivityTimeout,
    RequestTimeout,
    ScriptChanged,
    StartupTimeout,
    Deadlock,
    InternalError,
    /// SIGXCPU: the process used cpu-time-limit seconds of CPU.
    CpuTimeLimit,
    /// SIGTERM/SIGINT: Apache restarts or stops.
    Signal,
    ParentGone,
}

impl ShutdownReason {
    pub fn describe(self) -> &'static str {
        match self {
            ShutdownReason::GracefulSignal => "SIGUSR1 received (graceful restart of this process)",
            ShutdownReason::MaximumRequests => "maximum-requests reached",
            ShutdownReason::RestartInterval => "restart-interval expired",
            ShutdownReason::InactivityTimeout => "inactivity-timeout expired",
            ShutdownReason::RequestTimeout => "request-timeout expired for a request",
            ShutdownReason::ScriptChanged => "a WSGI script changed (WSGIScriptReloading On)",
            ShutdownReason::StartupTimeout => "startup-timeout expired: the WSGI script still fails to load",
            ShutdownReason::Deadlock => "deadlock-timeout expired: the Python GIL could not be acquired",
            ShutdownReason::InternalError => "internal error in a worker thread",
            ShutdownReason::CpuTimeLimit => "cpu-time-limit reached (SIGXCPU: the process used its CPU time)",
            ShutdownReason::Signal => "Apache asked it to stop (restart, graceful or stop)",
            ShutdownReason::ParentGone => "the Apache parent process is gone",
        }
    }

    /// mod_wsgi's `shutdown_reason` of the `process_stopping` event (and a short name for the
    /// status page). `internal_error` and `parent_gone` are ours (mod_wsgi has no such case).
    pub fn event_name(self) -> &'static str {
        match self {
            ShutdownReason::GracefulSignal => "graceful_signal",
            ShutdownReason::MaximumRequests => "maximum_requests",
            ShutdownReason::RestartInterval => "restart_interval",
            ShutdownReason::InactivityTimeout => "inactivity_timeout",
            ShutdownReason::RequestTimeout => "request_timeout",
            ShutdownReason::ScriptChanged => "script_reload",
            ShutdownReason::StartupTimeout => "startup_timeout",
            ShutdownReason::Deadlock => "deadlock_timeout",
            ShutdownReason::InternalError => "internal_error",
            ShutdownReason::CpuTimeLimit => "cpu_time_limit",
            ShutdownReason::Signal => "shutdown_signal",
            ShutdownReason::ParentGone => "parent_gone",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_daemon_process;

    fn config(args: &[&str]) -> DaemonConfig {
        let o = parse_daemon_process(args).unwrap();
        DaemonConfig::from_options(&o, 3, "/run/wsgi.sock".into(), [7; wire::TOKEN_LEN], 300, (2, 4, 62), 4242)
    }

    #[test]
    fn from_options_maps_every_option() {
        let c = config(&[
            "shop",
            "processes=1",
            "threads=4",
            "maximum-requests=100",
            "restart-interval=11",
            "inactivity-timeout=12",
            "request-timeout=13",
            "interrupt-timeout=21",
            "eviction-timeout=22",
            "cpu-time-limit=23",
            "shutdown-timeout=24",
            "graceful-timeout=14",
            "startup-timeout=16",
            "deadlock-timeout=17",
            "queue-timeout=18",
            "socket-timeout=19",
            "stack-size=524288",
        ]);
        assert_eq!(c.group, "shop");
        assert_eq!(c.index, 3);
        assert_eq!(c.socket_path, "/run/wsgi.sock");
        assert_eq!(c.token, [7; wire::TOKEN_LEN]);
        assert_eq!(c.threads, 4);
        // processes=1 given: still multiprocess (mod_wsgi).
        assert!(c.multiprocess);
        assert_eq!(c.maximum_requests, 100);
        assert_eq!(c.restart_interval, 11);
        assert_eq!(c.inactivity_timeout, 12);
        assert_eq!(c.request_timeout, 13);
        assert_eq!((c.interrupt_timeout, c.eviction_timeout, c.cpu_time_limit, c.shutdown_timeout), (21, 22, 23, 24));
        assert_eq!(c.graceful_timeout, 14);
        assert_eq!(c.startup_timeout, 16);
        assert_eq!(c.deadlock_timeout, 17);
        assert_eq!(c.queue_timeout, 18);
        assert_eq!(c.socket_timeout, 19);
        assert_eq!(c.stack_size, Some(524288));
        assert_eq!(c.apache_version, (2, 4, 62));
        assert_eq!(c.parent_pid, 4242);
    }

    #[test]
    fn from_options_defaults() {
        let c = config(&["shop"]);
        let d = DaemonOptions::default();
        assert_eq!(c.threads, d.threads);
        assert!(!c.multiprocess);
        assert_eq!((c.maximum_requests, c.restart_interval, c.inactivity_timeout), (0, 0, 0));
        assert_eq!((c.request_timeout, c.startup_timeout, c.queue_timeout), (0, 0, 0));
        assert_eq!((c.interrupt_timeout, c.eviction_timeout, c.cpu_time_limit, c.shutdown_timeout), (0, 0, 0, 5));
        assert_eq!((c.graceful_timeout, c.deadlock_timeout), (d.graceful_timeout, d.deadlock_timeout));
        // No socket-timeout (or socket-timeout=0): Apache's Timeout.
        assert_eq!(c.socket_timeout, 300);
        assert_eq!(config(&["shop", "socket-timeout=0"]).socket_timeout, 300);
        assert_eq!(c.stack_size, None);
        assert!(config(&["shop", "processes=2"]).multiprocess);
    }
}
