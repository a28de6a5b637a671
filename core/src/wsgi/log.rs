//! Python output to Apache's error log: `sys.stdout`, `sys.stderr` and `wsgi.errors` are
//! [`LogStream`]s that log one line per call (Apache escapes newlines inside a message).
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

/// A text stream that turns complete lines into log lines. Partial lines wait for the newline or
/// `flush()`.
#[pyclass(module = "mod_wsgi")]
pub struct LogStream {
    name: String,
    code: &'static str,
    pending: Mutex<String>,
    /// `Some` for `wsgi.errors`: lines carry the request's client decoration.
    request: Option<Arc<RequestCtx>>,
}

impl LogStream {
    pub(crate) fn new(name: &str, code: &'static str, request: Option<Arc<RequestCtx>>) -> Self {
        LogStream { name: name.to_string(), code, pending: Mutex::new(String::new()), request }
    }

    fn emit(&self, py: Python<'_>, lines: Vec<String>) {
        if lines.is_empty() {
            return;
        }
        let code = self.code;
        let req = self.request.clone();
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

    fn take_lines(&self, text: &str, all: bool) -> Vec<String> {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.push_str(text);
        let mut out = Vec::new();
        while let Some(i) = p.find('\n') {
            out.push(p[..i].trim_end_matches('\r').to_string());
            p.drain(..=i);
        }
        if all && !p.is_empty() {
            out.push(std::mem::take(&mut *p));
        }
        out
    }
}

#[pymethods]
impl LogStream {
    fn write(&self, py: Python<'_>, text: &str) -> usize {
        let lines = self.take_lines(text, false);
        self.emit(py, lines);
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
        let lines = self.take_lines("", true);
        self.emit(py, lines);
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
    fn name(&self) -> String {
        self.name.clone()
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
            match &self.request {
                Some(r) => r.log(LogLevel::Error, &msg),
                None => host_log(LogLevel::Error, &msg),
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
