//! Running one request through a WSGI application: load the script, build the environ, call the
//! app, send what it returns, always call `close()` once.
use std::path::Path;
use std::sync::Arc;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use super::context::RequestCtx;
use super::environ_dict::{cgi_dict, latin1_str, opaque_capsule};
use super::file_wrapper::FileWrapper;
use super::input::Input;
use super::interp::{format_exception, prime_thread};
use super::io::{LogLevel, RequestIo};
use super::log::{LogStream, log_lines, route_stdio};
use super::response::{StartResponse, write_chunk, write_error};
use super::scripts::{LoadError, load_app};
use crate::environ::Environ;

/// Which application serves the request.
pub struct AppSpec<'a> {
    pub script: &'a Path,
    pub callable: &'a str,
    /// `WSGIScriptReloading`: re-import the script when its mtime changed.
    pub reload: bool,
    /// The application group, resolved (`""`: the main interpreter, else a sub-interpreter).
    pub group: &'a str,
    /// `WSGICGIScript On`: `script` is a legacy CGI script, run through the adapter (`cgi.rs`).
    pub cgi: bool,
    /// The script's stamp when the caller already stat'ed it for this request (with `reload`).
    pub stamp: Option<(i64, i64)>,
}

/// Where a group's code runs, for log lines.
fn where_runs(group: &str) -> String {
    if group.is_empty() { "the main interpreter".into() } else { format!("application group '{group}'") }
}

/// An ImportError that says an extension module refused this sub-interpreter (numpy: "...does
/// not support sub-interpreters", older numpy: "cannot load module more than once per
/// process", PyO3 modules: "...do not yet support subinterpreters").
fn refuses_subinterpreter(py: Python<'_>, e: &PyErr) -> bool {
    if !e.is_instance_of::<pyo3::exceptions::PyImportError>(py) {
        return false;
    }
    let text = e.value(py).to_string().to_ascii_lowercase();
    text.contains("interpreter") || text.contains("once per process")
}

/// For after a failure's traceback: the line saying an extension refused this interpreter. In a
/// named group, run the application in %{GLOBAL}; in the main interpreter, only "once per process"
/// can be that (a sub-interpreter of this process loaded the module first), and the advice is to
/// move every application that uses it to %{GLOBAL}.
fn hint_global(py: Python<'_>, group: &str, script: &str, e: &PyErr) -> Option<String> {
    if !refuses_subinterpreter(py, e) {
        return None;
    }
    if !group.is_empty() {
        return Some(crate::coded!(
            "RWSGI0025",
            "WSGI script '{script}' in application group '{group}' (a sub-interpreter) imports an extension module that does not support sub-interpreters; run it in the main interpreter with WSGIApplicationGroup %{{GLOBAL}} (or application-group=%{{GLOBAL}})."
        ));
    }
    e.value(py).to_string().contains("once per process").then(|| {
        crate::coded!(
                "RWSGI0025",
                "WSGI script '{script}' in the main interpreter imports an extension module that a sub-interpreter of this process (a named application group) loaded first and that cannot load twice; run every application that uses it with WSGIApplicationGroup %{{GLOBAL}}, or preload it there with WSGIImportScript."
        )
    })
}

