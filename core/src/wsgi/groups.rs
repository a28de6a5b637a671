//! Application groups: one sub-interpreter per named group, per process, created on first use.
//!
//! Contract (DESIGN notes "Sub-interpreters", Python 3.11, one shared GIL):
//! - A sub-interpreter is created with `Py_NewInterpreter` by a thread attached to the main
//!   interpreter (its primed thread state current), then that thread swaps back.
//! - Each OS thread gets one thread state per interpreter it runs code in, created once and kept
//!   (`TSTATES`), never one per request. The thread is always primed with its main-interpreter
//!   state first, so a sub-interpreter state never lands in the thread's `PyGILState` slot (which
//!   would make later main-interpreter attaches run in the sub-interpreter).
//! - Running in a group: attach to the main interpreter with `Python::attach` (pyo3's attach
//!   count is then 1, so every `Py<T>` dropped inside is released at once, in the interpreter
//!   current at that moment, never deferred to pyo3's global pool and drained elsewhere), swap
//!   to this thread's state of the group's interpreter, run, swap back. `py.detach` inside saves
//!   and restores the sub-interpreter state itself.
//! - Objects of one interpreter are dropped while that interpreter is current: the script cache
//!   is keyed by interpreter, and nothing created in a group outlives the swap back.
//! - Finalisation ([`end_all`]): each sub-interpreter is ended from a thread state of its own
//!   (threading shutdown and atexit handlers first, then the other thread states are cleared),
//!   before the main interpreter is finalised.
use std::cell::RefCell;
use std::sync::Mutex;

use pyo3::ffi;
use pyo3::prelude::*;

use super::io::LogLevel;

/// A sub-interpreter of this process.
struct Group {
    name: String,
    /// `*mut PyInterpreterState`, as an address (the list is shared between threads).
    interp: usize,
}

/// The groups created so far, in creation order. Locked only for lookups and inserts, never
/// while Python code runs.
static GROUPS: Mutex<Vec<Group>> = Mutex::new(Vec::new());
/// Every thread state this module made: (interpreter, thread state). At the end, ours are
/// deleted first: a state's deletion releases its thread's lock in `threading`, which the
/// interpreter's threading shutdown would otherwise wait for (the creating thread is its
/// `threading.main_thread()`).
static OURS: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

fn note_ours(interp: usize, ts: *mut ffi::PyThreadState) {
    OURS.lock().unwrap_or_else(|e| e.into_inner()).push((interp, ts as usize));
}

/// Sets up a new sub-interpreter (current, GIL held) for a group name; registered by
/// `interp::initialize` (the same set-up as the main interpreter's).
pub(crate) type Setup = fn(Python<'_>, &str) -> Result<(), String>;
static SETUP: std::sync::OnceLock<Setup> = std::sync::OnceLock::new();

pub(crate) fn set_setup(f: Setup) {
    let _ = SETUP.set(f);
}

/// Serialises creation (Python code runs under it): waited for only with the GIL released.
static CREATING: Mutex<()> = Mutex::new(());

thread_local! {
    /// This thread's state in each sub-interpreter it ran code in: (interpreter, thread state).
    static TSTATES: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
}

fn find(name: &str) -> Option<usize> {
    GROUPS.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|g| g.name == name).map(|g| g.interp)
}

/// The names of the groups created in this process.
pub fn names() -> Vec<String> {
    GROUPS.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|g| g.name.clone()).collect()
}

