//! Process life cycle hooks: version banner (post_config) and Python start/stop in each Apache
//! child (child_init, child pool cleanup). The root parent never starts Python.
//!
//! Finalisation contract (WSGIDestroyInterpreter On, the default): Python is finalised, and its
//! atexit handlers run, from the child pool's cleanup when the child exits *normally*. Under the
//! event/worker MPMs that is every exit: the parent asks the child to leave through the pipe of
//! death, and the child's main thread joins the workers and destroys the pool outside any
//! signal handler. The SIGTERMs the parent sends while it waits (16 ms after asking, then at 3,
//! 5 and 7 s) only set a flag in the child (the handler it inherited from the parent), so a long
//! finalisation runs to its end; Apache's SIGKILL at 9 s is the bound. Under prefork
//! (any MPM without threads) a child leaving for a graceful restart, an idle-child reap or
//! MaxConnectionsPerChild also exits from its main loop; but SIGTERM/SIGHUP (`-k stop`,
//! `-k restart`, the parent's shutdown) run `just_die` -> `clean_child_exit` -> pool destroy
//! *inside the signal handler*, possibly in the middle of a request that holds the GIL (taking
//! it again there deadlocks the child until Apache SIGKILLs it) or of malloc. So on such MPMs
//! the two handlers are wrapped (see [`guard_exit_signals`]): while a wrapped handler runs, the
//! cleanup does nothing and the process exits without Python's finalisation or atexit handlers.
// The life-cycle hooks here are Apache's callbacks: each wraps its pool and server in `Pool` /
// `Server` at the top and runs a safe body (the daemon parent and spawner still take the raw
// records).
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

use wsgi_rs_core::wsgi::interp;
use wsgi_rs_core::wsgi::{LogLevel, log};

use crate::apache::cleanup::CleanupIn;
use crate::apache::guard::guard;
use crate::apache::log::{host_log, set_main_server, slog, startup_error};
use crate::apache::mpm::mpm;
use crate::apache::pool::Pool;
use crate::apache::server::Server;
use crate::apache::status::Status;
use crate::daemon::parent::supervisor;
use crate::daemon::registry::{registry, server_name, set_child_registry};
use crate::directives::config::server_config;
use crate::directives::python::{PYTHON_VERSION, export_python_eggs, python_options};
use crate::ffi;

/// # Safety
/// Called by Apache only, with live pools and configured server records.
pub unsafe extern "C" fn post_config(
    pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) -> c_int {
    guard("post_config hook", Status::INTERNAL_SERVER_ERROR.raw(), || {
        // SAFETY: Apache's configuration pool and main server of this generation, used during
        // the call.
        let (pconf, s) = unsafe { (Pool::from_raw(pconf), Server::from_raw(s)) };
        post_config_body(pconf, s).raw()
    })
}

fn post_config_body(pconf: Pool, s: Server) -> Status {
    Server::add_version_component(
        pconf,
        &format!("mod_wsgi_rs/{} Python/{}", env!("CARGO_PKG_VERSION"), PYTHON_VERSION),
    );
    // SAFETY: this generation's pool and main server; post_config runs in the parent.
    if let Err(e) = unsafe { supervisor::start_groups(pconf, s) } {
        slog(s, LogLevel::Error, &e);
        return Status::INTERNAL_SERVER_ERROR;
    }
    Status::OK
}

/// check_config (also run by `apachectl configtest`): every group used is defined and
/// reachable from where it is used; preload lists are attached to their groups.
///
/// # Safety
/// Called by Apache only, with live pools and configured server records.
pub unsafe extern "C" fn check_config(
    pconf: *mut ffi::apr_pool_t,
    _plog: *mut ffi::apr_pool_t,
    _ptemp: *mut ffi::apr_pool_t,
    s: *mut ffi::server_rec,
) -> c_int {
    guard("check_config hook", Status::INTERNAL_SERVER_ERROR.raw(), || {
        // SAFETY: Apache's configuration pool and main server of this generation, used during
        // the call.
        let (pconf, s) = unsafe { (Pool::from_raw(pconf), Server::from_raw(s)) };
        check_config_body(pconf, s).raw()
    })
}

