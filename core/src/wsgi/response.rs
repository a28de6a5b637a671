//! `start_response` and the `write()` callable it returns (PEP 3333 §"The start_response()
//! Callable"), with mod_wsgi's validation of status and headers.
use std::sync::Arc;

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use super::context::{RequestCtx, WriteError};
use super::io::ResponseHead;
use crate::framing::{check_head, check_status};

/// A `str` made only of latin-1 code points, as bytes (PEP 3333 "native strings").
fn latin1(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    let s = obj
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be of type str, not {}", type_name(obj))))?;
    let text = s.to_cow()?;
    let mut out = Vec::with_capacity(text.len());
    for ch in text.chars() {
        let c = ch as u32;
        if c > 0xff {
            return Err(PyValueError::new_err(format!("{what} {text:?} is not representable in latin-1")));
        }
        out.push(c as u8);
    }
    Ok(out)
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

#[pyclass(module = "mod_wsgi")]
pub struct StartResponse {
    pub(crate) ctx: Arc<RequestCtx>,
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info=None))]
    fn __call__(
        &self,
        py: Python<'_>,
        status: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<Write>> {
        let exc_info = exc_info.filter(|e| !e.is_none());
        {
            let g = self.ctx.lock();
            if let Some(exc) = exc_info {
                if g.head_sent {
                    drop(g);
                    // PEP 3333: headers already went out, so re-raise the app's exception.
                    let t = exc.cast::<PyTuple>().map_err(|_| PyTypeError::new_err("exc_info must be a tuple"))?;
                    let value = t.get_item(1)?;
                    return Err(PyErr::from_value(value));
                }
            } else if g.head.is_some() {
                return Err(PyRuntimeError::new_err(
                    "headers have already been set (start_response called twice without exc_info)",
                ));
            }
        }
        let status_b = latin1(status, "status line")?;
        check_status(&status_b).map_err(PyValueError::new_err)?;
        let list = headers.cast::<PyList>().map_err(|_| {
            PyTypeError::new_err(format!("response headers must be a list, not {}", type_name(headers)))
        })?;
        let mut out = Vec::with_capacity(list.len());
        for item in list.iter() {
            let pair = item.cast::<PyTuple>().map_err(|_| {
                PyTypeError::new_err(format!("response header must be a tuple, not {}", type_name(&item)))
            })?;
            if pair.len() != 2 {
                return Err(PyValueError::new_err(format!(
                    "response header must be a (name, value) tuple, got {} items",
                    pair.len()
                )));
            }
            let name = latin1(&pair.get_item(0)?, "header name")?;
            let value = latin1(&pair.get_item(1)?, "header value")?;
            out.push((name, value));
        }
        // One rule set for both modes (framing.rs); the Apache child applies it again to a
        // daemon's head.
        let framing = check_head(&status_b, out.iter().map(|(k, v)| (k.as_slice(), v.as_slice())))
            .map_err(PyValueError::new_err)?;
        let mut g = self.ctx.lock();
        g.head = Some(ResponseHead {
            status: status_b,
            code: framing.code,
            headers: out,
            content_length: framing.content_length,
        });
        g.content_length = framing.content_length;
        drop(g);
        super::events::response_started(py, status, headers, exc_info);
        Py::new(py, Write { ctx: self.ctx.clone() })
    }
}

/// The legacy `write(data)` callable returned by `start_response`: sends and flushes at once.
#[pyclass(module = "mod_wsgi")]
pub struct Write {
    ctx: Arc<RequestCtx>,
}

#[pymethods]
impl Write {
    fn __call__(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let b = data
            .cast::<PyBytes>()
            .map_err(|_| PyTypeError::new_err(format!("write() argument must be bytes, not {}", type_name(data))))?;
        write_chunk(py, &self.ctx, b.as_bytes(), true)
    }
}

/// Writes one chunk with the GIL released. `data` borrows an immutable `bytes` the caller holds.
pub(crate) fn write_chunk(py: Python<'_>, ctx: &RequestCtx, data: &[u8], flush: bool) -> PyResult<()> {
    py.detach(|| ctx.write_body(data, flush)).map_err(write_error)
}

pub(crate) fn write_error(e: WriteError) -> PyErr {
    match e {
        WriteError::NoHead => PyRuntimeError::new_err("response output before start_response() was called"),
        WriteError::Finished => PyOSError::new_err("request has already completed"),
        WriteError::Io(e) => PyOSError::new_err(format!("mod_wsgi_rs client connection closed: {e}")),
    }
}
