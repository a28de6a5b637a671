//! Loading WSGI script files as modules, cached per path, re-imported when the file changes
//! (`WSGIScriptReloading On`).
use std::collections::HashMap;
use std::ffi::CString;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use pyo3::exceptions::{PyAttributeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyModule;
use std::sync::LazyLock;

/// Modification time as (seconds, nanoseconds): the reload trigger.
type Stamp = (i64, i64);

struct Loaded {
    module: Py<PyModule>,
    stamp: Stamp,
}

/// Contract: never held while Python code runs (module execution can release the GIL and another
/// thread could then block here while holding it). Look up, unlock, load, lock, insert.
static CACHE: LazyLock<Mutex<HashMap<PathBuf, Loaded>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// Microseconds since the epoch of the first failed script import not yet followed by a
/// successful one (0: none). Read by the daemon monitor for `startup-timeout`.
static FAILING_SINCE_US: AtomicI64 = AtomicI64::new(0);

pub fn failing_since_us() -> i64 {
    FAILING_SINCE_US.load(Ordering::Acquire)
}

fn note_load(ok: bool) {
    if ok {
        FAILING_SINCE_US.store(0, Ordering::Release);
    } else {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(1);
        let _ = FAILING_SINCE_US.compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// Why an application could not be obtained; each maps to its own log line.
pub(crate) enum LoadError {
    /// The script raised or failed to compile.
    Exec(PyErr),
    /// The script ran but has no such callable.
    NoCallable(PyErr),
}

/// `_mod_wsgi_<hash of the path>`, as mod_wsgi names script modules (hash differs: not md5).
fn module_name(path: &Path) -> String {
    let mut h = DefaultHasher::new();
    path.hash(&mut h);
    format!("_mod_wsgi_{:016x}", h.finish())
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let m = std::fs::metadata(path)?;
    Ok((m.mtime(), m.mtime_nsec()))
}

fn exec_script<'py>(py: Python<'py>, path: &Path) -> PyResult<Bound<'py, PyModule>> {
    let source = std::fs::read(path)?;
    let code = CString::new(source)
        .map_err(|_| PyValueError::new_err(format!("source code of {} contains a NUL byte", path.display())))?;
    let file = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| PyValueError::new_err("script path contains a NUL byte"))?;
    let name = CString::new(module_name(path)).unwrap();
    PyModule::from_code(py, &code, &file, &name)
}

/// Returns the application callable of the script at `path`; `reload` re-imports the script when
/// its modification time changed. The returned flag says whether the script was (re)loaded now.
pub(crate) fn load_app<'py>(
    py: Python<'py>,
    path: &Path,
    callable: &str,
    reload: bool,
) -> Result<(Bound<'py, PyAny>, bool), LoadError> {
    let current = if reload || !CACHE.lock().unwrap_or_else(|e| e.into_inner()).contains_key(path) {
        Some(stamp(path).map_err(|e| LoadError::Exec(e.into()))?)
    } else {
        None
    };
    let cached = {
        let cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(path).filter(|l| current.is_none_or(|s| s == l.stamp)).map(|l| l.module.clone_ref(py))
    };
    let (module, loaded) = match cached {
        Some(m) => (m.into_bound(py), false),
        None => {
            let m = exec_script(py, path).map_err(|e| {
                note_load(false);
                LoadError::Exec(e)
            })?;
            note_load(true);
            let st = current.unwrap_or((0, 0));
            let old = CACHE
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(path.to_path_buf(), Loaded { module: m.clone().unbind(), stamp: st });
            // Dropped with the GIL held (we are attached), outside the lock.
            drop(old);
            (m, true)
        }
    };
    let app = module.getattr(callable).map_err(|_| {
        LoadError::NoCallable(PyAttributeError::new_err(format!(
            "Target WSGI script '{}' does not contain WSGI application '{callable}'.",
            path.display()
        )))
    })?;
    Ok((app, loaded))
}