fn check_config_body(pconf: Pool, s: Server) -> Status {
    // SAFETY: the registry of this configuration generation.
    let reg = unsafe { registry(pconf) };
    let mut errors = Vec::new();
    for r in &reg.refs {
        match reg.find(&r.name) {
            None => errors.push(format!(
                "{} at {}:{}: no WSGIDaemonProcess group called '{}' is defined", r.directive, r.file, r.line, r.name
            )),
            Some(g) if !g.global && server_name(g.defined_in) != server_name(r.server) => errors.push(format!(
                "{} at {}:{}: daemon process group '{}' is defined inside another virtual host ('{}') and can only be used there",
                r.directive, r.file, r.line, r.name, server_name(g.defined_in)
            )),
            Some(_) => {}
        }
    }
    let imports = std::mem::take(&mut reg.imports);
    for (group, p) in imports {
        if let Some(g) = reg.groups.iter_mut().find(|g| g.opts.name == group)
            && !g.preload.iter().any(|q| q.script == p.script && q.app_group == p.app_group)
        {
            g.preload.push(p);
        }
    }
    if errors.is_empty() {
        // The process the parent exec'd to fork daemon processes from stops here, before
        // any module opens logs or loads keys (spawner.rs); in any other process this
        // returns at once.
        // SAFETY: this generation's configuration, read by this single-threaded process.
        unsafe { crate::daemon::process::spawner::become_spawner_if_asked(pconf, s) };
        return Status::OK;
    }
    for e in &errors {
        startup_error(s, &format!("mod_wsgi_rs: {e}"));
    }
    Status::INTERNAL_SERVER_ERROR
}

/// How many SIGTERM/SIGHUP handlers (wrapped by [`guard_exit_signals`]) are running now, on any
/// thread. Non-zero: the child pool is being destroyed from a signal handler.
static IN_EXIT_SIGNAL: AtomicUsize = AtomicUsize::new(0);
/// The handlers Apache installed for SIGTERM and SIGHUP before child_init (`sa_sigaction` as an
/// address, 0 = not wrapped) and whether they take SA_SIGINFO arguments.
static PREV_TERM: AtomicUsize = AtomicUsize::new(0);
static PREV_HUP: AtomicUsize = AtomicUsize::new(0);
static PREV_TERM_INFO: AtomicUsize = AtomicUsize::new(0);
static PREV_HUP_INFO: AtomicUsize = AtomicUsize::new(0);

fn prev_slots(sig: c_int) -> Option<(&'static AtomicUsize, &'static AtomicUsize)> {
    match sig {
        libc::SIGTERM => Some((&PREV_TERM, &PREV_TERM_INFO)),
        libc::SIGHUP => Some((&PREV_HUP, &PREV_HUP_INFO)),
        _ => None,
    }
}

/// The wrapper: marks "inside an exit signal", then calls Apache's handler (prefork's
/// `just_die`, which normally never returns). Async-signal-safe: lock-free atomics and a call,
/// nothing that allocates, locks or can panic.
extern "C" fn on_exit_signal(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let Some((prev, takes_info)) = prev_slots(sig) else { return };
    let h = prev.load(Ordering::Acquire);
    if h == 0 {
        return;
    }
    IN_EXIT_SIGNAL.fetch_add(1, Ordering::SeqCst);
    if takes_info.load(Ordering::Acquire) != 0 {
        // SAFETY: `h` is the sa_sigaction of a handler installed with SA_SIGINFO (saved by
        // guard_exit_signals), called with the arguments the kernel gave us.
        let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) = unsafe { std::mem::transmute(h) };
        f(sig, info, ctx);
    } else {
        // SAFETY: `h` is a plain sa_handler (not SIG_DFL/SIG_IGN, checked when saved).
        let f: extern "C" fn(c_int) = unsafe { std::mem::transmute(h) };
        f(sig);
    }
    IN_EXIT_SIGNAL.fetch_sub(1, Ordering::SeqCst);
}

/// On an MPM without threads (prefork, itk), wraps the SIGTERM and SIGHUP handlers the MPM set
/// before child_init so [`finalize_python`] can tell that it runs inside one of them. A handler
/// that is SIG_DFL/SIG_IGN is left alone (no pool cleanup runs then). An application that
/// replaces these handlers itself (WSGIRestrictSignal Off) replaces the wrapper too.
fn guard_exit_signals() {
    for sig in [libc::SIGTERM, libc::SIGHUP] {
        let Some((prev, takes_info)) = prev_slots(sig) else { continue };
        // SAFETY: sigaction with a zeroed, then filled, struct; the process is still
        // single-threaded (child_init), so nothing races with the swap.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
                continue;
            }
            let h = old.sa_sigaction;
            if h == libc::SIG_DFL || h == libc::SIG_IGN || h == on_exit_signal as *const () as usize {
                continue;
            }
            prev.store(h, Ordering::Release);
            takes_info.store(usize::from(old.sa_flags & libc::SA_SIGINFO != 0), Ordering::Release);
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_exit_signal as *const () as usize;
            new.sa_flags = (old.sa_flags & !libc::SA_RESETHAND) | libc::SA_SIGINFO;
            // Keep Apache's mask and also hold off the other exit signal while one runs.
            new.sa_mask = old.sa_mask;
            libc::sigaddset(&mut new.sa_mask, libc::SIGTERM);
            libc::sigaddset(&mut new.sa_mask, libc::SIGHUP);
            if libc::sigaction(sig, &new, std::ptr::null_mut()) != 0 {
                prev.store(0, Ordering::Release);
            }
        }
    }
}

