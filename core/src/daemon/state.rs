//! State shared by the worker threads and the monitor of one daemon process.
use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// One worker thread as the monitor sees it.
#[derive(Default)]
pub struct Slot {
    /// Microseconds since the epoch when the current request started; 0 when idle.
    pub start_us: AtomicI64,
    /// The current connection and whether its response head went out. Locked only briefly by
    /// the worker (set/clear) and the monitor (answer 504 to a stuck request); never with the GIL.
    pub conn: Mutex<Option<(UnixStream, Arc<AtomicBool>)>>,
    /// Set by the monitor once it gave up on this worker's request.
    pub abandoned: AtomicBool,
}

pub struct State {
    pub stopping: AtomicBool,
    pub active: AtomicUsize,
    pub served: AtomicU64,
    pub last_activity_us: AtomicI64,
    pub started_us: i64,
    pub slots: Vec<Slot>,
    /// Set by a worker when a script changed on disk (WSGIScriptReloading On).
    pub script_changed: AtomicBool,
    /// Set when a worker thread died of a panic.
    pub internal_error: AtomicBool,
    /// Modification stamps of scripts at first use in this process.
    pub script_stamps: Mutex<HashMap<PathBuf, (i64, i64)>>,
    /// Wakes the monitor early (a recycling condition was reached, or the last request of a
    /// stopping process finished): `true` while a wake-up is pending.
    wake_pending: Mutex<bool>,
    wake_cv: Condvar,
}

impl State {
    pub fn new(threads: usize) -> Arc<Self> {
        let now = now_us();
        Arc::new(State {
            stopping: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            last_activity_us: AtomicI64::new(now),
            started_us: now,
            slots: (0..threads).map(|_| Slot::default()).collect(),
            script_changed: AtomicBool::new(false),
            internal_error: AtomicBool::new(false),
            script_stamps: Mutex::new(HashMap::new()),
            wake_pending: Mutex::new(false),
            wake_cv: Condvar::new(),
        })
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Wakes the monitor if it is waiting in `wait` (or makes its next wait return at once).
    pub fn wake(&self) {
        *self.wake_pending.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake_cv.notify_all();
    }

    /// The monitor's pause between checks: returns after `d`, or earlier on `wake`.
    pub fn wait(&self, d: Duration) {
        let mut pending = self.wake_pending.lock().unwrap_or_else(|e| e.into_inner());
        if !*pending {
            pending = self.wake_cv.wait_timeout(pending, d).unwrap_or_else(|e| e.into_inner()).0;
        }
        *pending = false;
    }
}
