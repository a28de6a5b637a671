//! `wsgi.input`: the request body, read through the host (Apache's input filters) on demand.
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::context::RequestCtx;

const CHUNK: usize = 64 * 1024;

struct State {
    /// Storage; the unread data is `buf[pos..end]`. Only grown (zero-filled once), never
    /// shrunk, so repeated reads do not pay for clearing memory again.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
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

impl State {
    /// How many buffered bytes satisfy `want`, or None if more must be read first.
    fn ready(&self, want: Want) -> Option<usize> {
        let avail = &self.buf[self.pos..self.end];
        let n = match want {
            Want::Bytes(n) if n >= 0 => {
                if avail.len() >= n as usize {
                    n as usize
                } else {
                    return self.eof.then_some(avail.len());
                }
            }
            Want::Bytes(_) => return self.eof.then_some(avail.len()),
            Want::Line(n) => {
                let limit = if n >= 0 { (n as usize).min(avail.len()) } else { avail.len() };
                match avail[..limit].iter().position(|c| *c == b'\n') {
                    Some(i) => i + 1,
                    None if n >= 0 && avail.len() >= n as usize => n as usize,
                    None => return self.eof.then_some(avail.len()),
                }
            }
        };
        Some(n)
    }
}

impl Input {
    pub(crate) fn new(ctx: Arc<RequestCtx>) -> Self {
        Input { ctx, state: Mutex::new(State { buf: Vec::new(), pos: 0, end: 0, eof: false, error: None }) }
    }

    /// Reads from the host until `want` can be satisfied. Runs without the GIL: it locks
    /// `state`, then `ctx` for each host read.
    fn fill(&self, want: Want) -> Result<(), String> {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let st = &mut *guard;
        if let Some(e) = &st.error {
            return Err(format!("mod_wsgi_rs input is already in error state: {e}"));
        }
        while st.ready(want).is_none() {
            if st.pos == st.end {
                // Body bytes the host already holds become the buffer (no copy, no zeroing).
                let mut g = self.ctx.lock();
                let g = &mut *g;
                if let Some(v) = g.io.as_mut().and_then(|io| io.take_prefetched()).filter(|v| !v.is_empty()) {
                    g.stats.input_reads += 1;
                    g.stats.input_length += v.len() as u64;
                    st.buf = v;
                    st.pos = 0;
                    st.end = st.buf.len();
                    continue;
                }
            }
            if st.pos > 0 {
                st.buf.copy_within(st.pos..st.end, 0);
                st.end -= st.pos;
                st.pos = 0;
            }
            let grow = match want {
                Want::Bytes(n) if n >= 0 => (n as usize - st.end).clamp(1, 1 << 20),
                _ => CHUNK,
            };
            if st.buf.len() < st.end + grow {
                st.buf.resize(st.end + grow, 0);
            }
            let r = {
                let mut g = self.ctx.lock();
                let g = &mut *g;
                let t0 = g.stats.timed.then(std::time::Instant::now);
                let r = match g.io.as_mut() {
                    Some(io) => io.read(&mut st.buf[st.end..st.end + grow]),
                    None => Err(std::io::Error::other("request has already completed")),
                };
                g.stats.input_reads += 1;
                if let Ok(k) = r {
                    g.stats.input_length += k as u64;
                }
                if let Some(t0) = t0 {
                    g.stats.input_ns += t0.elapsed().as_nanos() as u64;
                }
                r
            };
            match r {
                Ok(0) => st.eof = true,
                Ok(k) => st.end += k,
                Err(e) => {
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
        Ok(())
    }

    fn read_py<'py>(&self, py: Python<'py>, want: Want) -> PyResult<Bound<'py, PyBytes>> {
        py.detach(|| self.fill(want)).map_err(PyOSError::new_err)?;
        // Copy out with the GIL held: creating a bytes object runs no Python code, so holding
        // `state` here cannot deadlock. Another thread may have consumed data meanwhile, so
        // recompute what is ready.
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let n = st.ready(want).unwrap_or(st.end - st.pos);
        let out = PyBytes::new(py, &st.buf[st.pos..st.pos + n]);
        st.pos += n;
        if st.pos == st.end {
            st.pos = 0;
            st.end = 0;
        }
        Ok(out)
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
