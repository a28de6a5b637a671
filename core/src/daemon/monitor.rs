//! The daemon's main thread: checks the recycling conditions a few times a second and runs the
//! graceful shutdown (stop accepting, wait for running requests, give up after graceful-timeout).
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use super::config::{DaemonConfig, ShutdownReason};
use super::state::{State, now_us};
use crate::hostlog::host_log;
use crate::wire::{self, Frame};
use crate::wsgi::LogLevel;

static SIGNALLED: AtomicBool = AtomicBool::new(false);

static GRACEFUL: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_sig: libc::c_int) {
    SIGNALLED.store(true, Ordering::Release);
}

extern "C" fn on_usr1(_sig: libc::c_int) {
    GRACEFUL.store(true, Ordering::Release);
}

fn install_signals() {
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        let h = on_term as *const () as libc::sighandler_t;
        libc::signal(libc::SIGTERM, h);
        libc::signal(libc::SIGINT, h);
        // Prefork signals its whole process group on restarts (SIGHUP): stop like on SIGTERM.
        libc::signal(libc::SIGHUP, h);
        libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

fn secs(n: u64) -> i64 {
    (n as i64).saturating_mul(1_000_000)
}

/// Answers 504 to a request stuck past request-timeout and closes its connection.
fn abandon(cfg: &DaemonConfig, state: &State, i: usize, elapsed_us: i64) {
    let slot = &state.slots[i];
    slot.abandoned.store(true, Ordering::Release);
    host_log(
        LogLevel::Error,
        &crate::coded!(
            "RWSGI0115",
            "Request in daemon process '{}' (pid {}) exceeded request-timeout={} s after {:.1} s; answering 504 and recycling the process.",
            cfg.group,
            std::process::id(),
            cfg.request_timeout,
            elapsed_us as f64 / 1e6
        ),
    );
    if let Some((stream, head_sent)) = slot.conn.lock().unwrap_or_else(|e| e.into_inner()).take() {
        if !head_sent.load(Ordering::Acquire) {
            let mut buf = Vec::new();
            wire::encode(&Frame::ResponseError { code: 504, message: "request-timeout expired".into() }, &mut buf);
            let _ = std::io::Write::write_all(&mut &stream, &buf);
        }
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Last time (µs) the GIL probe thread managed to take the GIL.
static GIL_OK_US: AtomicI64 = AtomicI64::new(0);
/// `true` once the probe must never take the GIL again (the interpreter is about to be
/// finalised). The mutex makes "check, then attach" atomic against `stop_gil_probe`; the probe
/// runs no Python code while holding it, and the monitor never holds the GIL.
static PROBE_STOPPED: std::sync::Mutex<bool> = std::sync::Mutex::new(false);

fn stop_gil_probe() {
    *PROBE_STOPPED.lock().unwrap_or_else(|e| e.into_inner()) = true;
}

/// deadlock-timeout: a thread that takes the GIL once a second. If it cannot for too long, the
/// interpreter is wedged (a C extension holding the GIL forever) and the process is replaced.
fn start_gil_probe() {
    GIL_OK_US.store(now_us(), Ordering::Release);
    let _ = std::thread::Builder::new().name("wsgi-gil-probe".into()).spawn(|| {
        crate::wsgi::interp::prime_thread();
        loop {
            {
                let stopped = PROBE_STOPPED.lock().unwrap_or_else(|e| e.into_inner());
                if *stopped {
                    return;
                }
                pyo3::Python::attach(|_py| ());
            }
            GIL_OK_US.store(now_us(), Ordering::Release);
            std::thread::sleep(Duration::from_secs(1));
        }
    });
}

pub fn monitor(cfg: &DaemonConfig, state: &State) -> (ShutdownReason, bool) {
    install_signals();
    if cfg.deadlock_timeout > 0 {
        start_gil_probe();
    }
    let ppid = cfg.parent_pid;
    let mut stuck = 0usize;
    let reason = loop {
        state.wait(Duration::from_millis(100));
        let now = now_us();
        if SIGNALLED.load(Ordering::Acquire) {
            break ShutdownReason::Signal;
        }
        if GRACEFUL.load(Ordering::Acquire) {
            break ShutdownReason::GracefulSignal;
        }
        // SAFETY: as above.
        if unsafe { libc::getppid() } != ppid {
            break ShutdownReason::ParentGone;
        }
        if cfg.maximum_requests > 0 && state.served.load(Ordering::Acquire) >= cfg.maximum_requests {
            break ShutdownReason::MaximumRequests;
        }
        if cfg.restart_interval > 0 && now - state.started_us >= secs(cfg.restart_interval) {
            break ShutdownReason::RestartInterval;
        }
        if cfg.inactivity_timeout > 0
            && state.active.load(Ordering::Acquire) == 0
            && now - state.last_activity_us.load(Ordering::Acquire) >= secs(cfg.inactivity_timeout)
        {
            break ShutdownReason::InactivityTimeout;
        }
        if state.script_changed.load(Ordering::Acquire) {
            break ShutdownReason::ScriptChanged;
        }
        if state.internal_error.load(Ordering::Acquire) {
            break ShutdownReason::InternalError;
        }
        let failing = crate::wsgi::failing_since_us();
        if cfg.startup_timeout > 0 && failing > 0 && now - failing >= secs(cfg.startup_timeout) {
            break ShutdownReason::StartupTimeout;
        }
        if cfg.deadlock_timeout > 0 && now - GIL_OK_US.load(Ordering::Acquire) >= secs(cfg.deadlock_timeout) {
            break ShutdownReason::Deadlock;
        }
        if cfg.request_timeout > 0 {
            for (i, slot) in state.slots.iter().enumerate() {
                let start = slot.start_us.load(Ordering::Acquire);
                if start > 0 && now - start >= secs(cfg.request_timeout) && !slot.abandoned.load(Ordering::Acquire) {
                    abandon(cfg, state, i, now - start);
                    stuck += 1;
                }
            }
            if stuck > 0 {
                break ShutdownReason::RequestTimeout;
            }
        }
    };
    // No thread accepts from here on; one that already did (or is about to, having counted
    // itself in `active` first) is waited for below. See `server::worker`.
    state.stopping.store(true, Ordering::SeqCst);
    if reason != ShutdownReason::Deadlock {
        // With the GIL wedged the probe is stuck inside attach: leave it alone (no
        // finalisation follows a deadlock anyway, see the graceful wait below).
        stop_gil_probe();
    }
    host_log(
        LogLevel::Info,
        &crate::coded!(
            "RWSGI0103",
            "Daemon process '{}' (pid {}) shutting down: {}; {} request(s) served.",
            cfg.group,
            std::process::id(),
            reason.describe(),
            state.served.load(Ordering::Acquire)
        ),
    );
    // Apache gives its subprocesses 3 s after SIGTERM before SIGKILL: stay inside that.
    let grace = match reason {
        ShutdownReason::Signal => 2_500_000,
        ShutdownReason::ParentGone | ShutdownReason::Deadlock => 0,
        _ => secs(cfg.graceful_timeout),
    };
    let deadline = now_us() + grace;
    loop {
        let busy = state.active.load(Ordering::SeqCst).saturating_sub(stuck);
        if busy == 0 {
            // After a deadlock the GIL cannot be had: never try to finalise.
            return (reason, stuck == 0 && reason != ShutdownReason::Deadlock);
        }
        if now_us() >= deadline {
            host_log(
                LogLevel::Info,
                &crate::coded!(
                    "RWSGI0106",
                    "Daemon process '{}' (pid {}) stops with {busy} request(s) still running (graceful time over).",
                    cfg.group,
                    std::process::id()
                ),
            );
            return (reason, false);
        }
        state.wait(Duration::from_millis(50));
    }
}
