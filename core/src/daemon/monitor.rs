//! The daemon's main thread: sleeps on the process's event channel until the earliest moment a
//! recycling condition could be reached (`decide`), an event from a worker, or a signal; checks
//! the conditions, and runs the graceful shutdown (stop accepting, wait for running requests,
//! give up after graceful-timeout).
//!
//! Wake-ups: a signal handler may not touch a channel (it locks and allocates), so it sets an
//! atomic and writes one byte to a self-pipe; a relay thread blocked on the pipe turns the byte
//! into `Event::Signal`. Workers send `Event::Recycle` when they see a recycling condition and
//! `Event::Finished` when a request of a stopping process ends. Time-bound conditions are met by
//! the receive timeout. With nothing time-bound configured, an idle process wakes once every
//! `BACKSTOP` only, for the parent check (which normally never fires: the process also gets
//! SIGTERM as its parent-death signal, see src/daemon/process/child.rs).
//!
//! Not moved to events: the requests' own bookkeeping (`State`'s atomics: `active`, `served`,
//! slot start times). The accept/stop hand-shake needs `active` and `stopping` to be
//! sequentially consistent with each other, which a queue cannot give, and a deadline never
//! moves earlier behind the monitor's back (see `decide`), so reading the atomics at each
//! wake-up is enough and costs the request path no send at all. The GIL probe keeps its own
//! one-second sleep: it must try the GIL periodically, that is what it measures.
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::config::{DaemonConfig, ShutdownReason};
use super::decide::{SlotView, Snapshot, Verdict, decide};
use super::state::{Event, State, now_us};
use crate::hostlog::host_log;
use crate::wire::{self, Frame};
use crate::wsgi::LogLevel;

static SIGNALLED: AtomicBool = AtomicBool::new(false);

static GRACEFUL: AtomicBool = AtomicBool::new(false);

/// Write end of the self-pipe the signal handlers poke (-1: none, see `start_signal_relay`).
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

/// Longest sleep when no condition is time-bound (the parent check's period). Without the
/// signal relay (no pipe could be made) signals are seen by polling, every `SIGNAL_POLL`.
const BACKSTOP: Duration = Duration::from_secs(1);
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// The shortest sleep: a deadline met to the microsecond by a timer that rounds differently
/// must not turn into a busy loop.
const MIN_SLEEP: Duration = Duration::from_millis(1);

fn poke_monitor() {
    let fd = SIGNAL_PIPE.load(Ordering::Acquire);
    if fd >= 0 {
        // SAFETY: write(2) and errno access are async-signal-safe; errno is restored so the
        // interrupted code does not see ours. The pipe is non-blocking: when full, a wake-up is
        // already pending and the byte is not needed.
        unsafe {
            let errno = libc::__errno_location();
            let saved = *errno;
            libc::write(fd, [1u8].as_ptr().cast(), 1);
            *errno = saved;
        }
    }
}

extern "C" fn on_term(_sig: libc::c_int) {
    SIGNALLED.store(true, Ordering::Release);
    poke_monitor();
}

extern "C" fn on_usr1(_sig: libc::c_int) {
    GRACEFUL.store(true, Ordering::Release);
    poke_monitor();
}

/// The self-pipe and the thread relaying its bytes to the monitor as `Event::Signal`. `false`
/// if it could not be set up (the monitor then polls the signal flags).
fn start_signal_relay(tx: Sender<Event>) -> bool {
    let mut fds = [-1; 2];
    // SAFETY: pipe2 fills the two descriptors of our array; both are close-on-exec (a program
    // the application runs must not inherit them) and the write end is non-blocking (never
    // block in a signal handler).
    let ok = unsafe {
        libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) == 0 && libc::fcntl(fds[1], libc::F_SETFL, libc::O_NONBLOCK) == 0
    };
    if !ok {
        for fd in fds.into_iter().filter(|&fd| fd >= 0) {
            // SAFETY: our own descriptors, not published anywhere.
            unsafe { libc::close(fd) };
        }
        return false;
    }
    let reader = fds[0];
    let spawned = std::thread::Builder::new().name("wsgi-signals".into()).spawn(move || {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: reading into our buffer from the pipe's read end, which this thread owns.
            let n = unsafe { libc::read(reader, buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            // The monitor returned (no receiver): the process is ending, nothing to relay.
            if n <= 0 || tx.send(Event::Signal).is_err() {
                return;
            }
        }
    });
    if spawned.is_err() {
        // SAFETY: our own descriptors; the thread that would have used the read end never ran.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        return false;
    }
    SIGNAL_PIPE.store(fds[1], Ordering::Release);
    true
}

