//! The environ dict: CGI variables decoded as latin-1 `str` (PEP 3333) plus `wsgi.*`,
//! `mod_wsgi.*` and `apache.*` keys.
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::environ::Environ;

/// A `str` whose code points are the bytes (latin-1 decoding never fails).
pub(crate) fn latin1_str<'py>(py: Python<'py>, b: &[u8]) -> Bound<'py, PyString> {
    if b.is_ascii() {
        // SAFETY: ASCII is valid UTF-8.
        return PyString::new(py, unsafe { std::str::from_utf8_unchecked(b) });
    }
    let s: String = b.iter().map(|&c| c as char).collect();
    PyString::new(py, &s)
}

/// An unnamed `PyCapsule` holding `ptr`, with no destructor (mod_wsgi's `apache.request_rec`:
/// `PyCapsule_New(r, NULL, NULL)`). The pointer is never dereferenced by Python or by us; the
/// capsule does not own what it points to.
pub(crate) fn opaque_capsule<'py>(
    py: Python<'py>,
    ptr: std::ptr::NonNull<std::ffi::c_void>,
) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: GIL held (`py`); PyCapsule_New only stores the non-NULL pointer (a NULL name and
    // no destructor are allowed) and returns a new reference or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, pyo3::ffi::PyCapsule_New(ptr.as_ptr(), std::ptr::null(), None)) }
}

pub(crate) fn cgi_dict<'py>(py: Python<'py>, env: &Environ<'_>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in &env.vars {
        d.set_item(latin1_str(py, k.as_bytes()), latin1_str(py, v))?;
    }
    Ok(d)
}
