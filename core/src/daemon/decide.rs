//! The monitor's decision, pure: given what the process looks like now, stop (and why), give up
//! on requests past request-timeout, interrupt them first (interrupt-timeout), or sleep until the
//! earliest moment a time-bound condition could be reached. Also how long a stopping process
//! waits for its running requests ([`grace_us`]). The monitor (`monitor.rs`) takes the snapshot, acts, and sleeps on its event
//! channel for at most that long.
use super::config::{DaemonConfig, ShutdownReason};

/// One worker slot as the monitor sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SlotView {
    /// When the slot's current request started (µs since the epoch); 0 when idle.
    pub start_us: i64,
    /// The monitor already answered 504 for this request.
    pub abandoned: bool,
    /// When `mod_wsgi.RequestTimeout` was injected into this request (µs since the epoch); 0
    /// when it was not (interrupt-timeout).
    pub injected_us: i64,
}

/// Everything the recycling conditions depend on, read at one moment (µs since the epoch).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub now: i64,
    /// SIGTERM, SIGINT or SIGHUP arrived.
    pub signalled: bool,
    /// SIGUSR1 arrived.
    pub graceful: bool,
    /// SIGXCPU arrived (cpu-time-limit).
    pub cpu_limit: bool,
    pub parent_gone: bool,
    pub served: u64,
    pub active: usize,
    pub started_us: i64,
    pub last_activity_us: i64,
    pub script_changed: bool,
    pub internal_error: bool,
    /// First failed script import not followed by a successful one (0: none).
    pub failing_since_us: i64,
    /// Last time the GIL probe took the GIL.
    pub gil_ok_us: i64,
    pub slots: Vec<SlotView>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Stop(ShutdownReason),
    /// These slots' requests are past request-timeout (and, with interrupt-timeout, did not
    /// unwind within it after the interruption): answer 504 to each, then stop for
    /// `ShutdownReason::RequestTimeout`.
    Abandon(Vec<usize>),
    /// interrupt-timeout: these slots' requests just passed request-timeout; inject
    /// `mod_wsgi.RequestTimeout` into each (and note when), then decide again.
    Interrupt(Vec<usize>),
    /// Nothing to do before this moment (µs since the epoch); `None`: no condition is
    /// time-bound, only an event (a signal, a worker's) can change anything.
    SleepUntil(Option<i64>),
}

fn secs(n: u64) -> i64 {
    (n as i64).saturating_mul(1_000_000)
}

/// The conditions in their order of precedence (the order the log and the grace period depend
/// on: a signal wins over a timeout reached at the same check).
///
/// The wake-up time needs no event from a request starting or finishing: every deadline only
/// moves later when the state changes behind the monitor's back. A request that starts after
/// `now` times out at `now + request-timeout` at the earliest; inactivity is measured from the
/// end of the last request, so with requests running it ends `inactivity-timeout` after `now`
/// at the earliest; a script that starts failing after `now` exhausts startup-timeout after
/// `now + startup-timeout`; the GIL probe's stamp only advances.
pub fn decide(cfg: &DaemonConfig, s: &Snapshot) -> Verdict {
    let now = s.now;
    if s.signalled {
        return Verdict::Stop(ShutdownReason::Signal);
    }
    if s.graceful {
        return Verdict::Stop(ShutdownReason::GracefulSignal);
    }
    if s.parent_gone {
        return Verdict::Stop(ShutdownReason::ParentGone);
    }
    if s.cpu_limit {
        return Verdict::Stop(ShutdownReason::CpuTimeLimit);
    }
    if cfg.maximum_requests > 0 && s.served >= cfg.maximum_requests {
        return Verdict::Stop(ShutdownReason::MaximumRequests);
    }
    let mut next: Option<i64> = None;
    let mut due = |deadline: i64| {
        next = Some(next.map_or(deadline, |n| n.min(deadline)));
        now >= deadline
    };
    if cfg.restart_interval > 0 && due(s.started_us.saturating_add(secs(cfg.restart_interval))) {
        return Verdict::Stop(ShutdownReason::RestartInterval);
    }
    if cfg.inactivity_timeout > 0 {
        let from = if s.active == 0 { s.last_activity_us } else { now };
        if due(from.saturating_add(secs(cfg.inactivity_timeout))) && s.active == 0 {
            return Verdict::Stop(ShutdownReason::InactivityTimeout);
        }
    }
    if s.script_changed {
        return Verdict::Stop(ShutdownReason::ScriptChanged);
    }
    if s.internal_error {
        return Verdict::Stop(ShutdownReason::InternalError);
    }
    if cfg.startup_timeout > 0 {
        let from = if s.failing_since_us > 0 { s.failing_since_us } else { now };
        if due(from.saturating_add(secs(cfg.startup_timeout))) && s.failing_since_us > 0 {
            return Verdict::Stop(ShutdownReason::StartupTimeout);
        }
    }
    if cfg.deadlock_timeout > 0 && due(s.gil_ok_us.saturating_add(secs(cfg.deadlock_timeout))) {
        return Verdict::Stop(ShutdownReason::Deadlock);
    }
    if cfg.request_timeout > 0 {
        let (mut overdue, mut interrupt) = (Vec::new(), Vec::new());
        let interrupting = cfg.interrupt_timeout > 0;
        for (i, slot) in s.slots.iter().enumerate() {
            if slot.start_us == 0 || slot.abandoned {
                // An abandoned slot is not waited for again; an idle one may start a request now.
                due(now.saturating_add(secs(cfg.request_timeout)));
            } else if interrupting && slot.injected_us > 0 {
                // Interrupted: it has interrupt-timeout to unwind (504, the process survives).
                if due(slot.injected_us.saturating_add(secs(cfg.interrupt_timeout))) {
                    overdue.push(i);
                }
            } else if due(slot.start_us.saturating_add(secs(cfg.request_timeout))) {
                if interrupting { interrupt.push(i) } else { overdue.push(i) }
            }
        }
        if !overdue.is_empty() {
            return Verdict::Abandon(overdue);
        }
        if !interrupt.is_empty() {
            return Verdict::Interrupt(interrupt);
        }
    }
    Verdict::SleepUntil(next)
}

