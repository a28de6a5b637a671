//! A daemon process from fork to `_exit`: reset what it inherited from the Apache parent,
//! take its user, start Python, preload scripts, serve (core::daemon), finalise, exit. It never
//! returns into Apache code.
use std::ffi::CString;
use std::time::Duration;

use wsgi_rs_core::config::display_title;
use wsgi_rs_core::daemon::{DaemonConfig, ShutdownReason, serve};
use wsgi_rs_core::wsgi::interp::{self, InitOptions};
use wsgi_rs_core::wsgi::service::{self, ServiceEnd};
use wsgi_rs_core::wsgi::{LogLevel, log, preload};

use crate::apache::log::{host_log, set_main};
use crate::apache::mpm::mpm;
use crate::apache::server::Server;
use crate::apache::unixd;
use crate::daemon::process::privileges::{Target, drop_to};
use crate::daemon::process::title::set_title;
use crate::daemon::registry::DaemonGroup;
use crate::directives::config::{ServerConfig, server_config};
use crate::directives::python::{export_python_eggs, python_options};

fn fatal(group: &str, msg: &str) -> ! {
    host_log(
        LogLevel::Error,
        &wsgi_rs_core::coded!("RWSGI0101", "Daemon process '{group}' (pid {}) cannot start: {msg}", std::process::id()),
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

/// The daemon process main. `g` lives in the spawner's pconf, inherited by fork; `s` is the
/// spawner's main server.
///
/// # Safety
/// Call only in the single-threaded child the spawner just forked.
pub unsafe fn run(g: &DaemonGroup, index: usize, backoff: u64, s: Server) -> ! {
    // SAFETY: forwarded from this function's contract.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { main(g, index, backoff, s) }));
    if r.is_err() {
        host_log(
            LogLevel::Error,
            &wsgi_rs_core::coded!(
                "RWSGI0040",
                "Daemon process (pid {}) stopped by an internal error.",
                std::process::id()
            ),
        );
    }
    // SAFETY: never return into Apache code from a daemon process.
    unsafe { libc::_exit(1) }
}

/// The steps, in order. None of them returns on failure: each logs and `_exit`s itself.
///
/// # Safety
/// As for [`run`]: the process is single-threaded until Python and serve() start threads.
unsafe fn main(g: &DaemonGroup, index: usize, backoff: u64, s: Server) -> ! {
    // SAFETY: single-threaded (this function's contract).
    unsafe { inherit(g, s) };
    if backoff > 0 {
        std::thread::sleep(Duration::from_secs(backoff));
    }
    show_title(g);
    limits(g);
    // SAFETY: still the single-threaded child of the Apache parent.
    let id = unsafe { identity(g) };
    // SAFETY: the main server, configured (our create/merge_server_config ran); still
    // single-threaded until Python starts its own threads.
    let cfg = unsafe { server_config(s) };
    // SAFETY: still single-threaded (the environment is changed).
    let home = unsafe { environment(g, cfg, &id) };
    python(g, cfg, home);
    serve_and_exit(g, index, s, cfg)
}

/// Inherit: take the error log (below); reset the signal dispositions and mask left by the
/// Apache parent. The spawner left this process only stdin/stdout/stderr, its group's socket
/// and its virtual host's error log.
///
/// # Safety
/// The process is single-threaded.
unsafe fn inherit(g: &DaemonGroup, s: Server) {
    // SAFETY: single-threaded, forwarded from this function's contract.
    let log_server = unsafe { take_error_log(g, s) };
    set_main(log_server);
    log::set_host_logger(host_log);
    // SAFETY: single-threaded, forwarded from this function's contract.
    unsafe { reset_signals() };
}

/// The error log, as mod_wsgi does it: a group defined inside a `<VirtualHost>` with an
/// `ErrorLog` of its own gets that log (the parent's descriptor, handed over by the spawner) as
/// stderr, so everything the process writes (its own lines, `wsgi.errors`, `sys.stderr`,
/// tracebacks, and C code writing to fd 2) lands there; other groups keep stderr, the main error
/// log. A group defined in a virtual host then logs through that server record (its `LogLevel`
/// and `ErrorLogFormat`; the spawner never opened logs, so its error log is set to stderr
/// here), a server-level group through the main server. Returns the server to log with.
///
/// # Safety
/// The process is single-threaded (server records are changed); `s` is the spawner's main
/// server.
unsafe fn take_error_log(g: &DaemonGroup, s: Server) -> Server {
    let fd = g.log_fd;
    let ok = if fd < 0 || fd == 2 {
        true
    } else {
        // SAFETY: `fd` is the descriptor the spawner kept for this process; dup2 onto stderr,
        // then the original is closed (the process holds the log once, as fd 2).
        unsafe {
            let ok = libc::dup2(fd, 2) == 2;
            if fd > 2 {
                libc::close(fd);
            }
            ok
        }
    };
    if g.global || !ok {
        return s;
    }
    // SAFETY: single-threaded (this function's contract); pconf is the pool of the
    // configuration generation the server records belong to.
    unsafe { g.defined_in.set_error_log_stderr(s.process_pconf()) };
    g.defined_in
}

/// The title `ps` shows (`display-name=`), if any.
fn show_title(g: &DaemonGroup) {
    if let Some(t) = &display_title(&g.opts) {
        set_title(t);
    }
}

/// Limits: `cpu-priority=`, then `memory-limit=` (RLIMIT_DATA) and `virtual-memory-limit=`
/// (RLIMIT_AS). Failures are ignored, as before.
fn limits(g: &DaemonGroup) {
    if let Some(p) = g.opts.cpu_priority {
        // SAFETY: plain syscall on this process.
        unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, p) };
    }
    for (res, v) in [(libc::RLIMIT_DATA, g.opts.memory_limit), (libc::RLIMIT_AS, g.opts.virtual_memory_limit)] {
        if let Some(v) = v {
            let l = libc::rlimit { rlim_cur: v as libc::rlim_t, rlim_max: v as libc::rlim_t };
            // SAFETY: `l` is a valid rlimit for the duration of the call.
            unsafe { libc::setrlimit(res, &l) };
        }
    }
}