/// Takes `CREATING` without ever blocking while attached (the holder runs Python code).
fn lock_creating(py: Python<'_>) -> std::sync::MutexGuard<'static, ()> {
    loop {
        match CREATING.try_lock() {
            Ok(g) => return g,
            Err(std::sync::TryLockError::Poisoned(p)) => return p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => py.detach(|| {
                drop(CREATING.lock().unwrap_or_else(|e| e.into_inner()));
            }),
        }
    }
}

/// The interpreter of `name`, created now if this process has none yet. Attached to the main
/// interpreter. `Err`: it could not be created (the text says why).
fn interpreter(py: Python<'_>, name: &str) -> Result<usize, String> {
    if let Some(i) = find(name) {
        return Ok(i);
    }
    let _creating = lock_creating(py);
    if let Some(i) = find(name) {
        return Ok(i);
    }
    // SAFETY: attached to the main interpreter (shared GIL held, its primed state current).
    // Py_NewInterpreter makes the new interpreter's first thread state current; on failure it
    // restores the previous one. Either way we swap back to `main` before returning.
    let (main, ts) = unsafe {
        let main = ffi::PyThreadState_Get();
        (main, ffi::Py_NewInterpreter())
    };
    if ts.is_null() {
        return Err("Py_NewInterpreter() failed".into());
    }
    // SAFETY: `ts` is current; its interpreter is live.
    let interp = unsafe { ffi::PyThreadState_GetInterpreter(ts) } as usize;
    let set_up = SETUP.get().map_or(Ok(()), |setup| setup(py, name));
    // SAFETY: back to the main interpreter's state of this thread (saved above, still valid).
    unsafe { ffi::PyThreadState_Swap(main) };
    TSTATES.with(|t| t.borrow_mut().push((interp, ts as usize)));
    note_ours(interp, ts);
    GROUPS.lock().unwrap_or_else(|e| e.into_inner()).push(Group { name: name.to_string(), interp });
    set_up?;
    crate::hostlog::host_log(
        LogLevel::Info,
        &crate::coded!(
            "RWSGI0052",
            "Created the sub-interpreter of application group '{name}' in process {}.",
            std::process::id()
        ),
    );
    Ok(interp)
}

/// This thread's lasting state in `interp` (made on first use).
fn thread_state(interp: usize) -> *mut ffi::PyThreadState {
    TSTATES.with(|t| {
        let mut t = t.borrow_mut();
        if let Some((_, ts)) = t.iter().find(|(i, _)| *i == interp) {
            return *ts as *mut ffi::PyThreadState;
        }
        // SAFETY: `interp` is a live sub-interpreter (never ended before finalisation); the new
        // state is bound to this thread and not made current here. This thread already has its
        // main-interpreter state (primed), so the new one does not take the PyGILState slot.
        let ts = unsafe { ffi::PyThreadState_New(interp as *mut ffi::PyInterpreterState) };
        if !ts.is_null() {
            t.push((interp, ts as usize));
            note_ours(interp, ts);
        }
        ts
    })
}

/// Swaps back to the main interpreter's state when the group's code is done (even by a panic).
struct SwapBack(*mut ffi::PyThreadState);

impl Drop for SwapBack {
    fn drop(&mut self) {
        // SAFETY: the state that was current before the swap, on this thread, GIL held.
        unsafe { ffi::PyThreadState_Swap(self.0) };
    }
}

/// Runs `f` in the interpreter of application group `group` (`""`: the main interpreter, as
/// is). Call attached to the main interpreter through `Python::attach` on a primed thread.
pub(crate) fn run_in<R>(py: Python<'_>, group: &str, f: impl FnOnce(Python<'_>) -> R) -> Result<R, String> {
    if group.is_empty() {
        return Ok(f(py));
    }
    let interp = interpreter(py, group)?;
    let ts = thread_state(interp);
    if ts.is_null() {
        return Err("PyThreadState_New() failed".into());
    }
    // SAFETY: GIL held (attached); `ts` belongs to this thread and is not current anywhere.
    let prev = unsafe { ffi::PyThreadState_Swap(ts) };
    let _back = SwapBack(prev);
    Ok(f(py))
}

/// The current interpreter, as a cache key. Attached.
pub(crate) fn current_interp(_py: Python<'_>) -> usize {
    // SAFETY: attached: a thread state is current.
    unsafe { ffi::PyInterpreterState_Get() as usize }
}

/// `threading._shutdown()` asserts that its "main thread" (the thread that imported threading
/// in this interpreter) still holds its state lock. When that is the thread finalising (prefork:
/// one thread serves and exits), deleting its old thread state above released the lock, so it is
/// taken again first. atexit handlers run even if the join fails.
const SHUTDOWN: &std::ffi::CStr = c"import sys, atexit
_t = sys.modules.get('threading')
try:
    if _t is not None:
        _m = _t._main_thread
        _l = getattr(_m, '_tstate_lock', None)
        if _m.ident == _t.get_ident() and _l is not None and not _l.locked():
            _l.acquire()
        _t._shutdown()
finally:
    atexit._run_exitfuncs()
";

/// Ends every sub-interpreter, newest first: our thread states (of threads that served it, idle
/// now) are deleted, the application's non-daemon threads joined and its atexit handlers run,
/// the states left (daemon threads) cleared, then `Py_EndInterpreter`. Called by
/// `interp::finalize` with the main thread state current and the GIL held, once no other
/// thread of ours runs Python.
pub(crate) fn end_all() {
    let groups = std::mem::take(&mut *GROUPS.lock().unwrap_or_else(|e| e.into_inner()));
    let ours = std::mem::take(&mut *OURS.lock().unwrap_or_else(|e| e.into_inner()));
    TSTATES.with(|t| t.borrow_mut().clear());
    for g in groups.iter().rev() {
        let interp = g.interp as *mut ffi::PyInterpreterState;
        // SAFETY: GIL held; `interp` is live. A fresh state of our own becomes current; the
        // others of this interpreter (threads that served it, finished or idle now) are
        // cleared and deleted after atexit, as Py_EndInterpreter requires it to be the last.
        unsafe {
            let mine = ffi::PyThreadState_New(interp);
            if mine.is_null() {
                continue;
            }
            let main = ffi::PyThreadState_Swap(mine);
            for &(i, ts) in &ours {
                if i == g.interp {
                    ffi::PyThreadState_Clear(ts as *mut ffi::PyThreadState);
                    ffi::PyThreadState_Delete(ts as *mut ffi::PyThreadState);
                }
            }
            let py = Python::assume_attached();
            if let Err(e) = py.run(SHUTDOWN, None, None) {
                e.restore(py);
                ffi::PyErr_Print();
            }
            let mut t = ffi::PyInterpreterState_ThreadHead(interp);
            while !t.is_null() {
                let next = ffi::PyThreadState_Next(t);
                if t != mine {
                    ffi::PyThreadState_Clear(t);
                    ffi::PyThreadState_Delete(t);
                }
                t = next;
            }
            ffi::Py_EndInterpreter(mine);
            ffi::PyThreadState_Swap(main);
        }
    }
}
