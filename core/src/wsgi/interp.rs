//! Interpreter life cycle: start-up (PyConfig), per-thread priming, shutdown.
//!
//! Call [`initialize`] once per process, after fork and after privileges were dropped, from the
//! thread that will later call [`finalize`]. Never in Apache's root parent (DESIGN §3).
use std::cell::Cell;
use std::ffi::{CStr, CString, c_char};
use std::mem::MaybeUninit;
use std::path::Path;
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyModule};

use super::file_wrapper::FileWrapper;
use super::io::LogLevel;
use super::log::{LogStream, host_log};

/// What the host knows at start-up (from the server-wide directives).
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// The Python executable the module was built for: sets `program_name`, so the standard
    /// library is found next to the libpython we link (not another copy on the machine).
    pub python_executable: String,
    /// `WSGIPythonHome`: a virtualenv root (has `pyvenv.cfg`) or a `sys.prefix`.
    pub python_home: Option<String>,
    /// `WSGIPythonPath` entries, added with `site.addsitedir` (so `.pth` files work).
    pub python_path: Vec<String>,
    /// `WSGIPythonOptimize`.
    pub optimize: u8,
    pub restrict_stdout: bool,
    pub restrict_stdin: bool,
    pub restrict_signal: bool,
    /// `WSGIPythonHashSeed`: None = random (Python's default).
    pub hash_seed: Option<u64>,
    /// `WSGIDontWriteBytecode On`.
    pub dont_write_bytecode: bool,
    /// `WSGIPythonWarnings` entries (`-W` syntax).
    pub warnings: Vec<String>,
    /// `WSGISwitchInterval` seconds.
    pub switch_interval: Option<f64>,
    pub process_group: String,
    pub maximum_processes: u32,
    pub threads_per_process: u32,
}

static INITIALIZED: AtomicBool = AtomicBool::new(false);
/// The main thread's state, saved after start-up; restored by `finalize`.
static MAIN_TSTATE: AtomicPtr<ffi::PyThreadState> = AtomicPtr::new(ptr::null_mut());
static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(1);
/// The start-up options, for setting up each sub-interpreter the same way.
static OPTIONS: OnceLock<InitOptions> = OnceLock::new();

thread_local! {
    /// 0 until this thread is primed; then the thread's `mod_wsgi.thread_id`.
    static THREAD_ID: Cell<u64> = const { Cell::new(0) };
}

pub fn is_initialized() -> bool {
    INITIALIZED.load(Ordering::Acquire)
}

