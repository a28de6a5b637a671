//! `wsgi.file_wrapper`: an iterable over a file-like object. When an app returns one wrapping a
//! regular file, [`super::run`] hands the file descriptor to the host instead of iterating.
use pyo3::prelude::*;

#[pyclass(module = "mod_wsgi")]
pub struct FileWrapper {
    pub(crate) filelike: Py<PyAny>,
    pub(crate) blksize: usize,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, blksize=8192))]
    fn new(filelike: Py<PyAny>, blksize: isize) -> Self {
        FileWrapper { filelike, blksize: if blksize > 0 { blksize as usize } else { 8192 } }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let data = self.filelike.bind(py).call_method1("read", (self.blksize,))?;
        Ok(if data.len()? == 0 { None } else { Some(data) })
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let f = self.filelike.bind(py);
        if f.hasattr("close")? {
            f.call_method0("close")?;
        }
        Ok(())
    }
}
