//! Python output to Apache's error log: `sys.stdout`, `sys.stderr` and `wsgi.errors` are
//! [`LogStream`]s that log one line per call (Apache escapes newlines inside a message).
//!
//! `sys.stdout`/`sys.stderr` are process-wide (one pair per interpreter), but what a thread
//! writes to them while it runs a request belongs to that request, as under mod_wsgi: from
//! [`route_stdio`] until its guard drops, the thread's lines go through the request (its virtual
//! host's log, with Apache's `[client …]` decoration). Other threads, and the same thread
//! outside a request (start-up imports, `atexit`), log to the process log.
use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;

use super::context::RequestCtx;
use super::io::LogLevel;

pub use crate::hostlog::{host_log, set_host_logger};

/// Logs each line of a multi-line text with `code` in front, e.g. a traceback.
pub(crate) fn log_lines(sink: &dyn Fn(LogLevel, &str), level: LogLevel, code: &str, text: &str) {
    for line in text.lines() {
        sink(level, &format!("{code}: {line}"));
    }
}

/// The process-wide streams: index into [`ThreadRequest::pending`] and [`STD_CODES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StdStream {
    Out = 0,
    Err = 1,
}

/// Log code of each [`StdStream`]'s lines.
const STD_CODES: [&str; 2] = ["RWSGI0031", "RWSGI0030"];

/// The request the current OS thread is running, for `sys.stdout`/`sys.stderr`. Rust-level and
/// per OS thread, so the same for every interpreter the thread switches into.
struct ThreadRequest {
    ctx: Option<Arc<RequestCtx>>,
    /// Partial lines this thread wrote to sys.stdout / sys.stderr during `ctx` (empty strings
    /// allocate nothing).
    pending: [String; 2],
}

thread_local! {
    static CURRENT: RefCell<ThreadRequest> =
        const { RefCell::new(ThreadRequest { ctx: None, pending: [String::new(), String::new()] }) };
}

/// Routes the calling thread's `sys.stdout`/`sys.stderr` lines to `ctx` until dropped; then
/// logs their unfinished lines to `ctx` too. Costs one thread-local swap and one `Arc` count
/// per request, no allocation. Drop it before `ctx.finish()` (the leftovers need the live
/// request for its log) and on the thread that made it.
#[must_use]
pub(crate) struct StdioRoute {
    prev: Option<Arc<RequestCtx>>,
}

pub(crate) fn route_stdio(ctx: &Arc<RequestCtx>) -> StdioRoute {
    let prev = CURRENT.try_with(|c| c.borrow_mut().ctx.replace(ctx.clone())).ok().flatten();
    StdioRoute { prev }
}

impl Drop for StdioRoute {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let left = CURRENT.try_with(|c| {
            let mut c = c.borrow_mut();
            let ctx = std::mem::replace(&mut c.ctx, prev)?;
            let out = std::mem::take(&mut c.pending[0]);
            let err = std::mem::take(&mut c.pending[1]);
            Some((ctx, out, err))
        });
        // Logged after the borrow ends (logging runs no Python, but keep the borrow short).
        if let Ok(Some((ctx, out, err))) = left {
            for (code, p) in STD_CODES.iter().zip([out, err]) {
                if !p.is_empty() {
                    ctx.log(LogLevel::Error, &format!("{code}: {p}"));
                }
            }
        }
    }
}

/// Moves `text` into `pending`; returns its complete lines (and, with `all`, the rest).
fn split_lines(pending: &mut String, text: &str, all: bool) -> Vec<String> {
    pending.push_str(text);
    let mut out = Vec::new();
    while let Some(i) = pending.find('\n') {
        out.push(pending[..i].trim_end_matches('\r').to_string());
        pending.drain(..=i);
    }
    if all && !pending.is_empty() {
        out.push(std::mem::take(pending));
    }
    out
}

/// Where a stream's lines go.
enum Target {
    /// `wsgi.errors`: always its request (lines carry the client decoration).
    Request(Arc<RequestCtx>),
    /// `sys.stdout`/`sys.stderr`: the calling thread's request if any, else the process log.
    Std(StdStream),
}

/// A text stream that turns complete lines into log lines. Partial lines wait for the newline or
/// `flush()`.
#[pyclass(module = "mod_wsgi")]
pub struct LogStream {
    name: &'static str,
    code: &'static str,
    /// Partial line of `wsgi.errors`, or of a std stream written outside any request.
    pending: Mutex<String>,
    target: Target,
}