/// Request facts that are not CGI variables: `wsgi.*`, `mod_wsgi.*` and `apache.*` keys.
pub struct WsgiExtras<'a> {
    pub https: bool,
    pub multithread: bool,
    pub multiprocess: bool,
    pub process_group: &'a str,
    pub application_group: &'a str,
    pub listener_host: &'a [u8],
    pub listener_port: u16,
    pub server_pid: u32,
    pub request_id: &'a [u8],
    pub connection_id: Option<i64>,
    /// Epoch seconds when the host received the request.
    pub request_start: f64,
    /// Epoch seconds when the request was queued for / accepted by a daemon (0.0 embedded).
    pub queue_start: f64,
    pub daemon_start: f64,
    pub apache_version: (u32, u32, u32),
    /// The Apache handler that selected the app: `wsgi-script`, or a `WSGIHandlerScript` name.
    pub request_handler: &'a [u8],
    /// The `WSGIHandlerScript` file, empty for `wsgi-script`.
    pub handler_script: &'a [u8],
    /// `WSGIPassApacheRequest On` in embedded mode: the host's `request_rec`, put in the
    /// environ as an unnamed `apache.request_rec` capsule (mod_wsgi's). Opaque here, never
    /// dereferenced; valid only while the request runs (the host's contract, as mod_wsgi's).
    pub apache_request: Option<std::ptr::NonNull<std::ffi::c_void>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The response was sent completely.
    Done,
    /// Failure before any header went out: the host answers 500 (already logged).
    ErrorBeforeHeaders,
    /// Failure after headers went out: the host must cut the connection (already logged).
    ErrorAfterHeaders,
    /// The client went away while we were writing (logged at info).
    ClientGone,
    /// The body ended short of its declared Content-Length: the host must close the connection
    /// (after sending what it holds) so the client sees the truncation (already logged).
    Truncated,
    /// `mod_wsgi.RequestTimeout` (interrupt-timeout) unwound the application before any header
    /// went out: the host answers 504 (already logged); the thread serves on.
    TimedOut,
}

/// Runs the request. Call without the GIL, from any thread; blocks until the response is done.
pub fn run_request(io: Box<dyn RequestIo>, env: &Environ<'_>, x: &WsgiExtras<'_>, app: &AppSpec<'_>) -> Outcome {
    let thread_id = prime_thread();
    let ctx = RequestCtx::new(io);
    // The wait for the GIL is measured only while someone listens (a relaxed load otherwise).
    let t_gil = super::events::wants_timing().then(std::time::Instant::now);
    // This thread's print() output belongs to the request, from the script's import to close().
    let stdio = route_stdio(&ctx);
    let outcome = Python::attach(|py| {
        let gil_wait = t_gil.map_or(0.0, |t| t.elapsed().as_secs_f64());
        match super::groups::run_in(py, app.group, |py| run_tracked(py, &ctx, env, x, app, thread_id, gil_wait)) {
            Ok(o) => o,
            Err(e) => {
                ctx.log(LogLevel::Error, &group_failed(app.group, &e));
                Outcome::ErrorBeforeHeaders
            }
        }
    });
    drop(stdio); // logs unfinished print() lines through the still-live request
    ctx.finish();
    outcome
}

fn group_failed(group: &str, e: &str) -> String {
    crate::coded!("RWSGI0053", "Cannot create the sub-interpreter of application group '{group}': {e}")
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Runs the request in the current (the group's) interpreter between the event API's
/// `enter` and `leave` (see events.rs: nothing is made for an untracked request).
fn run_tracked(
    py: Python<'_>,
    ctx: &Arc<RequestCtx>,
    env: &Environ<'_>,
    x: &WsgiExtras<'_>,
    app: &AppSpec<'_>,
    thread_id: u64,
    gil_wait: f64,
) -> Outcome {
    super::events::enter(ctx);
    let mut tracker = None;
    let mut app_start = 0.0;
    let outcome = run_attached(py, ctx, env, x, app, thread_id, gil_wait, &mut tracker, &mut app_start);
    let facts = facts(x);
    super::events::leave(py, tracker, ctx, &facts, outcome == Outcome::ErrorBeforeHeaders, thread_id, app_start);
    outcome
}

fn facts<'a>(x: &WsgiExtras<'a>) -> super::events::ReqFacts<'a> {
    super::events::ReqFacts {
        request_id: x.request_id,
        server_pid: x.server_pid,
        request_start: x.request_start,
        queue_start: x.queue_start,
        daemon_start: x.daemon_start,
    }
}

