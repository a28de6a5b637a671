//! The status board of a daemon process group: a small file of native-endian 64-bit words
//! beside the group's socket (`<socket>.status`), shown by the `wsgi-status` handler.
//!
//! Who writes: the spawner (root) creates it, maps it shared and records each process's
//! start, death and restart reason; each daemon process inherits the mapping (made before it
//! drops privileges, so the file stays root-owned, mode 0644) and updates its own slot with
//! relaxed atomic stores (busy threads, requests served, recent 5xx). Who reads: any Apache
//! child, with a plain `read()` of the file ([`Snapshot::parse`]); words are written
//! atomically, so a snapshot may mix instants but never shows a torn number. A reader must
//! treat the content as untrusted (an application in the group can write to its own mapping):
//! every count is shown as a number, every index is bounded.
use std::sync::atomic::{AtomicU64, Ordering};

/// "WSGIRSSB" as a word: the file is ours and of this layout.
pub const MAGIC: u64 = u64::from_le_bytes(*b"WSGIRSSB");
pub const VERSION: u64 = 1;
/// Header words: magic, version, processes, threads, created (µs), reserved.
pub const HEADER_WORDS: usize = 8;
/// Words per process slot.
pub const SLOT_WORDS: usize = 32;
/// The most processes a board describes (more are not shown).
pub const MAX_PROCESSES: usize = 256;

// Slot word indexes.
const PID: usize = 0;
const STARTED_US: usize = 1;
const BUSY: usize = 2;
const SERVED: usize = 3;
const SERVED_BEFORE: usize = 4;
const RESTARTS: usize = 5;
const ERRORS_5XX: usize = 6;
const LAST_ACTIVITY_US: usize = 7;
/// The reason a stopping process gave (a [`Reason`] code + 1; 0: none yet).
const PENDING_REASON: usize = 8;
const REASON_NEXT: usize = 9;
const REASONS: usize = 10;
pub const REASON_RING: usize = 4;
const ERR_NEXT: usize = 18;
const ERRS: usize = 19;
pub const ERR_RING: usize = 6;

/// Why a process of the group ended, as recorded on the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A daemon's own shutdown reason (`ShutdownReason::event_name`), by index.
    Named(u8),
    /// Died without saying why: exit status or signal (`crashed`).
    Died,
}

/// The names of [`Reason::Named`] codes, in code order (`ShutdownReason::event_name`).
pub const REASON_NAMES: [&str; 11] = [
    "graceful_signal",
    "maximum_requests",
    "restart_interval",
    "inactivity_timeout",
    "request_timeout",
    "script_reload",
    "startup_timeout",
    "deadlock_timeout",
    "internal_error",
    "shutdown_signal",
    "parent_gone",
];

pub fn reason_code(name: &str) -> u64 {
    REASON_NAMES.iter().position(|n| *n == name).map_or(0, |i| i as u64 + 1)
}

/// The board of the group whose socket is `socket_path`: `<path without .sock>.status`.
pub fn status_path(socket_path: &[u8]) -> Vec<u8> {
    let base = socket_path.strip_suffix(b".sock").unwrap_or(socket_path);
    [base, b".status"].concat()
}

pub fn board_len(processes: usize) -> usize {
    (HEADER_WORDS + processes.min(MAX_PROCESSES) * SLOT_WORDS) * 8
}

/// A board mapped into this process: words of shared memory.
#[derive(Clone, Copy)]
pub struct Board {
    words: *const AtomicU64,
    len: usize,
}

// SAFETY: the words are atomics in a shared mapping that lives until the process exits.
unsafe impl Send for Board {}
unsafe impl Sync for Board {}

/// One process's slot on a board.
#[derive(Clone, Copy)]
pub struct SlotRef {
    board: Board,
    base: usize,
}

impl Board {
    /// # Safety
    /// `ptr` points to `len` words of a shared, writable mapping, 8-aligned, never unmapped.
    pub unsafe fn from_raw(ptr: *mut u64, len: usize) -> Board {
        Board { words: ptr as *const AtomicU64, len }
    }

    fn w(&self, i: usize) -> Option<&AtomicU64> {
        // SAFETY: bounds checked; the mapping lives as long as the process (contract).
        (i < self.len).then(|| unsafe { &*self.words.add(i) })
    }

    /// Writes the header (the spawner, once, before forking processes).
    pub fn init(&self, processes: usize, threads: u64, now_us: i64) {
        let vals = [MAGIC, VERSION, processes.min(MAX_PROCESSES) as u64, threads, now_us as u64];
        for (i, v) in vals.iter().enumerate() {
            if let Some(w) = self.w(i) {
                w.store(*v, Ordering::Relaxed);
            }
        }
    }

