//! `mod_wsgi.RequestTimeout` (interrupt-timeout): a `BaseException` subclass, one per
//! interpreter (made by bootstrap.py), raised asynchronously in a request thread that ran past
//! request-timeout, so the request unwinds (finally blocks, context managers) and answers 504
//! while the process keeps serving. Best effort, as in mod_wsgi: it fires at the thread's next
//! bytecode, so a thread blocked in a C call sees it only when the call returns.

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

/// Drops an interruption meant for an earlier request of this thread (the monitor decides,
/// then injects; the request may have ended in between). Call attached, in the interpreter the
/// request runs in, before it runs any bytecode.
pub(crate) fn clear_pending(_py: Python<'_>) {
    // SAFETY: attached (GIL held, a thread state of this interpreter current); a NULL exception
    // clears this thread's pending asynchronous exception, if any.
    unsafe {
        ffi::PyThreadState_SetAsyncExc(libc::pthread_self() as _, std::ptr::null_mut());
    }
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