#[allow(clippy::too_many_arguments)]
fn run_attached(
    py: Python<'_>,
    ctx: &Arc<RequestCtx>,
    env: &Environ<'_>,
    x: &WsgiExtras<'_>,
    app: &AppSpec<'_>,
    thread_id: u64,
    gil_wait: f64,
    tracker: &mut Option<super::events::Tracker>,
    app_start_out: &mut f64,
) -> Outcome {
    // Before any bytecode of this request: an interruption aimed at an earlier one is void.
    super::interrupt::drop_stale(py, app.group);
    let script = app.script.display();
    let log = |level: LogLevel, msg: &str| ctx.log(level, msg);
    // A CGI script: the adapter's WSGI application, and its "no header block" error class.
    let mut header_error = None;
    let loaded = if app.cgi {
        match super::cgi::application(py, app.script, app.reload, x.multithread, &log) {
            None => return Outcome::ErrorBeforeHeaders,
            Some(Ok((a, e))) => {
                header_error = Some(e);
                Ok((a, false))
            }
            Some(Err(e)) => Err(LoadError::Exec(e)),
        }
    } else {
        load_app(py, app.script, app.callable, app.reload, app.stamp)
    };
    let application = match loaded {
        Ok((a, loaded)) => {
            if loaded {
                log(
                    LogLevel::Info,
                    &crate::coded!("RWSGI0050", "Loaded WSGI script '{script}' into {}.", where_runs(app.group)),
                );
            }
            a
        }
        Err(LoadError::Exec(e)) => {
            log(LogLevel::Error, &crate::coded!("RWSGI0020", "Failed to exec Python script file '{script}'."));
            log_lines(&log, LogLevel::Error, "RWSGI0021", &format_exception(py, &e));
            if let Some(h) = hint_global(py, app.group, &script.to_string(), &e) {
                log(LogLevel::Error, &h);
            }
            return Outcome::ErrorBeforeHeaders;
        }
        Err(LoadError::NoCallable(e)) => {
            log(LogLevel::Error, &crate::coded!("RWSGI0022", "{}", e.value(py)));
            return Outcome::ErrorBeforeHeaders;
        }
    };
    let app_start = now();
    *app_start_out = app_start;
    let f = facts(x);
    let tr = tracker.insert(super::events::begin(py, ctx, &f, thread_id, gil_wait));
    let result = environ(py, ctx, env, x, app, thread_id, app_start).and_then(|environ| {
        let application =
            super::events::started(py, tr, &environ, &application, app.callable, &f, thread_id, app_start)?;
        let sr = Py::new(py, StartResponse { ctx: ctx.clone() })?;
        application.call1((environ, sr))
    });
    let result = match result {
        Ok(r) => r,
        Err(e) if header_error.as_ref().is_some_and(|c| e.value(py).is_instance(c).unwrap_or(false)) => {
            log(LogLevel::Error, &crate::coded!("RWSGI0128", "{}", e.value(py)));
            return Outcome::ErrorBeforeHeaders;
        }
        Err(e) => {
            let hint = hint_global(py, app.group, &script.to_string(), &e);
            let o = failed(py, ctx, &script.to_string(), e);
            if let Some(h) = hint {
                log(LogLevel::Error, &h);
            }
            return o;
        }
    };
    let sent = send_result(py, ctx, &result);
    let head_request = env.get("REQUEST_METHOD") == Some(&b"HEAD"[..]);
    // close() exactly once, whatever happened while iterating.
    // A plain list or tuple (most responses) has no close(): asking would build and drop an
    // AttributeError per request (Python 3.11 has no lookup without one).
    let plain = result.is_exact_instance_of::<PyList>() || result.is_exact_instance_of::<PyTuple>();
    let closed = match if plain { Ok(None) } else { result.getattr_opt("close") } {
        Ok(Some(close)) => close.call0().map(|_| ()),
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    // An interruption landing in close() is the one the request already answers for.
    let closed = closed.or_else(|e| if super::interrupt::is_request_timeout(py, &e) { Ok(()) } else { Err(e) });
    drop(result);
    match (sent, closed) {
        (Err(e), closed) => {
            if let Err(ce) = closed {
                log(
                    LogLevel::Error,
                    &crate::coded!(
                        "RWSGI0026",
                        "Exception raised by close() of the iterable returned by WSGI script '{script}'."
                    ),
                );
                log_lines(&log, LogLevel::Error, "RWSGI0021", &format_exception(py, &ce));
            }
            failed(py, ctx, &script.to_string(), e)
        }
        (Ok(()), Err(ce)) => {
            log(
                LogLevel::Error,
                &crate::coded!(
                    "RWSGI0026",
                    "Exception raised by close() of the iterable returned by WSGI script '{script}'."
                ),
            );
            log_lines(&log, LogLevel::Error, "RWSGI0021", &format_exception(py, &ce));
            if ctx.lock().head_sent { Outcome::Done } else { Outcome::ErrorBeforeHeaders }
        }
        (Ok(()), Ok(())) => short_body(ctx, &script.to_string(), head_request),
    }
}

/// `Done`, or `Truncated` (logged) when fewer bytes than the declared Content-Length were sent.
fn short_body(ctx: &RequestCtx, script: &str, head_request: bool) -> Outcome {
    let (declared, written, code) = {
        let g = ctx.lock();
        (g.content_length, g.written, g.head.as_ref().map_or(200, |h| h.code))
    };
    match declared {
        Some(cl) if written < cl && crate::framing::body_expected(code, head_request) => {
            ctx.log(LogLevel::Error, &crate::coded!(
                "RWSGI0027", "Response body of WSGI script '{script}' ended after {written} of the {cl} bytes its Content-Length declares; connection closed."
            ));
            Outcome::Truncated
        }
        _ => Outcome::Done,
    }
}

/// Logs an application failure and says what the host must do.
fn failed(py: Python<'_>, ctx: &RequestCtx, script: &str, e: PyErr) -> Outcome {
    super::events::exception(py, &e);
    let (head_sent, client_gone) = {
        let g = ctx.lock();
        // A head the host still buffers has not been sent: a 500 can still replace it.
        (g.head_sent && g.io.as_ref().is_some_and(|io| io.head_committed()), g.client_gone)
    };
    let log = |level: LogLevel, msg: &str| ctx.log(level, msg);
    if super::interrupt::is_request_timeout(py, &e) && !client_gone {
        // interrupt-timeout: the injected exception unwound the application (mod_wsgi: 504,
        // the thread returns to the pool; after the head only a cut is left).
        let what = if head_sent { " after its response headers were sent; response cut" } else { "; answering 504" };
        log(
            LogLevel::Info,
            &crate::coded!(
                "RWSGI0162",
                "Request to WSGI script '{script}' interrupted by mod_wsgi.RequestTimeout{what}; the thread recovered."
            ),
        );
        return if head_sent { Outcome::ErrorAfterHeaders } else { Outcome::TimedOut };
    }
    if client_gone {
        log(
            LogLevel::Info,
            &crate::coded!(
                "RWSGI0041",
                "Client closed the connection while WSGI script '{script}' was sending its response: {}",
                e.value(py)
            ),
        );
        return Outcome::ClientGone;
    }
    if head_sent {
        log(
            LogLevel::Error,
            &crate::coded!(
                "RWSGI0024",
                "Exception occurred after the response headers of WSGI script '{script}' were sent; connection aborted."
            ),
        );
        log_lines(&log, LogLevel::Error, "RWSGI0021", &format_exception(py, &e));
        Outcome::ErrorAfterHeaders
    } else {
        log(LogLevel::Error, &crate::coded!("RWSGI0023", "Exception occurred processing WSGI script '{script}'."));
        log_lines(&log, LogLevel::Error, "RWSGI0021", &format_exception(py, &e));
        Outcome::ErrorBeforeHeaders
    }
}

#[allow(clippy::too_many_arguments)]
/// Keys are interned once per process (`intern!`): Python 3.11 keeps one table of interned
/// strings for all interpreters (they share one GIL and one object allocator), so a
/// sub-interpreter's environ may use the same key objects.
fn environ<'py>(
    py: Python<'py>,
    ctx: &Arc<RequestCtx>,
    env: &Environ<'_>,
    x: &WsgiExtras<'_>,
    app: &AppSpec<'_>,
    thread_id: u64,
    app_start: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let d = cgi_dict(py, env)?;
    d.set_item(intern!(py, "wsgi.version"), (1, 0))?;
    d.set_item(intern!(py, "wsgi.multithread"), x.multithread)?;
    d.set_item(intern!(py, "wsgi.multiprocess"), x.multiprocess)?;
    d.set_item(intern!(py, "wsgi.run_once"), false)?;
    d.set_item(intern!(py, "wsgi.url_scheme"), if x.https { "https" } else { "http" })?;
    d.set_item(intern!(py, "wsgi.input"), Py::new(py, Input::new(ctx.clone()))?)?;
    d.set_item(intern!(py, "wsgi.input_terminated"), true)?;
    d.set_item(intern!(py, "wsgi.errors"), Py::new(py, LogStream::request(ctx.clone()))?)?;
    d.set_item(intern!(py, "wsgi.file_wrapper"), py.get_type::<FileWrapper>())?;
    d.set_item(intern!(py, "mod_wsgi.version"), (6, 1, 1))?;
    d.set_item(intern!(py, "mod_wsgi.process_group"), x.process_group)?;
    d.set_item(intern!(py, "mod_wsgi.application_group"), x.application_group)?;
    d.set_item(intern!(py, "mod_wsgi.callable_object"), app.callable)?;
    d.set_item(intern!(py, "mod_wsgi.handler_script"), latin1_str(py, x.handler_script))?;
    d.set_item(intern!(py, "mod_wsgi.request_handler"), latin1_str(py, x.request_handler))?;
    // A trusted X-Script-Name put the original in the environ (with mod_wsgi.mount_point).
    let script_name_key = intern!(py, "mod_wsgi.script_name");
    if !d.contains(script_name_key)? {
        d.set_item(script_name_key, latin1_str(py, env.get("SCRIPT_NAME").unwrap_or_default()))?;
    }
    d.set_item(intern!(py, "mod_wsgi.path_info"), latin1_str(py, env.get("PATH_INFO").unwrap_or_default()))?;
    d.set_item(intern!(py, "mod_wsgi.listener_host"), latin1_str(py, x.listener_host))?;
    d.set_item(intern!(py, "mod_wsgi.listener_port"), x.listener_port.to_string())?;
    d.set_item(intern!(py, "mod_wsgi.server_pid"), x.server_pid.to_string())?;
    d.set_item(intern!(py, "mod_wsgi.request_id"), latin1_str(py, x.request_id))?;
    if let Some(c) = x.connection_id {
        d.set_item(intern!(py, "mod_wsgi.connection_id"), c.to_string())?;
    }
    d.set_item(intern!(py, "mod_wsgi.thread_id"), thread_id)?;
    d.set_item(intern!(py, "mod_wsgi.request_start"), x.request_start)?;
    d.set_item(intern!(py, "mod_wsgi.queue_start"), x.queue_start)?;
    d.set_item(intern!(py, "mod_wsgi.daemon_start"), x.daemon_start)?;
    d.set_item(intern!(py, "mod_wsgi.application_start"), app_start)?;
    d.set_item(intern!(py, "apache.version"), x.apache_version)?;
    if let Some(rec) = x.apache_request {
        d.set_item(intern!(py, "apache.request_rec"), opaque_capsule(py, rec)?)?;
    }
    Ok(d)
}

