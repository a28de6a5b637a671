//! Legacy CGI scripts (`WSGICGIScript On`, our extension): the script runs in this process
//! through the Python adapter `cgi_adapter.py` (no fork per request), which swaps
//! `os.environ`/`sys.stdin`/`sys.stdout` for the request and turns the script's output into a
//! WSGI response. Those are process-wide, so the process must run one request at a time:
//! refused when `wsgi.multithread` is true.
use std::ffi::CString;
use std::path::Path;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule};

use super::io::LogLevel;

const MODULE: &str = "_mod_wsgi_rs_cgi";

/// The adapter module of the current interpreter (created on first use; `sys.modules` is per
/// interpreter, so each application group has its own, with its own compiled scripts).
fn adapter(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let modules = py.import("sys")?.getattr("modules")?;
    let modules = modules.cast::<PyDict>()?;
    if let Some(m) = modules.get_item(MODULE)? {
        return Ok(m.cast_into::<PyModule>()?);
    }
    let code = CString::new(include_str!("cgi_adapter.py")).expect("adapter has no NUL");
    let name = CString::new(MODULE).expect("no NUL");
    let m = PyModule::from_code(py, &code, c"<mod_wsgi_rs cgi adapter>", &name)?;
    modules.set_item(MODULE, &m)?;
    Ok(m)
}

/// The WSGI application running the CGI script `script` (compiled once per interpreter, again
/// when it changed and `reload`), with the exception class of "no header block" failures.
/// `None`: refused here (a multithreaded process; logged). `Some(Err)`: the script could not be
/// read or compiled.
pub(super) fn application<'py>(
    py: Python<'py>,
    script: &Path,
    reload: bool,
    multithread: bool,
    log: &dyn Fn(LogLevel, &str),
) -> Option<PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    let shown = script.display();
    if multithread {
        log(
            LogLevel::Error,
            &crate::coded!(
                "RWSGI0127",
                "CGI script '{shown}' (WSGICGIScript On) cannot run in a multithreaded process: os.environ and sys.stdout are process-wide. Use a daemon process group with threads=1 (WSGIDaemonProcess name threads=1), or embedded mode under the prefork MPM."
            ),
        );
        return None;
    }
    Some(adapter(py).and_then(|m| {
        let header_error = m.getattr("CGIHeaderError")?;
        let application = m.call_method1("application_for", (script, reload))?;
        Ok((application, header_error))
    }))
}