    pub fn slot(&self, index: usize) -> Option<SlotRef> {
        let base = HEADER_WORDS + index * SLOT_WORDS;
        (index < MAX_PROCESSES && base + SLOT_WORDS <= self.len).then_some(SlotRef { board: *self, base })
    }
}

impl SlotRef {
    fn w(&self, i: usize) -> &AtomicU64 {
        // `slot()` checked that the whole slot is inside the board.
        self.board.w(self.base + i).expect("slot inside the board")
    }

    fn add(&self, i: usize, d: u64) {
        self.w(i).fetch_add(d, Ordering::Relaxed);
    }

    /// The spawner forked process `pid` for this slot.
    pub fn started(&self, pid: i32, now_us: i64) {
        self.w(PID).store(pid as u64, Ordering::Relaxed);
        self.w(STARTED_US).store(now_us as u64, Ordering::Relaxed);
        self.w(BUSY).store(0, Ordering::Relaxed);
        self.w(SERVED).store(0, Ordering::Relaxed);
        self.w(PENDING_REASON).store(0, Ordering::Relaxed);
    }

    /// A request starts (daemon worker).
    pub fn request_started(&self, now_us: i64) {
        self.add(BUSY, 1);
        self.w(LAST_ACTIVITY_US).store(now_us as u64, Ordering::Relaxed);
    }

    /// What looked like a request (a kept connection became readable) was its end: undoes
    /// `request_started` without counting a request.
    pub fn request_not_taken(&self) {
        let busy = self.w(BUSY);
        let _ = busy.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| Some(b.saturating_sub(1)));
    }

    /// A request ended with HTTP status `code` (0: none sent).
    pub fn request_finished(&self, code: u16, now_us: i64) {
        let busy = self.w(BUSY);
        let _ = busy.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| Some(b.saturating_sub(1)));
        self.add(SERVED, 1);
        self.w(LAST_ACTIVITY_US).store(now_us as u64, Ordering::Relaxed);
        if code >= 500 {
            self.add(ERRORS_5XX, 1);
            let i = self.w(ERR_NEXT).fetch_add(1, Ordering::Relaxed) as usize % ERR_RING;
            self.w(ERRS + 2 * i).store(now_us as u64, Ordering::Relaxed);
            self.w(ERRS + 2 * i + 1).store(code as u64, Ordering::Relaxed);
        }
    }

    /// The process decided to stop, for this reason (mod_wsgi's name).
    pub fn stopping(&self, reason: &str) {
        self.w(PENDING_REASON).store(reason_code(reason), Ordering::Relaxed);
    }

    /// The spawner reaped the slot's process: record why (its own reason if it gave one and
    /// exited cleanly, else `Died` with the exit status or signal `how`).
    pub fn died(&self, clean_exit: bool, how: i32, now_us: i64) {
        let pending = self.w(PENDING_REASON).swap(0, Ordering::Relaxed);
        let code = if clean_exit && pending > 0 && pending <= REASON_NAMES.len() as u64 { pending } else { 0xff };
        let i = self.w(REASON_NEXT).fetch_add(1, Ordering::Relaxed) as usize % REASON_RING;
        self.w(REASONS + 2 * i).store(now_us as u64, Ordering::Relaxed);
        self.w(REASONS + 2 * i + 1).store(code << 32 | (how as u32 as u64), Ordering::Relaxed);
        self.add(RESTARTS, 1);
        let served = self.w(SERVED).swap(0, Ordering::Relaxed);
        self.add(SERVED_BEFORE, served);
        self.w(BUSY).store(0, Ordering::Relaxed);
        self.w(PID).store(0, Ordering::Relaxed);
    }
}

/// This daemon process's slot, set once by the host before serving (`None`: no board).
static MY_SLOT: std::sync::OnceLock<SlotRef> = std::sync::OnceLock::new();

pub fn set_my_slot(s: SlotRef) {
    let _ = MY_SLOT.set(s);
}

pub fn my_slot() -> Option<&'static SlotRef> {
    MY_SLOT.get()
}

/// A restart as read back: when, why, and the exit status or signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Restart {
    pub at_us: u64,
    pub reason: &'static str,
    pub how: i32,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProcessView {
    pub index: usize,
    pub pid: u64,
    pub started_us: u64,
    pub busy: u64,
    pub served: u64,
    pub served_total: u64,
    pub restarts: u64,
    pub errors_5xx: u64,
    pub last_activity_us: u64,
    /// Newest first.
    pub recent_restarts: Vec<Restart>,
    /// (time µs, status), newest first.
    pub recent_5xx: Vec<(u64, u16)>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub threads: u64,
    pub created_us: u64,
    pub processes: Vec<ProcessView>,
}

