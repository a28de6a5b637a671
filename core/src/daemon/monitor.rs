//! The daemon's main thread: sleeps on the process's event channel until the earliest moment a
//! recycling condition could be reached (`decide`), an event from a worker, or a signal; checks
//! the conditions, and runs the graceful shutdown (stop accepting, wait for running requests,
//! give up after graceful-timeout).
//!
//! Wake-ups: a signal handler may not touch a channel (it locks and allocates), so it sets an
//! atomic and wakes a relay thread through a futex word (`SIGNAL_SEQ`); the thread sends
//! `Event::Signal`. Workers send `Event::Recycle` when they see a recycling condition and
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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::config::{DaemonConfig, ShutdownReason};
use super::decide::{SlotView, Snapshot, Verdict, decide, grace_us};
use super::interrupt::{Interrupter, Job};
use super::state::{Event, State, now_us};
use crate::hostlog::host_log;
use crate::wire::{self, Frame};
use crate::wsgi::LogLevel;

static SIGNALLED: AtomicBool = AtomicBool::new(false);

static GRACEFUL: AtomicBool = AtomicBool::new(false);

/// SIGXCPU arrived: the process used cpu-time-limit seconds of CPU.
static CPU_LIMIT: AtomicBool = AtomicBool::new(false);

/// Bumped by the signal handlers, then woken with FUTEX_WAKE; the relay thread sleeps on it
/// with FUTEX_WAIT. A futex word rather than a self-pipe: the daemon keeps no descriptor of its
/// own beside its listening socket (descriptor hygiene is tested), and nothing to close on fork
/// or exec. Both the atomic add and the raw futex syscall are async-signal-safe.
static SIGNAL_SEQ: AtomicU32 = AtomicU32::new(0);

/// Longest sleep when no condition is time-bound (the parent check's period). Without the
/// signal relay (its thread could not start) signals are seen by polling, every `SIGNAL_POLL`.
const BACKSTOP: Duration = Duration::from_secs(1);
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// The shortest sleep: a deadline met to the microsecond by a timer that rounds differently
/// must not turn into a busy loop.
const MIN_SLEEP: Duration = Duration::from_millis(1);

fn futex(op: libc::c_int, val: u32) -> libc::c_long {
    // SAFETY: FUTEX_WAIT/FUTEX_WAKE on a static word (always valid, 4-byte aligned), no timeout,
    // no second address; a raw syscall takes no user-space lock (async-signal-safe).
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            SIGNAL_SEQ.as_ptr(),
            op | libc::FUTEX_PRIVATE_FLAG,
            val,
            std::ptr::null::<libc::timespec>(),
        )
    }
}