/// Who the process runs as after [`identity`].
struct Identity {
    uid: u32,
    /// The user's name: the group's `user=` (None for a `#uid` without a passwd entry), else
    /// Apache's `User`.
    user_name: Option<CString>,
}

/// Identity: take the group's user/group, else Apache's User/Group (only root can switch; a
/// failure is fatal). Then die with the Apache parent: PR_SET_PDEATHSIG is set after the switch
/// (which clears it), and the parent is checked against the pid recorded before the fork, in
/// case it died before this point (then exit 0).
///
/// # Safety
/// Single-threaded child of the Apache parent, after configuration (Apache's User/Group set).
unsafe fn identity(g: &DaemonGroup) -> Identity {
    let name = &g.opts.name;
    let uid = g.uid.unwrap_or_else(unixd::user_id);
    let gid = g.gid.unwrap_or_else(unixd::group_id);
    let apache_user = unixd::user_name();
    // user= given: that user's groups (none for a `#uid` without a passwd entry), never
    // Apache User's.
    let user_name = if g.uid.is_some() { g.user_name.clone() } else { Some(apache_user) };
    // SAFETY: plain syscall.
    if unsafe { libc::geteuid() } == 0 {
        let t = Target { uid, gid, user_name: user_name.as_ref(), supplementary: &g.supplementary_gids };
        if let Err(e) = drop_to(&t) {
            fatal(name, &format!("dropping privileges to uid {uid} gid {gid}: {e}"));
        }
    }
    // SAFETY: plain process-control syscalls.
    let parent = unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
        libc::getppid()
    };
    if parent != g.parent_pid {
        host_log(
            LogLevel::Info,
            &wsgi_rs_core::coded!(
                "RWSGI0103",
                "Daemon process '{name}' (pid {}) shutting down: the Apache parent process is gone.",
                std::process::id()
            ),
        );
        // SAFETY: leaving the process without running Apache's atexit/pool code.
        unsafe { libc::_exit(0) };
    }
    Identity { uid, user_name }
}

