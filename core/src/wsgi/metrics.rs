//! Process-wide request metrics behind `mod_wsgi.start_recording_metrics()`,
//! `request_metrics()` and `process_metrics()` (mod_wsgi 6's key names).
//!
//! Nothing is recorded until an application calls `start_recording_metrics()` ([`RECORDING`]):
//! until then a request pays one relaxed atomic load here. Once on, each finished request takes
//! [`WINDOW`]'s lock for a few additions (never with Python code running under it; the GIL may be
//! held, the lock is never held while taking the GIL). The data are the process's, shared by all
//! its interpreters (application groups), as in mod_wsgi.
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Set once by `start_recording_metrics()`; never cleared.
pub(crate) static RECORDING: AtomicBool = AtomicBool::new(false);
/// Requests finished by this process (always counted: one relaxed add).
pub(crate) static SERVED: AtomicU64 = AtomicU64::new(0);
/// Requests running now (always counted).
pub(crate) static RUNNING: AtomicU64 = AtomicU64::new(0);

/// `threads=` of this daemon group, or the MPM's threads per child (set at start-up).
static THREADS: AtomicU64 = AtomicU64::new(1);
static IN_DAEMON: AtomicBool = AtomicBool::new(false);
/// Epoch seconds when Python started in this process (`process_metrics()['restart_time']`).
static STARTED_AT: AtomicU64 = AtomicU64::new(0);

/// Called once by `interp::initialize`.
pub(crate) fn set_process_facts(threads: u32, in_daemon: bool) {
    THREADS.store(threads.max(1) as u64, Ordering::Relaxed);
    IN_DAEMON.store(in_daemon, Ordering::Relaxed);
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    STARTED_AT.store(now.to_bits(), Ordering::Relaxed);
}

pub(crate) fn threads_per_process() -> u64 {
    THREADS.load(Ordering::Relaxed)
}

pub(crate) fn in_daemon() -> bool {
    IN_DAEMON.load(Ordering::Relaxed)
}

pub(crate) fn started_at() -> f64 {
    f64::from_bits(STARTED_AT.load(Ordering::Relaxed))
}

/// Histogram size: 16 octaves of 4 linear sub-buckets from 1 ms, then one for >= 65.536 s.
pub const BUCKETS: usize = 65;

/// The bucket of a duration in seconds (below 1 ms: bucket 0).
pub fn bucket(secs: f64) -> usize {
    let ms = secs * 1000.0;
    if ms.is_nan() || ms < 1.0 {
        return 0;
    }
    if ms >= 65536.0 {
        return BUCKETS - 1;
    }
    let octave = ms.log2().floor().clamp(0.0, 15.0) as usize;
    let base = (1u64 << octave) as f64;
    let sub = (((ms - base) / (base / 4.0)) as usize).min(3);
    octave * 4 + sub
}

/// Sum, extremes and histogram of one phase over a window.
#[derive(Clone)]
pub(crate) struct Phase {
    pub total: f64,
    pub count: u64,
    pub min_us: u64,
    pub max_us: u64,
    pub buckets: [u64; BUCKETS],
}

impl Default for Phase {
    fn default() -> Self {
        Phase { total: 0.0, count: 0, min_us: u64::MAX, max_us: 0, buckets: [0; BUCKETS] }
    }
}

impl Phase {
    fn add(&mut self, secs: f64) {
        let secs = secs.max(0.0);
        let us = (secs * 1e6) as u64;
        self.total += secs;
        self.count += 1;
        self.min_us = self.min_us.min(us);
        self.max_us = self.max_us.max(us);
        self.buckets[bucket(secs)] += 1;
    }
}

/// One finished request, as the runtime measured it (seconds; epoch times).
#[derive(Default, Clone, Copy)]
pub(crate) struct Sample {
    pub thread_id: u64,
    pub request_start: f64,
    /// 0.0 in embedded mode.
    pub queue_start: f64,
    pub daemon_start: f64,
    pub application_start: f64,
    pub application_finish: f64,
    pub end: f64,
    pub input_time: f64,
    pub output_time: f64,
    pub gil_wait: f64,
    pub input_bytes: u64,
    pub input_reads: u64,
    pub output_bytes: u64,
    pub output_writes: u64,
    pub status: u16,
    pub cpu: f64,
}

/// Per worker thread (index: thread id - 1).
#[derive(Default, Clone, Copy)]
pub(crate) struct ThreadStats {
    pub completed: u64,
    pub busy: f64,
    pub cpu: f64,
    pub max_duration: f64,
    /// Epoch seconds the running request started at (0.0: idle).
    pub running_since: f64,
    /// Requests served since recording began (process lifetime view).
    pub total: u64,
}

#[derive(Default)]
pub(crate) struct Window {
    pub start: f64,
    /// Process CPU (user, system) at the window's start.
    pub cpu0: (f64, f64),
    pub count: u64,
    pub server: Phase,
    pub queue: Phase,
    pub daemon: Phase,
    pub application: Phase,
    pub request: Phase,
    pub input: Phase,
    pub output: Phase,
    pub gil: Phase,
    pub input_bytes: u64,
    pub input_reads: u64,
    pub output_bytes: u64,
    pub output_writes: u64,
    pub status: [u64; 5],
    pub threads: Vec<ThreadStats>,
    /// Threads seen so far (ids are handed out once per thread and process).
    pub threads_started: u64,
    /// Cumulative busy time since recording began.
    pub busy_total: f64,
}

