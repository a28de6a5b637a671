//! A daemon process from fork to `_exit`: reset what it inherited from the Apache parent,
//! take its user, start Python, preload scripts, serve (core::daemon), finalise, exit. It never
//! returns into Apache code.
use std::ffi::CString;
use std::time::Duration;

use wsgi_rs_core::config::display_title;
use wsgi_rs_core::daemon::{DaemonConfig, serve};
use wsgi_rs_core::wsgi::interp::{self, InitOptions};
use wsgi_rs_core::wsgi::{LogLevel, log, preload};

use crate::apache::log::{host_log, set_main_server};
use crate::apache::mpm::mpm;
use crate::daemon::process::privileges::{Target, drop_to};
use crate::daemon::process::title::set_title;
use crate::daemon::registry::DaemonGroup;
use crate::directives::config::server_config;
use crate::directives::python::python_options;
use crate::ffi;

fn fatal(group: &str, msg: &str) -> ! {
    host_log(
        LogLevel::Error,
        &format!("RWSGI0101: Daemon process '{group}' (pid {}) cannot start: {msg}", std::process::id()),
    );
    // The parent sees this status and backs off (growing) before the next attempt.
    // SAFETY: leaving the process without running Apache's atexit/pool code.
    unsafe { libc::_exit(crate::daemon::registry::EXIT_STARTUP_FAILED) }
}

