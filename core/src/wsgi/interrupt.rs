//! `mod_wsgi.RequestTimeout` (interrupt-timeout): a `BaseException` subclass, one per
//! interpreter (made by bootstrap.py), raised asynchronously in a request thread that ran past
//! request-timeout, so the request unwinds (finally blocks, context managers) and answers 504
//! while the process keeps serving. Best effort, as in mod_wsgi: it fires at the thread's next
//! bytecode, so a thread blocked in a C call sees it only when the call returns.

use std::cell::RefCell;

use pyo3::ffi;
use pyo3::prelude::*;

use super::interp::prime_thread;

/// `e` is the current interpreter's `mod_wsgi.RequestTimeout`. Attached.
pub(crate) fn is_request_timeout(py: Python<'_>, e: &PyErr) -> bool {
    py.import("mod_wsgi")
        .and_then(|m| m.getattr("RequestTimeout"))
        .map(|cls| e.value(py).is_instance(&cls).unwrap_or(false))
        .unwrap_or(false)
}

thread_local! {
    /// The application group of this thread's last interrupted request, while an injection
    /// meant for it may still be pending in its thread state there (see [`note_interrupted`]).
    static STALE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Says this thread's request in application group `group` was interrupted: the injection may
/// land after the request ended, so the next request of this thread in that group first drops
/// it ([`drop_stale`]). Call on the request's thread, after its request, once the monitor can
/// no longer pick that request (its slot shows it ended).
pub fn note_interrupted(group: &str) {
    STALE.with(|s| *s.borrow_mut() = Some(group.to_string()));
}

/// Before any bytecode of a request in `group` (attached, that interpreter current): drops an
/// interruption left for an earlier request of this thread. Pending asynchronous exceptions are
/// per thread state, so only a thread noted by [`note_interrupted`] for this group needs it.
///
/// A pending exception cannot be cleared with `SetAsyncExc(id, NULL)`: that leaves the
/// interpreter's "async exception pending" flag set, and every thread's eval loop would take
/// its slow path until some real asynchronous exception is handled. Instead a sentinel replaces
/// whatever is pending and is raised at once by a no-op, which clears the flag.
pub(crate) fn drop_stale(py: Python<'_>, group: &str) {
    let stale = STALE.with(|s| {
        let mut s = s.borrow_mut();
        let hit = s.as_deref() == Some(group);
        if hit {
            *s = None;
        }
        hit
    });
    if !stale {
        return;
    }
    // SAFETY: attached (GIL held, this interpreter current); the class is a static CPython
    // exception type, referenced by the thread state until raised.
    unsafe {
        ffi::PyThreadState_SetAsyncExc(libc::pthread_self() as _, ffi::PyExc_SystemError);
    }
    // The eval loop raises it at the code object's first instruction.
    let _ = py.run(c"pass", None, None);
}

/// Raises `mod_wsgi.RequestTimeout` in the thread `ident` (its `pthread_self()`) at its next
/// bytecode, in the interpreter of application group `group` (`""`: main), if `still` says
/// (under the GIL) that the request is still the one to interrupt. Call without the GIL from a
/// thread that serves no request (it gets its own thread states). `Ok(true)`: injected.
pub fn inject_request_timeout(group: &str, ident: u64, still: impl Fn() -> bool) -> Result<bool, String> {
    prime_thread();
    Python::attach(|py| {
        super::groups::run_in(py, group, |py| -> Result<bool, String> {
            if !still() {
                return Ok(false);
            }
            let cls = py
                .import("mod_wsgi")
                .and_then(|m| m.getattr("RequestTimeout"))
                .map_err(|e| format!("mod_wsgi.RequestTimeout is missing: {e}"))?;
            // SAFETY: GIL held, the target's interpreter current (run_in): CPython looks the
            // thread up in this interpreter's list and stores a new reference to the class.
            let n = unsafe { ffi::PyThreadState_SetAsyncExc(ident as _, cls.as_ptr()) };
            Ok(n > 0)
        })?
    })
}