pub(crate) static WINDOW: Mutex<Option<Window>> = Mutex::new(None);

pub(crate) fn lock() -> std::sync::MutexGuard<'static, Option<Window>> {
    WINDOW.lock().unwrap_or_else(|e| e.into_inner())
}

/// Process CPU time (user, system) in seconds.
pub fn process_cpu() -> (f64, f64) {
    rusage(libc::RUSAGE_SELF)
}

/// This thread's CPU time (user, system) in seconds.
pub fn thread_cpu() -> (f64, f64) {
    rusage(libc::RUSAGE_THREAD)
}

fn rusage(who: libc::c_int) -> (f64, f64) {
    // SAFETY: getrusage fills the struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut ru) } != 0 {
        return (0.0, 0.0);
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

/// (current RSS, peak RSS) in bytes.
pub fn memory() -> (u64, u64) {
    // SAFETY: as above; sysconf has no preconditions.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let max = if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } == 0 { ru.ru_maxrss as u64 * 1024 } else { 0 };
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        .map_or(0, |pages| pages * page);
    (rss, max)
}

/// Turns recording on (idempotent): the first window starts now.
pub(crate) fn start(now: f64) {
    let mut g = lock();
    if g.is_none() {
        *g = Some(Window { start: now, cpu0: process_cpu(), ..Window::default() });
    }
    RECORDING.store(true, Ordering::Release);
}

fn slot(w: &mut Window, thread_id: u64) -> Option<&mut ThreadStats> {
    let i = thread_id.checked_sub(1)? as usize;
    if i >= 4096 {
        return None;
    }
    if w.threads.len() <= i {
        w.threads.resize(i + 1, ThreadStats::default());
    }
    w.threads_started = w.threads_started.max(thread_id);
    w.threads.get_mut(i)
}

/// A request starts on `thread_id` (recording on).
pub(crate) fn begin(thread_id: u64, at: f64) {
    let mut g = lock();
    if let Some(w) = g.as_mut()
        && let Some(t) = slot(w, thread_id)
    {
        t.running_since = at;
    }
}

/// A request finished (recording on).
pub(crate) fn record(s: &Sample) {
    let mut g = lock();
    let Some(w) = g.as_mut() else { return };
    let duration = (s.end - s.request_start.max(w.start)).max(0.0);
    w.count += 1;
    w.server.add(s.end - s.request_start);
    if s.queue_start > 0.0 && s.daemon_start > 0.0 {
        w.queue.add(s.daemon_start - s.queue_start);
        w.daemon.add(s.end - s.daemon_start);
    }
    w.application.add(s.application_finish - s.application_start);
    w.request.add(s.end - s.request_start);
    w.input.add(s.input_time);
    w.output.add(s.output_time);
    w.gil.add(s.gil_wait);
    w.input_bytes += s.input_bytes;
    w.input_reads += s.input_reads;
    w.output_bytes += s.output_bytes;
    w.output_writes += s.output_writes;
    let class = match s.status {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    };
    w.status[class] += 1;
    w.busy_total += duration;
    if let Some(t) = slot(w, s.thread_id) {
        // Busy time inside this window: from the later of the request's start and the
        // window's (an earlier part was counted as in-flight tail when that window drained).
        let since = if t.running_since > 0.0 { t.running_since } else { s.request_start };
        t.busy += (s.end - since).max(0.0);
        t.completed += 1;
        t.total += 1;
        t.cpu += s.cpu;
        t.max_duration = t.max_duration.max(s.end - s.request_start);
        t.running_since = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_mod_wsgi_octaves() {
        assert_eq!(bucket(0.0), 0);
        assert_eq!(bucket(0.0009), 0);
        assert_eq!(bucket(0.001), 0);
        assert_eq!(bucket(0.00125), 1);
        assert_eq!(bucket(0.0019), 3);
        assert_eq!(bucket(0.002), 4);
        assert_eq!(bucket(0.1), 6 * 4 + 2); // 100 ms: octave 64..128, (100-64)/16 = 2
        assert_eq!(bucket(65.535), 63);
        assert_eq!(bucket(65.536), 64);
        assert_eq!(bucket(1e9), 64);
        assert_eq!(bucket(f64::NAN), 0);
    }

    #[test]
    fn a_window_counts_phases_and_classes() {
        let mut w = Window { start: 100.0, ..Default::default() };
        let mut p = Phase::default();
        p.add(0.5);
        p.add(0.25);
        assert_eq!((p.count, p.min_us, p.max_us), (2, 250_000, 500_000));
        assert_eq!(p.buckets.iter().sum::<u64>(), 2);
        let t = slot(&mut w, 3).expect("slot");
        t.running_since = 101.0;
        assert_eq!(w.threads.len(), 3);
        assert_eq!(w.threads_started, 3);
        assert!(slot(&mut w, 0).is_none());
    }
}