fn poke_monitor() {
    SIGNAL_SEQ.fetch_add(1, Ordering::Release);
    // SAFETY: errno is thread-local and always valid; it is restored so the interrupted code
    // does not see ours.
    unsafe {
        let errno = libc::__errno_location();
        let saved = *errno;
        futex(libc::FUTEX_WAKE, 1); // one waiter: the relay thread
        *errno = saved;
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

extern "C" fn on_xcpu(_sig: libc::c_int) {
    CPU_LIMIT.store(true, Ordering::Release);
    poke_monitor();
}

/// The thread relaying the signal handlers' pokes to the monitor as `Event::Signal`. `false`
/// if it could not start (the monitor then polls the signal flags).
fn start_signal_relay(tx: Sender<Event>) -> bool {
    let spawned = std::thread::Builder::new().name("wsgi-signals".into()).spawn(move || {
        let mut seen = SIGNAL_SEQ.load(Ordering::Acquire);
        loop {
            // Returns at once if the word already moved past `seen` (no lost poke), else on a
            // wake or an interruption; either way the word tells.
            futex(libc::FUTEX_WAIT, seen);
            let now = SIGNAL_SEQ.load(Ordering::Acquire);
            if now != seen {
                seen = now;
                // The monitor returned (no receiver): the process is ending, nothing to relay.
                if tx.send(Event::Signal).is_err() {
                    return;
                }
            }
        }
    });
    spawned.is_ok()
}

fn install_signals() {
    // SAFETY: the handlers only touch atomics and make a futex syscall (async-signal-safe).
    unsafe {
        let h = on_term as *const () as libc::sighandler_t;
        libc::signal(libc::SIGTERM, h);
        libc::signal(libc::SIGINT, h);
        // Prefork signals its whole process group on restarts (SIGHUP): stop like on SIGTERM.
        libc::signal(libc::SIGHUP, h);
        libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t);
        libc::signal(libc::SIGXCPU, on_xcpu as *const () as libc::sighandler_t);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// cpu-time-limit: RLIMIT_CPU, soft at the limit (SIGXCPU, then once a second, handled above:
/// a graceful restart), hard one second plus shutdown-timeout later (SIGKILL from the kernel if
/// the graceful stop did not end the process), as mod_wsgi sets it. Set only once the handler
/// is in place; the kernel counts the CPU time since the process started, start-up included.
fn set_cpu_limit(cfg: &DaemonConfig) {
    if cfg.cpu_time_limit == 0 {
        return;
    }
    let soft = cfg.cpu_time_limit;
    let l =
        libc::rlimit { rlim_cur: soft as libc::rlim_t, rlim_max: (soft + 1 + cfg.shutdown_timeout) as libc::rlim_t };
    // SAFETY: `l` is a valid rlimit for the duration of the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_CPU, &l) } != 0 {
        host_log(
            LogLevel::Info,
            &crate::coded!(
                "RWSGI0103",
                "Daemon process '{}' (pid {}) runs without cpu-time-limit={}: setrlimit failed: {}",
                cfg.group,
                std::process::id(),
                soft,
                std::io::Error::last_os_error()
            ),
        );
    }
}

/// Answers 504 to a request stuck past request-timeout (and past interrupt-timeout after its
/// interruption, when `interrupted`) and closes its connection.
fn abandon(cfg: &DaemonConfig, state: &State, i: usize, elapsed_us: i64, interrupted: bool) {
    let slot = &state.slots[i];
    slot.abandoned.store(true, Ordering::Release);
    let unwound = if interrupted {
        format!(" and did not unwind within interrupt-timeout={} s of its interruption", cfg.interrupt_timeout)
    } else {
        String::new()
    };
    host_log(
        LogLevel::Error,
        &crate::coded!(
            "RWSGI0115",
            "Request in daemon process '{}' (pid {}) exceeded request-timeout={} s after {:.1} s{unwound}; answering 504 and recycling the process.",
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
            let _ = std::io::Write::write_all(&mut &*stream, &buf);
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
        cpu_limit: CPU_LIMIT.load(Ordering::Acquire),
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
                .map(|s| {
                    let start_us = s.start_us.load(Ordering::Acquire);
                    // An interruption counts only for the request it was made for.
                    let for_this = start_us > 0 && s.interrupted_start.load(Ordering::Acquire) == start_us;
                    SlotView {
                        start_us,
                        abandoned: s.abandoned.load(Ordering::Acquire),
                        injected_us: if for_this { s.injected_us.load(Ordering::Acquire) } else { 0 },
                    }
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

pub fn monitor(cfg: &Arc<DaemonConfig>, state: &Arc<State>, events: &Receiver<Event>) -> (ShutdownReason, bool) {
    let cap = if start_signal_relay(state.sender()) { BACKSTOP } else { SIGNAL_POLL };
    install_signals();
    set_cpu_limit(cfg);
    if cfg.deadlock_timeout > 0 {
        start_gil_probe();
    }
    let interrupter = if cfg.request_timeout > 0 && cfg.interrupt_timeout > 0 {
        Interrupter::start(cfg.clone(), state.clone())
    } else {
        None
    };
    let mut stuck = 0usize;
    let reason = loop {
        let snap = snapshot(cfg, state);
        match decide(cfg, &snap) {
            Verdict::Stop(r) => break r,
            Verdict::Abandon(slots) => {
                for i in slots {
                    let start = snap.slots[i].start_us;
                    abandon(cfg, state, i, snap.now - start, snap.slots[i].injected_us > 0);
                    stuck += 1;
                }
                break ShutdownReason::RequestTimeout;
            }
            Verdict::Interrupt(slots) => {
                for i in slots {
                    let (slot, start_us) = (&state.slots[i], snap.slots[i].start_us);
                    // The interrupt-timeout clock starts now, whether or not the injection lands.
                    slot.injected_us.store(snap.now, Ordering::Release);
                    // SeqCst: the worker reads it after resetting its start (see `server`).
                    slot.interrupted_start.store(start_us, Ordering::SeqCst);
                    if let Some(it) = &interrupter {
                        it.send(Job { slot: i, start_us });
                    }
                }
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
    if let Some(b) = super::status_board::my_slot() {
        b.stopping(reason.event_name());
    }
    if reason != ShutdownReason::Deadlock {
        // With the GIL wedged the probe is stuck inside attach: leave it alone (no
        // finalisation follows a deadlock anyway, see the graceful wait below).
        stop_gil_probe();
    }
    // An interrupter stuck waiting for the GIL rules out finalisation (as a deadlock does).
    let interrupter_quiet = interrupter.as_ref().is_none_or(|it| it.stop());
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
    let deadline = now_us() + grace_us(cfg, reason);
    loop {
        let busy = state.active.load(Ordering::SeqCst).saturating_sub(stuck);
        if busy == 0 {
            // After a deadlock the GIL cannot be had: never try to finalise.
            return (reason, stuck == 0 && reason != ShutdownReason::Deadlock && interrupter_quiet);
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
        if let Err(RecvTimeoutError::Disconnected) = events.recv_timeout(sleep_for(Some(deadline), now_us(), BACKSTOP))
        {
            std::thread::sleep(MIN_SLEEP);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_for_is_capped_and_never_zero() {
        let cap = Duration::from_secs(1);
        assert_eq!(sleep_for(None, 5_000_000, cap), cap);
        assert_eq!(sleep_for(Some(5_250_000), 5_000_000, cap), Duration::from_millis(250));
        assert_eq!(sleep_for(Some(9_000_000), 5_000_000, cap), cap);
        // Due or overdue: the shortest sleep, not a busy loop.
        assert_eq!(sleep_for(Some(5_000_000), 5_000_000, cap), MIN_SLEEP);
        assert_eq!(sleep_for(Some(1), 5_000_000, cap), MIN_SLEEP);
    }
}
