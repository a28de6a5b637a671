//! `start_response` and the `write()` callable it returns (PEP 3333 §"The start_response()
//! Callable"), with mod_wsgi's validation of status and headers.
use std::sync::Arc;

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use super::context::{RequestCtx, WriteError};
use super::io::ResponseHead;

/// `NNN reason` (or a bare `NNN`, which mod_wsgi accepts): three digits, then a space and a
/// reason without control characters. Returns the code.
pub fn validate_status(status: &[u8]) -> Result<u16, String> {
    let bad = || format!("invalid status line {:?}: expected 'NNN reason'", String::from_utf8_lossy(status));
    if status.len() < 3 || (status.len() > 3 && status[3] != b' ') || !status[..3].iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    if status.iter().any(|c| c.is_ascii_control()) {
        return Err(format!("status line {:?} contains a control character", String::from_utf8_lossy(status)));
    }
    let code: u16 = std::str::from_utf8(&status[..3]).unwrap().parse().map_err(|_| bad())?;
    if !(100..=999).contains(&code) {
        return Err(bad());
    }
    Ok(code)
}

/// Header names: non-empty token characters (no spaces, colons or controls); values: no control
/// characters except horizontal tab (so no CR/LF: no header injection).
pub fn validate_header(name: &[u8], value: &[u8]) -> Result<(), String> {
    let n = String::from_utf8_lossy(name);
    if name.is_empty() {
        return Err("header name must not be empty".into());
    }
    if name.iter().any(|c| c.is_ascii_control() || *c == b' ' || *c == b':' || *c >= 0x7f) {
        return Err(format!("header name {n:?} contains an invalid character"));
    }
    if value.iter().any(|c| (c.is_ascii_control() && *c != b'\t') || *c == 0x7f) {
        return Err(format!("header value for {n:?} contains a control character (CR/LF are not allowed)"));
    }
    Ok(())
}

/// A `str` made only of latin-1 code points, as bytes (PEP 3333 "native strings").
fn latin1(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    let s = obj.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!("{what} must be of type str, not {}", type_name(obj)))
    })?;
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
                return Err(PyRuntimeError::new_err("headers have already been set (start_response called twice without exc_info)"));
            }
        }
        let status_b = latin1(status, "status line")?;
        let code = validate_status(&status_b).map_err(PyValueError::new_err)?;
        let list = headers.cast::<PyList>().map_err(|_| {
            PyTypeError::new_err(format!("response headers must be a list, not {}", type_name(headers)))
        })?;
        let mut out = Vec::with_capacity(list.len());
        let mut content_length = None;
        for item in list.iter() {
            let pair = item.cast::<PyTuple>().map_err(|_| {
                PyTypeError::new_err(format!("response header must be a tuple, not {}", type_name(&item)))
            })?;
            if pair.len() != 2 {
                return Err(PyValueError::new_err(format!("response header must be a (name, value) tuple, got {} items", pair.len())));
            }
            let name = latin1(&pair.get_item(0)?, "header name")?;
            let value = latin1(&pair.get_item(1)?, "header value")?;
            validate_header(&name, &value).map_err(PyValueError::new_err)?;
            if name.eq_ignore_ascii_case(b"content-length") {
                let v = std::str::from_utf8(&value).ok().and_then(|s| s.trim().parse::<u64>().ok());
                content_length = Some(v.ok_or_else(|| {
                    PyValueError::new_err(format!("invalid Content-Length header value {:?}", String::from_utf8_lossy(&value)))
                })?);
            }
            out.push((name, value));
        }
        let mut g = self.ctx.lock();
        g.head = Some(ResponseHead { status: status_b, code, headers: out });
        g.content_length = content_length;
        drop(g);
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
        let b = data.cast::<PyBytes>().map_err(|_| {
            PyTypeError::new_err(format!("write() argument must be bytes, not {}", type_name(data)))
        })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_rules() {
        assert_eq!(validate_status(b"200 OK"), Ok(200));
        assert_eq!(validate_status(b"404 "), Ok(404));
        assert_eq!(validate_status(b"200"), Ok(200));
        assert!(validate_status(b"20").is_err());
        assert!(validate_status(b"20x OK").is_err());
        assert!(validate_status(b"200OK").is_err());
        assert!(validate_status(b"200 OK\r\nX: y").is_err());
    }

    #[test]
    fn header_rules() {
        assert!(validate_header(b"X-Ok", b"a\tb").is_ok());
        assert!(validate_header(b"", b"v").is_err());
        assert!(validate_header(b"X Bad", b"v").is_err());
        assert!(validate_header(b"X-Bad:", b"v").is_err());
        assert!(validate_header(b"X-Inject", b"a\r\nSet-Cookie: x").is_err());
        assert!(validate_header(b"X-Nul", b"a\0b").is_err());
    }
}
