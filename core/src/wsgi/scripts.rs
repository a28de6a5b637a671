//! Loading WSGI script files as modules, cached per (interpreter, path), re-imported when the
//! file changes (`WSGIScriptReloading On`). Each application group imports a script on its own.
use std::collections::HashMap;
use std::ffi::CString;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use pyo3::exceptions::{PyAttributeError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyModule;
use std::sync::LazyLock;

/// A script file's modification time (seconds, nanoseconds), to the microsecond: the reload
/// trigger. Microseconds are what Apache's `r->finfo` holds, so a stamp taken from the Apache
/// child's stat of the script and one from a stat here always agree ([`stamp_of`],
/// [`stamp_from_us`]).
pub type Stamp = (i64, i64);

/// The stamp of a file's metadata.
pub fn stamp_of(m: &std::fs::Metadata) -> Stamp {
    (m.mtime(), m.mtime_nsec() / 1000 * 1000)
}

/// The stamp of a modification time in microseconds since the epoch (APR's `apr_time_t`).
pub fn stamp_from_us(us: i64) -> Stamp {
    (us.div_euclid(1_000_000), us.rem_euclid(1_000_000) * 1000)
}

struct Loaded {
    module: Py<PyModule>,
    stamp: Stamp,
}

/// The outcome of one import, shared by the request that runs it and the requests waiting for it.
type ImportResult = Result<Py<PyModule>, PyErr>;

/// One import of a script under way: its requests wait on `done` (detached from the GIL) until
/// the importing request publishes the outcome.
#[derive(Default)]
struct Import {
    done: Mutex<Option<ImportResult>>,
    cv: Condvar,
}

impl Import {
    /// Blocks until the outcome is published. Call detached from the GIL: the importer needs it.
    fn wait(&self) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        while done.is_none() {
            done = self.cv.wait(done).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn publish(&self, result: ImportResult) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        self.cv.notify_all();
    }

    /// The published outcome, for a waiter (attached again).
    fn outcome(&self, py: Python<'_>) -> ImportResult {
        match &*self.done.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(Ok(m)) => Ok(m.clone_ref(py)),
            Some(Err(e)) => Err(e.clone_ref(py)),
            None => Err(PyRuntimeError::new_err("script import ended without an outcome")),
        }
    }
}

/// What the cache knows of one script path.
#[derive(Default)]
struct Entry {
    /// The module last imported successfully, and the stamp it was imported at.
    loaded: Option<Loaded>,
    /// The per-script import lock: set while a request imports (or re-imports) the script;
    /// the other requests for it wait for that import instead of running the script again.
    importing: Option<Arc<Import>>,
}

/// Contract: never held while Python code runs (module execution can release the GIL and another
/// thread could then block here while holding it). Look up, unlock, load, lock, insert. The
/// per-script import lock is `Entry::importing`, waited on with the GIL released, so a slow
/// import blocks only the requests for that script.
static CACHE: LazyLock<Mutex<HashMap<Key, Entry>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// (interpreter address, script path): a module belongs to the interpreter that imported it.
type Key = (usize, PathBuf);

/// Held by the importing request: whatever happens (even a panic), the import lock is released
/// and the waiters are woken with an outcome.
struct Importing<'a> {
    key: &'a Key,
    import: Arc<Import>,
    result: Option<ImportResult>,
}

impl Drop for Importing<'_> {
    fn drop(&mut self) {
        {
            let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = cache.get_mut(self.key)
                && entry.importing.as_ref().is_some_and(|i| Arc::ptr_eq(i, &self.import))
            {
                entry.importing = None;
            }
        }
        let result =
            self.result.take().unwrap_or_else(|| Err(PyRuntimeError::new_err("script import did not complete")));
        self.import.publish(result);
    }
}

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