impl LogStream {
    /// `wsgi.errors` of `request`.
    pub(crate) fn request(request: Arc<RequestCtx>) -> Self {
        LogStream {
            name: "<wsgi.errors>",
            code: "RWSGI0030",
            pending: Mutex::new(String::new()),
            target: Target::Request(request),
        }
    }

    /// `sys.stdout` or `sys.stderr` of an interpreter.
    pub(crate) fn std(which: StdStream) -> Self {
        let name = if which == StdStream::Out { "<stdout>" } else { "<stderr>" };
        LogStream {
            name,
            code: STD_CODES[which as usize],
            pending: Mutex::new(String::new()),
            target: Target::Std(which),
        }
    }

    fn emit(&self, py: Python<'_>, lines: Vec<String>, req: Option<Arc<RequestCtx>>) {
        if lines.is_empty() {
            return;
        }
        let code = self.code;
        // Logging may block on the log file: do it without the GIL.
        py.detach(move || {
            for l in &lines {
                let msg = format!("{code}: {l}");
                match &req {
                    Some(r) => r.log(LogLevel::Error, &msg),
                    None => host_log(LogLevel::Error, &msg),
                }
            }
        });
    }

    /// Adds `text` (`all`: and flushes) to the right buffer; returns the lines to log and the
    /// request they belong to (`None`: the process log).
    fn take_lines(&self, text: &str, all: bool) -> (Vec<String>, Option<Arc<RequestCtx>>) {
        let own = |req| {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            (split_lines(&mut p, text, all), req)
        };
        match &self.target {
            Target::Request(r) => own(Some(r.clone())),
            Target::Std(which) => {
                let routed = CURRENT.try_with(|c| {
                    let c = &mut *c.borrow_mut();
                    let ctx = c.ctx.as_ref()?;
                    let lines = split_lines(&mut c.pending[*which as usize], text, all);
                    // No `Arc` count for a write that completes no line.
                    let req = (!lines.is_empty()).then(|| ctx.clone());
                    Some((lines, req))
                });
                match routed {
                    Ok(Some((lines, req))) => (lines, req),
                    _ => own(None),
                }
            }
        }
    }
}

#[pymethods]
impl LogStream {
    fn write(&self, py: Python<'_>, text: &str) -> usize {
        let (lines, req) = self.take_lines(text, false);
        self.emit(py, lines, req);
        text.chars().count()
    }

    fn writelines(&self, py: Python<'_>, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for item in lines.try_iter()? {
            let item = item?;
            self.write(py, item.extract::<&str>()?);
        }
        Ok(())
    }

    fn flush(&self, py: Python<'_>) {
        let (lines, req) = self.take_lines("", true);
        self.emit(py, lines, req);
    }

    fn close(&self, py: Python<'_>) {
        self.flush(py);
    }

    fn isatty(&self) -> bool {
        false
    }

    fn readable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        true
    }

    fn seekable(&self) -> bool {
        false
    }

    fn fileno(&self) -> PyResult<i32> {
        Err(pyo3::exceptions::PyOSError::new_err("the error log stream has no file descriptor"))
    }

    #[getter]
    fn name(&self) -> &'static str {
        self.name
    }

    #[getter]
    fn closed(&self) -> bool {
        false
    }

    #[getter]
    fn encoding(&self) -> &'static str {
        "utf-8"
    }

    #[getter]
    fn errors(&self) -> &'static str {
        "backslashreplace"
    }

    #[getter]
    fn line_buffering(&self) -> bool {
        true
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        // Whatever is left without a newline is still worth logging.
        let p = std::mem::take(self.pending.get_mut().unwrap_or_else(|e| e.into_inner()));
        if !p.is_empty() {
            let msg = format!("{}: {p}", self.code);
            match &self.target {
                Target::Request(r) => r.log(LogLevel::Error, &msg),
                Target::Std(_) => host_log(LogLevel::Error, &msg),
            }
        }
    }
}

/// The full traceback of `e` as text.
pub(crate) fn format_exception(py: Python<'_>, e: &PyErr) -> String {
    let r = py
        .import("traceback")
        .and_then(|tb| tb.getattr("format_exception")?.call1((e.get_type(py), e.value(py), e.traceback(py))))
        .and_then(|lines| lines.try_iter()?.map(|l| l?.extract::<String>()).collect::<PyResult<Vec<_>>>());
    match r {
        Ok(lines) => lines.concat(),
        Err(_) => e.to_string(),
    }
}