/// Environment: the working directory, `umask=`, and LANG, LC_ALL, PYTHON_EGG_CACHE, and with
/// `user=` USER, LOGNAME and HOME. `home=` must exist (else fatal); a user's own home directory
/// (the default when user= is given) may not (nobody: /nonexistent), then `/` is used, with a
/// warning. Returns the home directory in use (None: unchanged).
///
/// # Safety
/// Single-threaded (changes the environment).
unsafe fn environment(g: &DaemonGroup, cfg: &ServerConfig, id: &Identity) -> Option<String> {
    let name = &g.opts.name;
    let mut home = g.opts.home.clone();
    if let Some(h) = &home {
        let c = CString::new(h.as_str()).unwrap_or_default();
        // SAFETY: `c` is a NUL-terminated path.
        if unsafe { libc::chdir(c.as_ptr()) } != 0 {
            fatal(name, &format!("chdir to home='{h}': {}", std::io::Error::last_os_error()));
        }
    } else if let (Some(_), Some(h)) = (g.uid, &g.user_home) {
        let c = CString::new(h.as_str()).unwrap_or_default();
        // SAFETY: `c` is a NUL-terminated path.
        if unsafe { libc::chdir(c.as_ptr()) } == 0 {
            home = Some(h.clone());
        } else {
            host_log(
                LogLevel::Warning,
                &wsgi_rs_core::coded!(
                    "RWSGI0107",
                    "Daemon process '{name}' cannot use the home directory '{h}' of its user ({}); using '/' (set home= to choose one).",
                    std::io::Error::last_os_error()
                ),
            );
            // SAFETY: a NUL-terminated literal path.
            unsafe { libc::chdir(c"/".as_ptr()) };
        }
    }
    if let Some(m) = g.opts.umask {
        // SAFETY: plain syscall.
        unsafe { libc::umask(m as libc::mode_t) };
    }
    // SAFETY: forwarded from this function's contract: no other thread reads the environment.
    let set = |k: &str, v: &str| unsafe { std::env::set_var(k, v) };
    if let Some(l) = &g.opts.lang {
        set("LANG", l);
    }
    if let Some(l) = &g.opts.locale {
        set("LC_ALL", l);
        // As mod_wsgi: the process locale too (Python starts with configure_locale=0 and keeps
        // it). A locale the system lacks leaves "C", with a warning.
        let c = CString::new(l.as_str()).unwrap_or_default();
        // SAFETY: single-threaded (this function's contract); `c` is NUL-terminated.
        if unsafe { libc::setlocale(libc::LC_ALL, c.as_ptr()) }.is_null() {
            host_log(
                LogLevel::Warning,
                &wsgi_rs_core::coded!(
                    "RWSGI0126",
                    "Daemon process '{name}' cannot set locale='{l}' (not installed?); the process locale stays 'C'."
                ),
            );
        }
    }
    // SAFETY: forwarded from this function's contract (single-threaded).
    unsafe { export_python_eggs(cfg) };
    if let Some(e) = &g.opts.python_eggs {
        set("PYTHON_EGG_CACHE", e);
    }
    if g.uid.is_some() {
        let u = id.user_name.as_ref().map_or_else(|| id.uid.to_string(), |n| n.to_string_lossy().into_owned());
        set("USER", &u);
        set("LOGNAME", &u);
        if let Some(h) = &g.user_home {
            set("HOME", h);
        }
    }
    home
}

/// Python: start the interpreter (`python-home=`, else WSGIPythonHome; `python-path=` plus the
/// home directory in use; failure is fatal), then import the group's preloaded scripts.
fn python(g: &DaemonGroup, cfg: &ServerConfig, home: Option<String>) {
    let name = &g.opts.name;
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
        // switch-interval= wins over the server-wide WSGISwitchInterval.
        switch_interval: g.opts.switch_interval().or(cfg.switch_interval),
        ..python_options(cfg)
    };
    // Service scripts (threads=0) may install signal handlers, as in mod_wsgi.
    let opts = InitOptions { restrict_signal: opts.restrict_signal && g.opts.threads > 0, ..opts };
    if let Err(e) = interp::initialize(&opts) {
        fatal(name, &wsgi_rs_core::coded!("RWSGI0102", "Python initialisation failed: {e}"));
    }
    if g.opts.threads == 0 {
        // The scripts are the process's work, run by `service` after start-up.
        return;
    }
    for p in &g.preload {
        preload(std::path::Path::new(&p.script), &p.callable, &p.app_group);
    }
}