fn not_bytes(item: &Bound<'_, PyAny>) -> PyErr {
    let t = item.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    pyo3::exceptions::PyTypeError::new_err(format!("sequence of byte string values expected, value of type {t} found"))
}

fn write_item(py: Python<'_>, ctx: &RequestCtx, item: &Bound<'_, PyAny>, flush: bool) -> PyResult<()> {
    let b = item.cast::<PyBytes>().map_err(|_| not_bytes(item))?;
    let data = b.as_bytes();
    if data.is_empty() {
        return Ok(());
    }
    write_chunk(py, ctx, data, flush)
}

/// Sends the iterable: lists and tuples unflushed (Apache batches them), anything else flushed
/// per chunk (streaming), a file wrapper over a regular file through the host's file path.
fn send_result(py: Python<'_>, ctx: &RequestCtx, result: &Bound<'_, PyAny>) -> PyResult<()> {
    if let Ok(fw) = result.cast::<FileWrapper>()
        && send_file(py, ctx, fw)?
    {
        return Ok(());
    }
    if let Ok(list) = result.cast::<PyList>() {
        // Every item is checked before the first is written: a bad item is then a clean 500,
        // not a response cut after its head (nothing of a list is flushed before its end).
        for item in list.iter() {
            item.cast::<PyBytes>().map_err(|_| not_bytes(&item))?;
        }
        for item in list.iter() {
            write_item(py, ctx, &item, false)?;
        }
    } else if let Ok(t) = result.cast::<PyTuple>() {
        for item in t.iter() {
            item.cast::<PyBytes>().map_err(|_| not_bytes(&item))?;
        }
        for item in t.iter() {
            write_item(py, ctx, &item, false)?;
        }
    } else {
        for item in result.try_iter()? {
            write_item(py, ctx, &item?, true)?;
        }
    }
    // Headers go out now if the body was empty; an app that never called start_response fails.
    py.detach(|| ctx.write_body(b"", false)).map_err(write_error)
}

