//! State shared by the worker threads and the monitor of one daemon process.
use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender};

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
    pub conn: Mutex<Option<(Arc<UnixStream>, Arc<AtomicBool>)>>,
    /// Set by the monitor once it gave up on this worker's request.
    pub abandoned: AtomicBool,
    /// The worker thread's `pthread_self()` (what CPython calls its thread ident), for
    /// injecting `mod_wsgi.RequestTimeout` (interrupt-timeout).
    pub ident: AtomicU64,
    /// The application group of the current request (where its thread state lives). Locked
    /// briefly by the worker and the interrupter, never with the GIL by the worker.
    pub app_group: Mutex<String>,
    /// interrupt-timeout: the `start_us` of the request the monitor interrupted, and when.
    /// Keyed by the start so a later request on the slot never inherits the interruption,
    /// and the worker has nothing to reset.
    pub interrupted_start: AtomicI64,
    pub injected_us: AtomicI64,
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
    /// Wakes the monitor (see `Event`).
    events: Sender<Event>,
}

/// Why the monitor is woken before its next deadline. The atomics above stay the record of
/// what happened (the monitor reads them all at each check, in a fixed order of precedence);
/// an event only says "look now", so none is needed, and none is sent, for an ordinary
/// request: the hot path pays nothing. Queued in an unbounded channel, so a wake-up sent
/// while the monitor is busy checking is not lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A worker saw a recycling condition: maximum-requests reached, a script changed on disk,
    /// a worker thread died of a panic.
    Recycle,
    /// A request (or an accept reservation) ended while the process is stopping: maybe the last.
    Finished,
    /// A signal arrived (relayed from the signal handlers by a thread, see `monitor`).
    Signal,
}

impl State {
    /// The shared state, and the receiving end of its event channel (the monitor's).
    pub fn new(threads: usize) -> (Arc<Self>, Receiver<Event>) {
        let now = now_us();
        let (events, rx) = crossbeam_channel::unbounded();
        let state = Arc::new(State {
            stopping: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            last_activity_us: AtomicI64::new(now),
            started_us: now,
            slots: (0..threads).map(|_| Slot::default()).collect(),
            script_changed: AtomicBool::new(false),
            internal_error: AtomicBool::new(false),
            script_stamps: Mutex::new(HashMap::new()),
            events,
        });
        (state, rx)
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Wakes the monitor (or makes its next wait return at once).
    pub fn notify(&self, e: Event) {
        // Fails only once the monitor has returned (dropping the receiver): nobody to wake.
        let _ = self.events.send(e);
    }

    /// For the signal relay thread.
    pub fn sender(&self) -> Sender<Event> {
        self.events.clone()
    }
}