fn install_signals() {
    // SAFETY: the handlers only store to an atomic and write(2) to a pipe (async-signal-safe).
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

/// Reads everything `decide` looks at.
fn snapshot(cfg: &DaemonConfig, state: &State) -> Snapshot {
    Snapshot {
        now: now_us(),
        signalled: SIGNALLED.load(Ordering::Acquire),
        graceful: GRACEFUL.load(Ordering::Acquire),
        // SAFETY: getppid has no preconditions.
        parent_gone: unsafe { libc::getppid() } != cfg.parent_pid,
        served: state.served.load(Ordering::Acquire),
        active: state.active.load(Ordering::Acquire),
        started_us: state.started_us,
        last_activity_us: state.last_activity_us.load(Ordering::Acquire),
        script_changed: state.script_changed.load(Ordering::Acquire),
        internal_error: state.internal_error.load(Ordering::Acquire),
        failing_since_us: crate::wsgi::failing_since_us(),
        gil_ok_us: GIL_OK_US.load(Ordering::Acquire),
        slots: if cfg.request_timeout > 0 {
            state
                .slots
                .iter()
                .map(|s| SlotView {
                    start_us: s.start_us.load(Ordering::Acquire),
                    abandoned: s.abandoned.load(Ordering::Acquire),
                })
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// How long to sleep for a wake-up `until` (µs since the epoch) seen at `now`, at most `cap`.
fn sleep_for(until: Option<i64>, now: i64, cap: Duration) -> Duration {
    let d = until.map_or(cap, |t| Duration::from_micros(t.saturating_sub(now).max(0) as u64).min(cap));
    d.max(MIN_SLEEP)
}

pub fn monitor(cfg: &DaemonConfig, state: &State, events: &Receiver<Event>) -> (ShutdownReason, bool) {
    let cap = if start_signal_relay(state.sender()) { BACKSTOP } else { SIGNAL_POLL };
    install_signals();
    if cfg.deadlock_timeout > 0 {
        start_gil_probe();
    }
    let mut stuck = 0usize;
    let reason = loop {
        let snap = snapshot(cfg, state);
        match decide(cfg, &snap) {
            Verdict::Stop(r) => break r,
            Verdict::Abandon(slots) => {
                for i in slots {
                    let start = snap.slots[i].start_us;
                    abandon(cfg, state, i, snap.now - start);
                    stuck += 1;
                }
                break ShutdownReason::RequestTimeout;
            }
            Verdict::SleepUntil(until) => {
                // Which event woke us does not matter: the next snapshot reads them all.
                match events.recv_timeout(sleep_for(until, snap.now, cap)) {
                    Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                    // Cannot happen (`state` holds a sender); never spin if it did.
                    Err(RecvTimeoutError::Disconnected) => std::thread::sleep(cap),
                }
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
        _ => (cfg.graceful_timeout as i64).saturating_mul(1_000_000),
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
        // A stopping process's workers send `Event::Finished` as each request ends.
        let left = Duration::from_micros(deadline.saturating_sub(now_us()).max(0) as u64);
        if let Err(RecvTimeoutError::Disconnected) = events.recv_timeout(left.max(MIN_SLEEP)) {
            std::thread::sleep(MIN_SLEEP);
        }
    }
}