/// Resets signal dispositions and the mask inherited from the Apache parent.
unsafe fn reset_signals() {
    // SAFETY: plain signal syscalls in a fresh single-threaded child.
    unsafe {
        for sig in [
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGINT,
            libc::SIGWINCH,
            libc::SIGCHLD,
            libc::SIGALRM,
            libc::SIGXCPU,
        ] {
            libc::signal(sig, libc::SIG_DFL);
        }
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// The daemon process main. `group` lives in the parent's pconf, inherited by fork.
///
/// # Safety
/// Call only in the child of `apr_proc_fork` from the supervisor.
pub unsafe fn run(group: *mut DaemonGroup, index: usize, backoff: u64, s: *mut ffi::server_rec) -> ! {
    // SAFETY: forwarded from this function's contract.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { main(group, index, backoff, s) }));
    if r.is_err() {
        host_log(
            LogLevel::Error,
            &format!("RWSGI0040: Daemon process (pid {}) stopped by an internal error.", std::process::id()),
        );
    }
    // SAFETY: never return into Apache code from a daemon process.
    unsafe { libc::_exit(1) }
}

unsafe fn main(group: *mut DaemonGroup, index: usize, backoff: u64, s: *mut ffi::server_rec) -> ! {
    // SAFETY (whole function): single-threaded child of the Apache parent until serve() starts
    // worker threads; `group` and `s` are inherited parent memory.
    unsafe {
        let g = &*group;
        let name = g.opts.name.clone();
        set_main_server(s);
        log::set_host_logger(host_log);
        reset_signals();
        // The spawner left this process only stdin/stdout/stderr and its group's socket.
        if backoff > 0 {
            std::thread::sleep(Duration::from_secs(backoff));
        }
        let title = display_title(&g.opts);
        if let Some(t) = &title {
            set_title(t);
        }
        if let Some(p) = g.opts.cpu_priority {
            libc::setpriority(libc::PRIO_PROCESS, 0, p);
        }
        for (res, v) in [(libc::RLIMIT_DATA, g.opts.memory_limit), (libc::RLIMIT_AS, g.opts.virtual_memory_limit)] {
            if let Some(v) = v {
                let l = libc::rlimit { rlim_cur: v as libc::rlim_t, rlim_max: v as libc::rlim_t };
                libc::setrlimit(res, &l);
            }
        }
        // Identity: the group's user/group, else Apache's User/Group. Only root can switch.
        let uid = g.uid.unwrap_or(ffi::ap_unixd_config.user_id);
        let gid = g.gid.unwrap_or(ffi::ap_unixd_config.group_id);
        let apache_user = CString::from(std::ffi::CStr::from_ptr(if ffi::ap_unixd_config.user_name.is_null() {
            c"".as_ptr()
        } else {
            ffi::ap_unixd_config.user_name
        }));
        // user= given: that user's groups (none for a `#uid` without a passwd entry), never
        // Apache User's.
        let user_name = if g.uid.is_some() { g.user_name.clone() } else { Some(apache_user) };
        if libc::geteuid() == 0 {
            let t = Target { uid, gid, user_name: user_name.as_ref(), supplementary: &g.supplementary_gids };
            if let Err(e) = drop_to(&t) {
                fatal(&name, &format!("dropping privileges to uid {uid} gid {gid}: {e}"));
            }
        }
        // Die with the Apache parent. Set after the identity change (which clears it), then
        // the parent is checked against the pid recorded before the fork, in case it died
        // before this point.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
        if libc::getppid() != g.parent_pid {
            host_log(
                LogLevel::Info,
                &format!(
                    "RWSGI0103: Daemon process '{name}' (pid {}) shutting down: the Apache parent process is gone.",
                    std::process::id()
                ),
            );
            libc::_exit(0);
        }
        // Working directory and environment of the user.
        // home= must exist; a user's own home directory (the default when user= is given) may
        // not (nobody: /nonexistent), then `/` is used, with a warning.
        let mut home = g.opts.home.clone();
        if let Some(h) = &home {
            let c = CString::new(h.as_str()).unwrap_or_default();
            if libc::chdir(c.as_ptr()) != 0 {
                fatal(&name, &format!("chdir to home='{h}': {}", std::io::Error::last_os_error()));
            }
        } else if let (Some(_), Some(h)) = (g.uid, &g.user_home) {
            let c = CString::new(h.as_str()).unwrap_or_default();
            if libc::chdir(c.as_ptr()) == 0 {
                home = Some(h.clone());
            } else {
                host_log(
                    LogLevel::Warning,
                    &format!(
                        "RWSGI0107: Daemon process '{name}' cannot use the home directory '{h}' of its user ({}); using '/' (set home= to choose one).",
                        std::io::Error::last_os_error()
                    ),
                );
                libc::chdir(c"/".as_ptr());
            }
        }
        if let Some(m) = g.opts.umask {
            libc::umask(m as libc::mode_t);
        }
        let set = |k: &str, v: &str| std::env::set_var(k, v);
        if let Some(l) = &g.opts.lang {
            set("LANG", l);
        }
        if let Some(l) = &g.opts.locale {
            set("LC_ALL", l);
        }
        if let Some(e) = &g.opts.python_eggs {
            set("PYTHON_EGG_CACHE", e);
        }
        if g.uid.is_some() {
            let u = user_name.as_ref().map_or_else(|| uid.to_string(), |n| n.to_string_lossy().into_owned());
            set("USER", &u);
            set("LOGNAME", &u);
            if let Some(h) = &g.user_home {
                set("HOME", h);
            }
        }
        let cfg = server_config(s);
        let mut python_path = g.opts.python_path.clone();
        if let Some(h) = &home {
            python_path.push(h.clone());
        }
        let opts = InitOptions {
            python_home: g.opts.python_home.clone().or_else(|| cfg.python_home.clone()),
            python_path,
            process_group: name.clone(),
            maximum_processes: g.opts.processes,
            threads_per_process: g.opts.threads,
            ..python_options(cfg)
        };
        if let Err(e) = interp::initialize(&opts) {
            fatal(&name, &format!("RWSGI0102: Python initialisation failed: {e}"));
        }
        for (script, callable) in &g.preload {
            preload(std::path::Path::new(script), callable);
        }
        let timeout = g.opts.socket_timeout.unwrap_or(((*s).timeout / 1_000_000).max(1) as u64);
        let dc = DaemonConfig {
            group: name.clone(),
            index,
            socket_path: g.socket_path.to_string_lossy().into_owned(),
            threads: g.opts.threads,
            multiprocess: g.opts.processes_given,
            token: g.token,
            maximum_requests: g.opts.maximum_requests,
            restart_interval: g.opts.restart_interval,
            inactivity_timeout: g.opts.inactivity_timeout,
            request_timeout: g.opts.request_timeout,
            graceful_timeout: g.opts.graceful_timeout,
            startup_timeout: g.opts.startup_timeout,
            deadlock_timeout: g.opts.deadlock_timeout,
            queue_timeout: g.opts.queue_timeout,
            socket_timeout: timeout,
            stack_size: g.opts.stack_size.map(|v| v as usize),
            apache_version: mpm().version,
            parent_pid: g.parent_pid,
        };
        let shutdown_timeout = g.opts.shutdown_timeout.max(1);
        let (_reason, idle) = serve(g.listen_fd, dc);
        if idle && cfg.destroy_interpreter.unwrap_or(true) {
            // atexit handlers and finalisation, bounded by shutdown-timeout.
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(shutdown_timeout));
                libc::_exit(0);
            });
            interp::finalize();
        }
        libc::_exit(0)
    }
}
