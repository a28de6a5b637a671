//! `threads=0` daemon groups (mod_wsgi's service scripts): the process serves no request; its
//! `WSGIImportScript`s run on the main thread, one after the other, typically for ever (a
//! queue worker, a scheduler, a WebSocket sidecar behind mod_proxy_wstunnel). SIGTERM (Apache
//! stopping or restarting, the parent gone), SIGINT, SIGHUP and SIGUSR1 raise `SystemExit` in
//! the script, as in mod_wsgi, so `finally:` blocks and `atexit` handlers run; the script may
//! register its own handlers with `signal.signal()` (not restricted in this mode).
use std::path::Path;

use pyo3::prelude::*;

use super::interp::{format_exception, prime_thread};
use super::io::LogLevel;
use super::log::log_lines;
use super::scripts::{LoadError, load_app};

/// Registers the `SystemExit` handlers. Call on the process's main thread (the one that
/// started Python), without the GIL, before the scripts run.
pub fn install_exit_signals() -> Result<(), String> {
    prime_thread();
    Python::attach(|py| {
        py.run(
            c"import signal
def _mod_wsgi_rs_exit(signum, frame):
    raise SystemExit(0)
for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
    signal.signal(_s, _mod_wsgi_rs_exit)
del _s",
            None,
            None,
        )
        .map_err(|e| format_exception(py, &e))
    })
}

/// How a service script ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceEnd {
    /// It returned (or had nothing to run).
    Returned,
    /// `SystemExit` (a stop signal, or `sys.exit()`): not an error, as in mod_wsgi.
    Exited,
    /// It raised (logged with its traceback, RWSGI0020/RWSGI0021).
    Failed,
}

/// Runs one service script (imports it) in application group `group` on this (main) thread.
/// Call without the GIL.
pub fn run_service_script(script: &Path, group: &str) -> ServiceEnd {
    prime_thread();
    let shown = script.display().to_string();
    let log = |level: LogLevel, msg: &str| super::log::host_log(level, msg);
    Python::attach(|py| {
        let r = super::groups::run_in(py, group, |py| match load_app(py, script, "application", false, None) {
            Ok(_) | Err(LoadError::NoCallable(_)) => ServiceEnd::Returned,
            Err(LoadError::Exec(e)) if e.is_instance_of::<pyo3::exceptions::PySystemExit>(py) => ServiceEnd::Exited,
            Err(LoadError::Exec(e)) => {
                log(LogLevel::Error, &crate::coded!("RWSGI0020", "Failed to exec Python script file '{shown}'."));
                log_lines(&log, LogLevel::Error, "RWSGI0021", &format_exception(py, &e));
                ServiceEnd::Failed
            }
        });
        r.unwrap_or_else(|e| {
            log(
                LogLevel::Error,
                &crate::coded!("RWSGI0053", "Cannot create the sub-interpreter of application group '{group}': {e}"),
            );
            ServiceEnd::Failed
        })
    })
}