/// Child pool cleanup: finalise Python, unless the pool is being destroyed from inside a
/// SIGTERM/SIGHUP handler (prefork, see the module comment): then do nothing at all, since
/// nothing Python does is async-signal-safe; the process exits right after.
fn finalize_python() {
    if IN_EXIT_SIGNAL.load(Ordering::SeqCst) != 0 {
        return;
    }
    guard("child exit", (), interp::finalize);
}

/// # Safety
/// Called by Apache only, with live pools and configured server records.
pub unsafe extern "C" fn child_init(pchild: *mut ffi::apr_pool_t, s: *mut ffi::server_rec) {
    guard("child_init hook", (), || {
        // SAFETY: the child pool and the main server Apache passed to child_init, configured,
        // of this generation; the child pool lives until the child exits.
        let (pchild, server) = unsafe { (Pool::from_raw(pchild), Server::from_raw(s)) };
        child_init_body(pchild, server)
    })
}

fn child_init_body(pchild: Pool, server: Server) {
    set_main_server(server.as_ptr());
    log::set_host_logger(host_log);
    std::panic::set_hook(Box::new(|info| {
        host_log(LogLevel::Error, &wsgi_rs_core::coded!("RWSGI0040", "internal error (panic): {info}"))
    }));
    // SAFETY: configured (our create/merge_server_config ran); configuration is over.
    let cfg = unsafe { server_config(server) };
    // SAFETY: the process pconf is the pool of this generation's registry.
    let reg = unsafe { registry(server.process_pconf()) };
    // Apache children talk to daemons by path; they need no listening socket.
    for g in &reg.groups {
        if g.listen_fd >= 0 {
            // SAFETY: the parent's listening socket, inherited, unused in this child.
            unsafe { libc::close(g.listen_fd) };
        }
    }
    set_child_registry(reg as *mut _);
    // Auth scripts run in the Apache children: Python starts there even when embedded
    // applications are refused (RWSGI0016 still applies to them).
    if cfg.restrict_embedded == Some(true) && !reg.auth_scripts {
        return;
    }
    // SAFETY: child_init runs before the MPM starts this child's worker threads.
    unsafe { export_python_eggs(cfg) };
    if cfg.server_metrics == Some(true) {
        // WSGIServerMetrics On: mod_wsgi.server_metrics() reads this child's scoreboard.
        wsgi_rs_core::wsgi::server_metrics::set_reader(crate::apache::scoreboard::read);
    }
    let opts = python_options(cfg);
    match interp::initialize(&opts) {
        Ok(banner) => slog(
            server,
            LogLevel::Info,
            &wsgi_rs_core::coded!(
                "RWSGI0001",
                "Python initialised in Apache child pid {}: {banner}",
                std::process::id()
            ),
        ),
        Err(e) => slog(
            server,
            LogLevel::Error,
            &wsgi_rs_core::coded!(
                "RWSGI0002",
                "Python initialisation failed in Apache child pid {}: {e}",
                std::process::id()
            ),
        ),
    }
    // Embedded preloading (WSGIImportScript / WSGIScriptAlias with process-group=%{GLOBAL}):
    // before the MPM starts this child's worker threads, as mod_wsgi does.
    if interp::is_initialized() {
        for p in &reg.embedded_preload {
            guard("embedded preload", (), || {
                wsgi_rs_core::wsgi::preload(std::path::Path::new(&p.script), &p.callable, &p.app_group)
            });
        }
    }
    if cfg.destroy_interpreter.unwrap_or(true) {
        if !mpm().threaded {
            guard_exit_signals();
        }
        // Runs in this thread when the child exits.
        pchild.on_cleanup(CleanupIn::Pool, finalize_python);
    }
}
