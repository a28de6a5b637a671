//! `WSGIDispatchScript`: a script run in the Apache child before each request whose optional
//! functions `process_group(environ)`, `application_group(environ)` and
//! `callable_object(environ)` return a name (a `str`) or `None` to keep the configured one.
use std::path::Path;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::environ_dict::{cgi_dict, latin1_str};
use super::interp::{format_exception, prime_thread};
use super::io::LogLevel;
use super::log::log_lines;
use super::scripts::load_module;
use crate::environ::Environ;

/// What the dispatch script chose; `None` keeps the configured value.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Dispatch {
    /// A daemon group name; `""` (or `%{GLOBAL}`) is embedded mode.
    pub process_group: Option<String>,
    /// An application group name; `""` (or `%{GLOBAL}`) is the main interpreter.
    pub application_group: Option<String>,
    pub callable_object: Option<String>,
}

/// The configured values, shown to the dispatch functions as `mod_wsgi.*` environ keys.
pub struct Configured<'a> {
    pub process_group: &'a str,
    pub application_group: &'a str,
    pub callable_object: &'a str,
}

/// Runs the dispatch script at `script` (in application group `group`, `""` the main
/// interpreter; imported once, again when changed if `reload`) for one request. `None`: the
/// script could not be loaded, a function raised or returned something else than a `str` or
/// `None`; it was logged (RWSGI0054, traceback as RWSGI0021) through `log`.
pub fn run_dispatch(
    script: &Path,
    group: &str,
    reload: bool,
    env: &Environ<'_>,
    configured: &Configured<'_>,
    log: &dyn Fn(LogLevel, &str),
) -> Option<Dispatch> {
    prime_thread();
    let shown = script.display().to_string();
    Python::attach(|py| {
        let r = super::groups::run_in(py, group, |py| {
            dispatch_attached(py, script, &shown, reload, env, configured, log).ok()
        });
        r.unwrap_or_else(|e| {
            log(
                LogLevel::Error,
                &crate::coded!(
                    "RWSGI0054",
                    "WSGI dispatch script '{shown}' cannot run: application group '{group}' failed: {e}"
                ),
            );
            None
        })
    })
}

fn dispatch_attached(
    py: Python<'_>,
    script: &Path,
    shown: &str,
    reload: bool,
    env: &Environ<'_>,
    configured: &Configured<'_>,
    log: &dyn Fn(LogLevel, &str),
) -> Result<Dispatch, ()> {
    let traceback = |e: &PyErr| log_lines(log, LogLevel::Error, "RWSGI0021", &format_exception(py, e));
    let module = match load_module(py, script, reload, None) {
        Ok((m, loaded)) => {
            if loaded {
                log(LogLevel::Info, &crate::coded!("RWSGI0050", "Loaded WSGI dispatch script '{shown}'."));
            }
            m
        }
        Err(e) => {
            log(LogLevel::Error, &crate::coded!("RWSGI0054", "Failed to exec WSGI dispatch script '{shown}'."));
            traceback(&e);
            return Err(());
        }
    };
    let environ = match environ(py, env, configured) {
        Ok(d) => d,
        Err(e) => {
            log(LogLevel::Error, &crate::coded!("RWSGI0054", "WSGI dispatch script '{shown}': no environ."));
            traceback(&e);
            return Err(());
        }
    };
    let mut out = Dispatch::default();
    for (name, slot) in [
        ("process_group", &mut out.process_group),
        ("application_group", &mut out.application_group),
        ("callable_object", &mut out.callable_object),
    ] {
        let Ok(f) = module.getattr(name) else { continue };
        let value = match f.call1((environ.clone(),)) {
            Ok(v) => v,
            Err(e) => {
                log(
                    LogLevel::Error,
                    &crate::coded!("RWSGI0054", "Exception in {name}() of WSGI dispatch script '{shown}'."),
                );
                traceback(&e);
                return Err(());
            }
        };
        if value.is_none() {
            continue;
        }
        match value.extract::<String>() {
            Ok(s) if name == "callable_object" && s.is_empty() => {
                log(
                    LogLevel::Error,
                    &crate::coded!("RWSGI0054", "{name}() of WSGI dispatch script '{shown}' returned an empty name."),
                );
                return Err(());
            }
            Ok(s) if s.contains('\0') => {
                log(
                    LogLevel::Error,
                    &crate::coded!("RWSGI0054", "{name}() of WSGI dispatch script '{shown}' returned a name with NUL."),
                );
                return Err(());
            }
            Ok(s) => *slot = Some(if s == "%{GLOBAL}" && name != "callable_object" { String::new() } else { s }),
            Err(_) => {
                let ty = value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
                log(
                    LogLevel::Error,
                    &crate::coded!(
                        "RWSGI0054",
                        "{name}() of WSGI dispatch script '{shown}' returned a '{ty}' object, expected a str or None."
                    ),
                );
                return Err(());
            }
        }
    }
    Ok(out)
}

fn environ<'py>(py: Python<'py>, env: &Environ<'_>, c: &Configured<'_>) -> PyResult<Bound<'py, PyDict>> {
    let d = cgi_dict(py, env)?;
    d.set_item("mod_wsgi.process_group", latin1_str(py, c.process_group.as_bytes()))?;
    d.set_item("mod_wsgi.application_group", c.application_group)?;
    d.set_item("mod_wsgi.callable_object", c.callable_object)?;
    Ok(d)
}
