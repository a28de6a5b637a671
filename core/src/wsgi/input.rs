//! `wsgi.input`: the request body, read through the host (Apache's input filters) on demand.
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::context::RequestCtx;

const CHUNK: usize = 64 * 1024;

struct State {
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    /// Set by the first failed read; every later read raises.
    error: Option<String>,
}

#[pyclass(module = "mod_wsgi")]
pub struct Input {
    ctx: Arc<RequestCtx>,
    state: Mutex<State>,
}

/// How much to read for one call.
#[derive(Clone, Copy)]
enum Want {
    /// Up to n bytes (n < 0: everything).
    Bytes(isize),
    /// Up to and including a newline, at most n bytes (n < 0: no limit).
    Line(isize),
}

impl Input {
    pub(crate) fn new(ctx: Arc<RequestCtx>) -> Self {
        Input { ctx, state: Mutex::new(State { buf: Vec::new(), pos: 0, eof: false, error: None }) }
    }

    /// Fills the buffer until `want` can be satisfied and returns the bytes. Runs without the GIL:
    /// it locks `state`, then `ctx` for each host read.
    fn take(&self, want: Want) -> Result<Vec<u8>, String> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = &st.error {
            return Err(format!("mod_wsgi_rs input is already in error state: {e}"));
        }
        loop {
            let avail = &st.buf[st.pos..];
            let ready = match want {
                Want::Bytes(n) => n >= 0 && avail.len() >= n as usize,
                Want::Line(n) => avail.contains(&b'\n') || (n >= 0 && avail.len() >= n as usize),
            };
            if ready || st.eof {
                break;
            }
            // Compact before growing.
            if st.pos > 0 {
                let pos = st.pos;
                st.buf.drain(..pos);
                st.pos = 0;
            }
            let old = st.buf.len();
            let grow = match want {
                Want::Bytes(n) if n >= 0 => (n as usize - old).clamp(1, 1 << 20),
                _ => CHUNK,
            };
            st.buf.resize(old + grow, 0);
            let r = {
                let mut g = self.ctx.lock();
                match g.io.as_mut() {
                    Some(io) => io.read(&mut st.buf[old..]),
                    None => Err(std::io::Error::other("request has already completed")),
                }
            };
            match r {
                Ok(0) => {
                    st.buf.truncate(old);
                    st.eof = true;
                }
                Ok(k) => st.buf.truncate(old + k),
                Err(e) => {
                    st.buf.truncate(old);
                    let msg = if e.kind() == std::io::ErrorKind::ConnectionAborted
                        || e.kind() == std::io::ErrorKind::TimedOut
                    {
                        format!("connection was terminated: {e}")
                    } else {
                        e.to_string()
                    };
                    st.error = Some(msg.clone());
                    return Err(format!("mod_wsgi_rs request data read error: {msg}"));
                }
            }
        }
        let avail = &st.buf[st.pos..];
        let n = match want {
            Want::Bytes(n) if n >= 0 => avail.len().min(n as usize),
            Want::Bytes(_) => avail.len(),
            Want::Line(n) => {
                let end = avail.iter().position(|c| *c == b'\n').map(|i| i + 1).unwrap_or(avail.len());
                if n >= 0 { end.min(n as usize) } else { end }
            }
        };
        let out = avail[..n].to_vec();
        st.pos += n;
        if st.pos == st.buf.len() {
            st.buf.clear();
            st.pos = 0;
        }
        Ok(out)
    }

    fn read_py<'py>(&self, py: Python<'py>, want: Want) -> PyResult<Bound<'py, PyBytes>> {
        let data = py.detach(|| self.take(want)).map_err(PyOSError::new_err)?;
        Ok(PyBytes::new(py, &data))
    }
}

fn size_arg(size: Option<&Bound<'_, PyAny>>) -> PyResult<isize> {
    match size {
        None => Ok(-1),
        Some(s) if s.is_none() => Ok(-1),
        Some(s) => s.extract::<isize>(),
    }
}

#[pymethods]
impl Input {
    #[pyo3(signature = (size=None))]
    fn read<'py>(&self, py: Python<'py>, size: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyBytes>> {
        let n = size_arg(size)?;
        self.read_py(py, Want::Bytes(n))
    }

    #[pyo3(signature = (size=None))]
    fn readline<'py>(&self, py: Python<'py>, size: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyBytes>> {
        let n = size_arg(size)?;
        self.read_py(py, Want::Line(n))
    }

    #[pyo3(signature = (hint=None))]
    fn readlines<'py>(&self, py: Python<'py>, hint: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyList>> {
        let hint = size_arg(hint)?;
        let out = PyList::empty(py);
        let mut total = 0usize;
        loop {
            let line = self.read_py(py, Want::Line(-1))?;
            let len = line.as_bytes().len();
            if len == 0 {
                break;
            }
            out.append(line)?;
            total += len;
            if hint > 0 && total >= hint as usize {
                break;
            }
        }
        Ok(out)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let line = self.read_py(py, Want::Line(-1))?;
        Ok(if line.as_bytes().is_empty() { None } else { Some(line) })
    }

    fn close(&self) {}
}