/// The stamp of the file at `path` (one stat).
pub fn stamp(path: &Path) -> std::io::Result<Stamp> {
    Ok(stamp_of(&std::fs::metadata(path)?))
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

/// What a request does about the script, decided under the CACHE lock.
enum Step {
    /// The loaded module is current.
    Use(Py<PyModule>),
    /// Another request is importing it: wait for that import.
    Wait(Arc<Import>),
    /// This request imports it; the others wait.
    Import(Arc<Import>),
}

/// Returns the application callable of the script at `path`; `reload` re-imports the script when
/// its modification time changed. The returned flag says whether the script was (re)loaded now.
/// A script is imported once per process: concurrent requests for it wait for the one import
/// (with the GIL released) and share its module, or its error.
pub(crate) fn load_app<'py>(
    py: Python<'py>,
    path: &Path,
    callable: &str,
    reload: bool,
    known: Option<Stamp>,
) -> Result<(Bound<'py, PyAny>, bool), LoadError> {
    let (module, loaded) = load_module(py, path, reload, known).map_err(LoadError::Exec)?;
    let app = module.getattr(callable).map_err(|_| {
        LoadError::NoCallable(PyAttributeError::new_err(format!(
            "Target WSGI script '{}' does not contain WSGI application '{callable}'.",
            path.display()
        )))
    })?;
    Ok((app, loaded))
}

/// The module of the script at `path` in the current interpreter, imported once per process
/// (and again when changed, with `reload`), as [`load_app`] describes; the flag says whether it
/// was (re)loaded now. `known`: the file's stamp if the caller stat'ed it for this request
/// already (a daemon process, for its restart-on-change check), so it is not stat'ed twice.
pub(crate) fn load_module<'py>(
    py: Python<'py>,
    path: &Path,
    reload: bool,
    known: Option<Stamp>,
) -> PyResult<(Bound<'py, PyAny>, bool)> {
    let key: Key = (super::groups::current_interp(py), path.to_path_buf());
    // With reloading, the file's stamp says whether the loaded module is current (one stat a
    // request, outside the lock); without, a first import takes it below.
    let current = match (reload, known) {
        (false, _) => None,
        (true, Some(s)) => Some(s),
        (true, None) => Some(stamp(path)?),
    };
    let step = {
        // One lock a request; the key is copied only the first time a script is seen.
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if !cache.contains_key(&key) {
            cache.insert(key.clone(), Entry::default());
        }
        let Some(entry) = cache.get_mut(&key) else { unreachable!("inserted above") };
        match (&entry.loaded, &entry.importing) {
            (Some(l), _) if current.is_none_or(|s| s == l.stamp) => Step::Use(l.module.clone_ref(py)),
            (_, Some(i)) => Step::Wait(i.clone()),
            (_, None) => {
                let import = Arc::new(Import::default());
                entry.importing = Some(import.clone());
                Step::Import(import)
            }
        }
    };
    let (module, loaded) = match step {
        Step::Use(m) => (m.into_bound(py), false),
        Step::Wait(import) => {
            py.detach(|| import.wait());
            let m = import.outcome(py)?;
            (m.into_bound(py), false)
        }
        Step::Import(import) => {
            let mut importing = Importing { key: &key, import, result: None };
            let st = match current.map_or_else(|| stamp(path).map_err(PyErr::from), Ok) {
                Ok(st) => st,
                Err(e) => {
                    importing.result = Some(Err(e.clone_ref(py)));
                    return Err(e);
                }
            };
            let result = exec_script(py, path);
            note_load(result.is_ok());
            importing.result = Some(result.as_ref().map(|m| m.clone().unbind()).map_err(|e| e.clone_ref(py)));
            let m = result?;
            let old = CACHE
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(key.clone())
                .or_default()
                .loaded
                .replace(Loaded { module: m.clone().unbind(), stamp: st });
            // Dropped with the GIL held (we are attached), outside the lock.
            drop(old);
            // Releases the import lock and hands the module to the waiters.
            drop(importing);
            (m, true)
        }
    };
    Ok((module.into_any(), loaded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_from_a_stat_and_from_apr_agree() {
        let f = std::env::temp_dir().join(format!("wsgi-rs-stamp-{}", std::process::id()));
        std::fs::write(&f, b"x").unwrap();
        let m = std::fs::metadata(&f).unwrap();
        std::fs::remove_file(&f).unwrap();
        // What Apache's r->finfo.mtime holds: microseconds since the epoch.
        let us = m.mtime() * 1_000_000 + m.mtime_nsec() / 1000;
        assert_eq!(stamp_of(&m), stamp_from_us(us));
        assert_eq!(stamp_from_us(1_700_000_000_123_456), (1_700_000_000, 123_456_000));
        // Before 1970: the seconds round down, the fraction stays positive (as stat gives it).
        assert_eq!(stamp_from_us(-1), (-1, 999_999_000));
    }
}
