//! What a daemon process is told (its group's settings) and why it stops.
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
    pub graceful_timeout: u64,
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
            ShutdownReason::Signal => "Apache asked it to stop (restart, graceful or stop)",
            ShutdownReason::ParentGone => "the Apache parent process is gone",
        }
    }
}
