//! Python start-up options from the server-wide directives, shared by the Apache children
//! (embedded mode) and the daemon processes (which override home, path and group facts).
use wsgi_rs_core::wsgi::interp::InitOptions;

use crate::apache::mpm::mpm;
use crate::directives::config::ServerConfig;

/// The Python executable the module was built against (build.rs), and its version.
pub const PYTHON_EXECUTABLE: &str = env!("WSGI_RS_PYTHON_EXECUTABLE");
pub const PYTHON_VERSION: &str = env!("WSGI_RS_PYTHON_VERSION");

/// Exports `WSGIPythonEggs` as PYTHON_EGG_CACHE (a daemon group's `python-eggs=` is exported
/// after it, and wins).
///
/// # Safety
/// Changes the environment: call while the process is single-threaded (child_init, daemon
/// start-up), before Python starts.
pub unsafe fn export_python_eggs(cfg: &ServerConfig) {
    if let Some(e) = &cfg.python_eggs {
        // SAFETY: per this function's contract, no other thread reads the environment.
        unsafe { std::env::set_var("PYTHON_EGG_CACHE", e) };
    }
}

/// Python start-up options from the server-wide directives (daemon groups override the
/// python-home/path and group facts).
pub fn python_options(cfg: &ServerConfig) -> InitOptions {
    let m = mpm();
    InitOptions {
        python_executable: PYTHON_EXECUTABLE.to_string(),
        python_home: cfg.python_home.clone(),
        python_path: cfg.python_path.clone(),
        optimize: cfg.optimize.unwrap_or(0),
        restrict_stdout: cfg.restrict_stdout.unwrap_or(false),
        restrict_stdin: cfg.restrict_stdin.unwrap_or(false),
        restrict_signal: cfg.restrict_signal.unwrap_or(true),
        hash_seed: cfg.hash_seed,
        dont_write_bytecode: cfg.dont_write_bytecode.unwrap_or(false),
        warnings: cfg.python_warnings.clone(),
        switch_interval: cfg.switch_interval,
        process_group: String::new(),
        maximum_processes: m.max_daemons,
        threads_per_process: m.threads,
        apache: crate::apache::scoreboard::apache_info(),
    }
}