impl Snapshot {
    /// Reads a board's bytes (a file read). `None`: not a board of this version.
    pub fn parse(bytes: &[u8]) -> Option<Snapshot> {
        let words: Vec<u64> =
            bytes.chunks_exact(8).map(|c| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]))).collect();
        if words.len() < HEADER_WORDS || words[0] != MAGIC || words[1] != VERSION {
            return None;
        }
        let n = (words[2] as usize).min(MAX_PROCESSES);
        let mut s = Snapshot { threads: words[3], created_us: words[4], processes: Vec::new() };
        for index in 0..n {
            let base = HEADER_WORDS + index * SLOT_WORDS;
            let Some(w) = words.get(base..base + SLOT_WORDS) else { break };
            let ring = |next: u64, start: usize, len: usize| -> Vec<(u64, u64)> {
                (0..len)
                    .map(|k| ((next % len as u64) as usize + len - 1 - k) % len)
                    .map(|i| (w[start + 2 * i], w[start + 2 * i + 1]))
                    .filter(|(t, _)| *t != 0)
                    .collect()
            };
            let recent_restarts = ring(w[REASON_NEXT], REASONS, REASON_RING)
                .into_iter()
                .map(|(at_us, v)| {
                    let code = (v >> 32) as usize;
                    let reason = match code {
                        1..=11 => REASON_NAMES[code - 1],
                        _ => "died",
                    };
                    Restart { at_us, reason, how: v as u32 as i32 }
                })
                .collect();
            let recent_5xx =
                ring(w[ERR_NEXT], ERRS, ERR_RING).into_iter().map(|(t, c)| (t, c.min(999) as u16)).collect();
            s.processes.push(ProcessView {
                index,
                pid: w[PID],
                started_us: w[STARTED_US],
                busy: w[BUSY].min(s.threads.clamp(1, 1 << 20) * 4),
                served: w[SERVED],
                served_total: w[SERVED].saturating_add(w[SERVED_BEFORE]),
                restarts: w[RESTARTS],
                errors_5xx: w[ERRORS_5XX],
                last_activity_us: w[LAST_ACTIVITY_US],
                recent_restarts,
                recent_5xx,
            });
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(n: usize) -> (Vec<u64>, Board) {
        let mut mem = vec![0u64; board_len(n) / 8];
        // SAFETY: `mem` outlives the board in each test; never reallocated.
        let b = unsafe { Board::from_raw(mem.as_mut_ptr(), mem.len()) };
        (mem, b)
    }

    fn bytes(mem: &[u64]) -> Vec<u8> {
        mem.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }

    #[test]
    fn round_trip_of_a_process_life() {
        let (mem, b) = board(2);
        b.init(2, 15, 1_000);
        let s = b.slot(1).expect("slot");
        assert!(b.slot(2).is_none());
        s.started(4242, 2_000);
        s.request_started(3_000);
        s.request_started(3_001);
        s.request_finished(200, 3_100);
        s.request_finished(503, 3_200);
        let snap = Snapshot::parse(&bytes(&mem)).expect("board");
        assert_eq!(snap.threads, 15);
        let p = &snap.processes[1];
        assert_eq!((p.pid, p.busy, p.served, p.errors_5xx), (4242, 0, 2, 1));
        assert_eq!(p.recent_5xx, vec![(3_200, 503)]);
        s.stopping("maximum_requests");
        s.died(true, 0, 4_000);
        s.started(4243, 4_100);
        s.request_started(4_200);
        s.died(false, 9, 5_000);
        let snap = Snapshot::parse(&bytes(&mem)).expect("board");
        let p = &snap.processes[1];
        assert_eq!((p.pid, p.restarts, p.served_total, p.busy), (0, 2, 2, 0));
        assert_eq!(
            p.recent_restarts,
            vec![
                Restart { at_us: 5_000, reason: "died", how: 9 },
                Restart { at_us: 4_000, reason: "maximum_requests", how: 0 }
            ]
        );
        assert_eq!(snap.processes[0].pid, 0);
    }

    #[test]
    fn garbage_is_refused_or_bounded() {
        assert!(Snapshot::parse(b"short").is_none());
        assert!(Snapshot::parse(&[0u8; 512]).is_none());
        let (mut mem, b) = board(1);
        b.init(1, 2, 1);
        mem[2] = u64::MAX; // claims more processes than the file holds
        mem[HEADER_WORDS + REASON_NEXT] = u64::MAX;
        mem[HEADER_WORDS + REASONS] = 7;
        mem[HEADER_WORDS + REASONS + 1] = u64::MAX;
        mem[HEADER_WORDS + BUSY] = u64::MAX;
        let snap = Snapshot::parse(&bytes(&mem)).expect("board");
        assert_eq!(snap.processes.len(), 1);
        assert_eq!(snap.processes[0].busy, 8);
        assert_eq!(snap.processes[0].recent_restarts[0].reason, "died");
        assert_eq!(reason_code("maximum_requests"), 2);
        assert_eq!(reason_code("nonsense"), 0);
    }
}