/// threads=0 (mod_wsgi's service scripts): run the group's `WSGIImportScript`s on this main
/// thread, in order, then exit so the spawner starts the process again. The stop signals raise
/// `SystemExit` in the script (service.rs); the Apache parent's death arrives as SIGTERM
/// (PR_SET_PDEATHSIG). A script that ends within `QUICK_DEATH` seconds, other than by a stop
/// signal, exits with status 1 so the spawner waits before the next start (1, 2, 4 … 60 s)
/// instead of looping.
fn service(g: &DaemonGroup, index: usize, cfg: &ServerConfig) -> ! {
    let name = &g.opts.name;
    let pid = std::process::id();
    host_log(
        LogLevel::Info,
        &wsgi_rs_core::coded!(
            "RWSGI0100",
            "Daemon process '{name}' #{index} started (pid {pid}, threads=0: {} service script(s), socket '{}' not served).",
            g.preload.len(),
            g.socket_path.to_string_lossy()
        ),
    );
    let started = std::time::Instant::now();
    let mut end = ServiceEnd::Returned;
    if let Err(e) = service::install_exit_signals() {
        host_log(
            LogLevel::Info,
            &wsgi_rs_core::coded!(
                "RWSGI0165",
                "Daemon process '{name}' (pid {pid}) with threads=0 cannot install its stop signals: {e}"
            ),
        );
    }
    for p in &g.preload {
        end = service::run_service_script(std::path::Path::new(&p.script), &p.app_group);
        if end != ServiceEnd::Returned {
            break;
        }
    }
    let how = match end {
        ServiceEnd::Returned => "its service scripts returned",
        ServiceEnd::Exited => "SystemExit (a stop signal or sys.exit())",
        ServiceEnd::Failed => "a service script raised (traceback above)",
    };
    host_log(
        LogLevel::Info,
        &wsgi_rs_core::coded!(
            "RWSGI0165",
            "Daemon process '{name}' (pid {pid}) with threads=0 ends after {:.1} s: {how}.",
            started.elapsed().as_secs_f64()
        ),
    );
    let quick = started.elapsed() < Duration::from_secs(wsgi_rs_core::daemon::backoff::QUICK_DEATH);
    let status = if end != ServiceEnd::Exited && quick { 1 } else { 0 };
    if cfg.destroy_interpreter.unwrap_or(true) {
        let shutdown_timeout = g.opts.shutdown_timeout.max(1);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(shutdown_timeout));
            // SAFETY: ends the whole process, whatever finalisation is doing.
            unsafe { libc::_exit(status) };
        });
        interp::finalize();
    }
    // SAFETY: never return into Apache code from a daemon process.
    unsafe { libc::_exit(status) }
}

/// Serve: run the daemon loop (core::daemon) until a shutdown reason; if it stopped idle and
/// WSGIDestroyInterpreter is not Off, finalise Python (atexit handlers), bounded by
/// `shutdown-timeout=`. Then `_exit(0)`.
fn serve_and_exit(g: &DaemonGroup, index: usize, s: Server, cfg: &ServerConfig) -> ! {
    if g.opts.threads == 0 {
        service(g, index, cfg);
    }
    let apache_timeout = (s.timeout_us() / 1_000_000).max(1) as u64;
    let dc = DaemonConfig::from_options(
        &g.opts,
        index,
        g.socket_path.to_string_lossy().into_owned(),
        g.token,
        apache_timeout,
        mpm().version,
        g.parent_pid,
    );
    let shutdown_timeout = g.opts.shutdown_timeout.max(1);
    let (reason, idle) = serve(g.listen_fd, dc);
    // process_stopping subscribers, atexit handlers and finalisation, all bounded by
    // shutdown-timeout.
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(shutdown_timeout));
        // SAFETY: ends the whole process, whatever finalisation is doing.
        unsafe { libc::_exit(0) };
    });
    if reason != ShutdownReason::Deadlock {
        // With the GIL wedged nothing Python can run (mod_wsgi cannot publish it either).
        wsgi_rs_core::wsgi::process_stopping(reason.event_name());
    }
    if idle && cfg.destroy_interpreter.unwrap_or(true) {
        interp::finalize();
    }
    // SAFETY: never return into Apache code from a daemon process.
    unsafe { libc::_exit(0) }
}