/// The `wsgi.file_wrapper` fast path. `Ok(false)`: not a regular file (or nothing may be sent
/// this way), iterate instead.
fn send_file(py: Python<'_>, ctx: &RequestCtx, fw: &Bound<'_, FileWrapper>) -> PyResult<bool> {
    {
        let g = ctx.lock();
        if g.head.is_none() || g.head_sent || g.written > 0 {
            return Ok(false);
        }
    }
    let filelike = fw.borrow().filelike.clone_ref(py).into_bound(py);
    let Some(fd) = filelike.call_method0("fileno").ok().and_then(|f| f.extract::<i32>().ok()) else {
        return Ok(false);
    };
    let Some(offset) = filelike.call_method0("tell").ok().and_then(|t| t.extract::<u64>().ok()) else {
        return Ok(false);
    };
    // SAFETY: fstat on a descriptor the file object owns; `st` is plain data.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 || (st.st_mode & libc::S_IFMT) != libc::S_IFREG {
        return Ok(false);
    }
    let mut len = (st.st_size as u64).saturating_sub(offset);
    {
        let mut g = ctx.lock();
        match g.content_length {
            Some(cl) => len = len.min(cl),
            None => {
                if let Some(h) = g.head.as_mut() {
                    h.headers.push((b"Content-Length".to_vec(), len.to_string().into_bytes()));
                    h.content_length = Some(len);
                }
                g.content_length = Some(len);
            }
        }
    }
    // The file object (and so `fd`) stays alive: `fw` holds it for the whole call.
    let sent = py.detach(|| ctx.send_file(fd, offset, len)).map_err(write_error)?;
    if sent {
        // Leave the file position where reading the data would have left it.
        let _ = filelike.call_method1("seek", (offset + len,));
    }
    Ok(sent)
}

/// Imports `script` at process start (daemon preloading: `WSGIImportScript`, or a
/// `WSGIScriptAlias` naming both process and application group). Failures are logged; a missing
/// callable is not one (import scripts need not define an application).
pub fn preload(script: &Path, callable: &str, group: &str) {
    prime_thread();
    let shown = script.display().to_string();
    let log = |level: LogLevel, msg: &str| super::log::host_log(level, msg);
    Python::attach(|py| {
        let r = super::groups::run_in(py, group, |py| match load_app(py, script, callable, false, None) {
            Ok(_) | Err(LoadError::NoCallable(_)) => log(
                LogLevel::Info,
                &crate::coded!("RWSGI0051", "Preloaded WSGI script '{shown}' into {}.", where_runs(group)),
            ),
            Err(LoadError::Exec(e)) => {
                log(LogLevel::Error, &crate::coded!("RWSGI0020", "Failed to exec Python script file '{shown}'."));
                log_lines(&log, LogLevel::Error, "RWSGI0021", &format_exception(py, &e));
                if let Some(h) = hint_global(py, group, &shown, &e) {
                    log(LogLevel::Error, &h);
                }
            }
        });
        if let Err(e) = r {
            log(LogLevel::Error, &group_failed(group, &e));
        }
    });
}