/// How long (µs) a process stopping for `reason` waits for its running requests: Apache gives
/// its subprocesses 3 s after SIGTERM before SIGKILL, so 2.5 s then; none when the parent is
/// gone or the GIL is wedged; eviction-timeout (else graceful-timeout) after SIGUSR1;
/// graceful-timeout otherwise.
pub fn grace_us(cfg: &DaemonConfig, reason: ShutdownReason) -> i64 {
    match reason {
        ShutdownReason::Signal => 2_500_000,
        ShutdownReason::ParentGone | ShutdownReason::Deadlock => 0,
        ShutdownReason::GracefulSignal if cfg.eviction_timeout > 0 => secs(cfg.eviction_timeout),
        _ => secs(cfg.graceful_timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_daemon_process;
    use crate::wire;

    const S: i64 = 1_000_000;
    const T0: i64 = 1_700_000_000 * S;

    fn cfg(args: &[&str]) -> DaemonConfig {
        let mut a = vec!["g"];
        a.extend_from_slice(args);
        let o = parse_daemon_process(&a).unwrap();
        let mut c = DaemonConfig::from_options(&o, 0, "/s".into(), [0; wire::TOKEN_LEN], 60, (2, 4, 62), 1);
        // The default deadlock-timeout is on; most tests look at one condition at a time.
        if !args.iter().any(|a| a.starts_with("deadlock-timeout=")) {
            c.deadlock_timeout = 0;
        }
        c
    }

    fn snap(now: i64) -> Snapshot {
        Snapshot {
            now,
            started_us: T0,
            last_activity_us: T0,
            gil_ok_us: T0,
            slots: vec![SlotView::default(); 2],
            ..Default::default()
        }
    }

    #[test]
    fn idle_without_time_bound_conditions_sleeps_for_ever() {
        assert_eq!(decide(&cfg(&[]), &snap(T0 + 1000 * S)), Verdict::SleepUntil(None));
        // maximum-requests is counted, not timed.
        assert_eq!(decide(&cfg(&["maximum-requests=5"]), &snap(T0)), Verdict::SleepUntil(None));
    }

    #[test]
    fn signals_and_parent_take_precedence_in_order() {
        let c = cfg(&["maximum-requests=1", "restart-interval=1"]);
        let mut s = snap(T0 + 10 * S);
        s.served = 1;
        s.signalled = true;
        s.graceful = true;
        s.parent_gone = true;
        assert_eq!(decide(&c, &s), Verdict::Stop(ShutdownReason::Signal));
        s.signalled = false;
        assert_eq!(decide(&c, &s), Verdict::Stop(ShutdownReason::GracefulSignal));
        s.graceful = false;
        assert_eq!(decide(&c, &s), Verdict::Stop(ShutdownReason::ParentGone));
        s.parent_gone = false;
        assert_eq!(decide(&c, &s), Verdict::Stop(ShutdownReason::MaximumRequests));
        s.served = 0;
        assert_eq!(decide(&c, &s), Verdict::Stop(ShutdownReason::RestartInterval));
    }

    #[test]
    fn maximum_requests() {
        let c = cfg(&["maximum-requests=3"]);
        let mut s = snap(T0);
        s.served = 2;
        assert_eq!(decide(&c, &s), Verdict::SleepUntil(None));
        s.served = 3;
        assert_eq!(decide(&c, &s), Verdict::Stop(ShutdownReason::MaximumRequests));
    }

    #[test]
    fn restart_interval_is_a_fixed_deadline() {
        let c = cfg(&["restart-interval=30"]);
        assert_eq!(decide(&c, &snap(T0 + S)), Verdict::SleepUntil(Some(T0 + 30 * S)));
        assert_eq!(decide(&c, &snap(T0 + 30 * S - 1)), Verdict::SleepUntil(Some(T0 + 30 * S)));
        assert_eq!(decide(&c, &snap(T0 + 30 * S)), Verdict::Stop(ShutdownReason::RestartInterval));
    }

    #[test]
    fn inactivity_counts_from_the_last_request_and_not_while_busy() {
        let c = cfg(&["inactivity-timeout=10"]);
        let mut s = snap(T0 + 4 * S);
        s.last_activity_us = T0 + 2 * S;
        assert_eq!(decide(&c, &s), Verdict::SleepUntil(Some(T0 + 12 * S)));
        s.now = T0 + 12 * S;
        assert_eq!(decide(&c, &s), Verdict::Stop(ShutdownReason::InactivityTimeout));
        // Busy: no stop, and the earliest end is a full timeout after now.
        s.active = 1;
        s.now = T0 + 20 * S;
        assert_eq!(decide(&c, &s), Verdict::SleepUntil(Some(T0 + 30 * S)));
    }

    #[test]
    fn script_change_and_internal_error() {
        let c = cfg(&[]);
        let mut s = snap(T0);
        s.internal_error = true;
        assert_eq!(decide(&c, &s), Verdict::Stop(ShutdownReason::InternalError));
        s.script_changed = true;
        assert_eq!(decide(&c, &s), Verdict::Stop(ShutdownReason::ScriptChanged));
    }

    #[test]
    fn startup_timeout_counts_from_the_first_failure() {
        let c = cfg(&["startup-timeout=5"]);
        let mut s = snap(T0 + 100 * S);
        assert_eq!(decide(&c, &s), Verdict::SleepUntil(Some(T0 + 105 * S)));
        s.failing_since_us = T0 + 99 * S;
        assert_eq!(decide(&c, &s), Verdict::SleepUntil(Some(T0 + 104 * S)));
        s.now = T0 + 104 * S;
        assert_eq!(decide(&c, &s), Verdict::Stop(ShutdownReason::StartupTimeout));
    }

    #[test]
    fn deadlock_timeout_from_the_last_gil_probe() {
        let c = cfg(&["deadlock-timeout=20"]);
        let mut s = snap(T0 + 5 * S);
        s.gil_ok_us = T0 + 4 * S;
        assert_eq!(decide(&c, &s), Verdict::SleepUntil(Some(T0 + 24 * S)));
        s.now = T0 + 24 * S;
        assert_eq!(decide(&c, &s), Verdict::Stop(ShutdownReason::Deadlock));
    }

    #[test]
    fn request_timeout_abandons_every_overdue_slot_once() {
        let c = cfg(&["threads=3", "request-timeout=10"]);
        let mut s = snap(T0 + 5 * S);
        s.slots = vec![SlotView { start_us: T0 + S, ..Default::default() }, SlotView::default(), SlotView::default()];
        // Idle slots could start a request now: the next check is the earlier of the two.
        assert_eq!(decide(&c, &s), Verdict::SleepUntil(Some(T0 + 11 * S)));
        s.slots[2].start_us = T0 + 2 * S;
        s.now = T0 + 12 * S;
        assert_eq!(decide(&c, &s), Verdict::Abandon(vec![0, 2]));
        s.slots[0].abandoned = true;
        s.slots[2].abandoned = true;
        assert_eq!(decide(&c, &s), Verdict::SleepUntil(Some(T0 + 22 * S)));
    }

    #[test]
    fn interrupt_timeout_interrupts_first_then_abandons_after_its_grace() {
        let c = cfg(&["threads=2", "request-timeout=10", "interrupt-timeout=4"]);
        let mut s = snap(T0 + 5 * S);
        s.slots[0].start_us = T0 + S;
        assert_eq!(decide(&c, &s), Verdict::SleepUntil(Some(T0 + 11 * S)));
        // Past request-timeout: interrupted, not abandoned.
        s.now = T0 + 11 * S;
        assert_eq!(decide(&c, &s), Verdict::Interrupt(vec![0]));
        s.slots[0].injected_us = T0 + 11 * S;
        // Not again; the next moment that matters is the end of its grace (or an idle slot's
        // request-timeout, later here).
        assert_eq!(decide(&c, &s), Verdict::SleepUntil(Some(T0 + 15 * S)));
        s.now = T0 + 15 * S - 1;
        assert_eq!(decide(&c, &s), Verdict::SleepUntil(Some(T0 + 15 * S)));
        // It did not unwind: abandoned (504, the process is replaced).
        s.now = T0 + 15 * S;
        assert_eq!(decide(&c, &s), Verdict::Abandon(vec![0]));
        // A request that unwound left the slot idle: nothing to do.
        s.slots[0] = SlotView::default();
        assert_eq!(decide(&c, &s), Verdict::SleepUntil(Some(T0 + 25 * S)));
    }

    #[test]
    fn abandoning_wins_over_interrupting_and_each_slot_has_its_own_clock() {
        let c = cfg(&["threads=3", "request-timeout=10", "interrupt-timeout=4"]);
        let mut s = snap(T0 + 20 * S);
        s.slots = vec![
            SlotView { start_us: T0 + S, injected_us: T0 + 11 * S, ..Default::default() },
            SlotView { start_us: T0 + 9 * S, ..Default::default() },
            SlotView { start_us: T0 + 15 * S, ..Default::default() },
        ];
        assert_eq!(decide(&c, &s), Verdict::Abandon(vec![0]));
        s.slots[0] = SlotView::default();
        assert_eq!(decide(&c, &s), Verdict::Interrupt(vec![1]));
        // Without interrupt-timeout the same request is abandoned at once.
        let plain = cfg(&["threads=3", "request-timeout=10"]);
        assert_eq!(decide(&plain, &s), Verdict::Abandon(vec![1]));
    }

    #[test]
    fn cpu_time_limit_stops_after_the_signals_and_parent() {
        let c = cfg(&["cpu-time-limit=5", "maximum-requests=1"]);
        let mut s = snap(T0);
        s.cpu_limit = true;
        s.served = 1;
        assert_eq!(decide(&c, &s), Verdict::Stop(ShutdownReason::CpuTimeLimit));
        s.parent_gone = true;
        assert_eq!(decide(&c, &s), Verdict::Stop(ShutdownReason::ParentGone));
    }

    #[test]
    fn grace_per_reason() {
        let c = cfg(&["graceful-timeout=7", "eviction-timeout=30"]);
        assert_eq!(grace_us(&c, ShutdownReason::GracefulSignal), 30 * S);
        assert_eq!(grace_us(&c, ShutdownReason::MaximumRequests), 7 * S);
        assert_eq!(grace_us(&c, ShutdownReason::CpuTimeLimit), 7 * S);
        assert_eq!(grace_us(&c, ShutdownReason::Signal), 2_500_000);
        assert_eq!(grace_us(&c, ShutdownReason::ParentGone), 0);
        assert_eq!(grace_us(&c, ShutdownReason::Deadlock), 0);
        // Without eviction-timeout, SIGUSR1 gets graceful-timeout (mod_wsgi's fallback).
        let c = cfg(&["graceful-timeout=7"]);
        assert_eq!(grace_us(&c, ShutdownReason::GracefulSignal), 7 * S);
    }

    #[test]
    fn the_earliest_deadline_wins() {
        let c = cfg(&["restart-interval=100", "inactivity-timeout=50", "deadlock-timeout=60", "startup-timeout=70"]);
        assert_eq!(decide(&c, &snap(T0 + S)), Verdict::SleepUntil(Some(T0 + 50 * S)));
    }
}