/// SAFETY (for callers): `status` comes from a CPython init function.
unsafe fn check(status: ffi::PyStatus, what: &str) -> Result<(), String> {
    // SAFETY: PyStatus_Exception only reads the struct.
    if unsafe { ffi::PyStatus_Exception(status) } == 0 {
        return Ok(());
    }
    let text = |p: *const c_char| {
        if p.is_null() {
            String::new()
        } else {
            // SAFETY: CPython sets these to static C strings.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    Err(format!("{what}: {} {}", text(status.func), text(status.err_msg)).trim().to_string())
}

fn cstring(s: &str, what: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{what} contains a NUL byte"))
}

/// Starts Python. Errors are returned (never `Py_FatalError`), so the host can log them and
/// answer 500 instead of losing the process.
pub fn initialize(o: &InitOptions) -> Result<String, String> {
    if is_initialized() {
        return Ok(String::new());
    }
    // Where Python looks for its standard library and site-packages: a venv is entered through
    // its bin/python (getpath reads pyvenv.cfg), anything else is a sys.prefix.
    let (program, home) = match &o.python_home {
        Some(h) if Path::new(h).join("pyvenv.cfg").is_file() => {
            (format!("{}/bin/python", h.trim_end_matches('/')), None)
        }
        Some(h) => (o.python_executable.clone(), Some(h.clone())),
        None => (o.python_executable.clone(), None),
    };
    let program_c = cstring(&program, "Python executable path")?;
    let home_c = home.as_deref().map(|h| cstring(h, "WSGIPythonHome")).transpose()?;
    let argv0 = c"mod_wsgi";
    // SAFETY: plain CPython start-up sequence on a process where Python has not run yet; the
    // config structs live on this stack frame until PyConfig_Clear.
    unsafe {
        let mut pre = MaybeUninit::<ffi::PyPreConfig>::zeroed();
        ffi::PyPreConfig_InitPythonConfig(pre.as_mut_ptr());
        let pre = pre.as_mut_ptr();
        // Locale policy: leave Apache's process locale alone (no setlocale/setenv from Python
        // inside Apache) and run Python in UTF-8 mode whatever LANG says (Debian's envvars set
        // LANG=C). See README "Differences from mod_wsgi".
        (*pre).configure_locale = 0;
        (*pre).coerce_c_locale = 0;
        (*pre).utf8_mode = 1;
        check(ffi::Py_PreInitialize(pre), "Py_PreInitialize")?;

        let mut cfg = MaybeUninit::<ffi::PyConfig>::zeroed();
        ffi::PyConfig_InitPythonConfig(cfg.as_mut_ptr());
        let cfg = cfg.as_mut_ptr();
        (*cfg).install_signal_handlers = 0;
        (*cfg).parse_argv = 0;
        (*cfg).optimization_level = o.optimize as i32;
        if let Some(seed) = o.hash_seed {
            (*cfg).use_hash_seed = 1;
            (*cfg).hash_seed = seed as _;
        }
        if o.dont_write_bytecode {
            (*cfg).write_bytecode = 0;
        }
        let mut r =
            check(ffi::PyConfig_SetBytesString(cfg, &raw mut (*cfg).program_name, program_c.as_ptr()), "program_name");
        if r.is_ok()
            && let Some(h) = &home_c
        {
            r = check(ffi::PyConfig_SetBytesString(cfg, &raw mut (*cfg).home, h.as_ptr()), "home");
        }
        if r.is_ok() {
            let mut argv = [argv0.as_ptr()];
            r = check(ffi::PyConfig_SetBytesArgv(cfg, 1, argv.as_mut_ptr()), "argv");
        }
        if r.is_ok() {
            r = check(ffi::Py_InitializeFromConfig(cfg), "Py_InitializeFromConfig");
        }
        ffi::PyConfig_Clear(cfg);
        r.map_err(|e| format!("{e} (python executable '{program}', home {:?})", home))?;
    }
    // SAFETY: Py_InitializeFromConfig succeeded on this thread, which therefore holds the GIL.
    let py = unsafe { Python::assume_attached() };
    let _ = OPTIONS.set(o.clone());
    super::groups::set_setup(bootstrap_group);
    let result = bootstrap(py, o, "").map_err(|e| {
        let tb = format_exception(py, &e);
        format!("Python started but its set-up failed: {tb}")
    });
    let banner = py
        .import("sys")
        .and_then(|s| Ok(format!("Python {} (prefix {})", s.getattr("version")?.str()?, s.getattr("prefix")?.str()?)))
        .unwrap_or_default();
    // SAFETY: we hold the GIL; save the main thread state so worker threads can attach.
    let ts = unsafe { ffi::PyEval_SaveThread() };
    MAIN_TSTATE.store(ts, Ordering::Release);
    INITIALIZED.store(true, Ordering::Release);
    result.map(|_| banner)
}

#[pyfunction]
fn _host_log(level: u8, code: &str, msg: &str) {
    let level = match level {
        0 => LogLevel::Error,
        1 => LogLevel::Warning,
        2 => LogLevel::Info,
        _ => LogLevel::Debug,
    };
    host_log(level, &format!("{code}: {msg}"));
}

/// Sets up a new sub-interpreter (current, GIL held) as the main one was: the `mod_wsgi` module
/// (with `application_group` = `group`), stdout/stderr to the log, the Python path, the
/// restrictions.
fn bootstrap_group(py: Python<'_>, group: &str) -> Result<(), String> {
    let o = OPTIONS.get().cloned().unwrap_or_default();
    bootstrap(py, &o, group).map_err(|e| format_exception(py, &e))
}

fn bootstrap(py: Python<'_>, o: &InitOptions, group: &str) -> PyResult<()> {
    // The built-in `mod_wsgi` module (apps use it to detect mod_wsgi and for FileWrapper).
    let m = PyModule::new(py, "mod_wsgi")?;
    m.add("version", (6, 1, 1))?;
    m.add("mod_wsgi_rs_version", env!("CARGO_PKG_VERSION"))?;
    m.add("process_group", o.process_group.as_str())?;
    m.add("application_group", group)?;
    m.add("maximum_processes", o.maximum_processes)?;
    m.add("threads_per_process", o.threads_per_process)?;
    m.add_class::<FileWrapper>()?;
    m.add_function(pyo3::wrap_pyfunction!(_host_log, &m)?)?;
    let sys = py.import("sys")?;
    sys.getattr("modules")?.cast::<PyDict>()?.set_item("mod_wsgi", &m)?;

    let code = CString::new(include_str!("bootstrap.py")).expect("bootstrap has no NUL");
    let boot = PyModule::from_code(py, &code, c"<mod_wsgi_rs bootstrap>", c"_mod_wsgi_rs_bootstrap")?;
    let stdout = Py::new(py, LogStream::new("<stdout>", "RWSGI0031", None))?;
    let stderr = Py::new(py, LogStream::new("<stderr>", "RWSGI0030", None))?;
    let path = PyList::new(py, &o.python_path)?;
    let warnings = PyList::new(py, &o.warnings)?;
    let opts = PyDict::new(py);
    opts.set_item("restrict_stdout", o.restrict_stdout)?;
    opts.set_item("restrict_stdin", o.restrict_stdin)?;
    opts.set_item("restrict_signal", o.restrict_signal)?;
    opts.set_item("warnings", warnings)?;
    opts.set_item("switch_interval", o.switch_interval)?;
    boot.getattr("bootstrap")?.call1((m.getattr("_host_log")?, stdout, stderr, path, opts))?;
    Ok(())
}

/// Gives the calling thread a lasting main-interpreter thread state, once: later attaches reuse
/// it instead of creating and destroying one per request (DESIGN §3, ~6 µs a request).
/// Must be called without the GIL.
pub fn prime_thread() -> u64 {
    THREAD_ID.with(|id| {
        if id.get() == 0 && is_initialized() {
            // SAFETY: Ensure without a matching Release leaves this thread's state alive;
            // SaveThread then releases the GIL it took.
            unsafe {
                ffi::PyGILState_Ensure();
                ffi::PyEval_SaveThread();
            }
            id.set(NEXT_THREAD_ID.fetch_add(1, Ordering::Relaxed));
        }
        id.get()
    })
}

/// Runs atexit handlers and finalises. Call from the thread that called [`initialize`], once no
/// other thread runs Python.
pub fn finalize() {
    if !INITIALIZED.swap(false, Ordering::AcqRel) {
        return;
    }
    let ts = MAIN_TSTATE.swap(ptr::null_mut(), Ordering::AcqRel);
    if ts.is_null() {
        return;
    }
    // SAFETY: `ts` is the main thread state saved by `initialize` on this thread; the
    // sub-interpreters are ended (each from a state of its own) before the main one.
    unsafe {
        ffi::PyEval_RestoreThread(ts);
        super::groups::end_all();
        ffi::Py_FinalizeEx();
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
