//! The process-wide log sink the host installs (Apache's error log), used by every part of the
//! core that logs outside a request: the WSGI runtime and the daemon process loop alike.
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warning,
    Info,
    Debug,
}

/// The process-wide logger (server-level, no client decoration), set by the host before Python
/// starts. A plain function pointer: it must not run Python code or take the GIL.
static HOST_LOG: OnceLock<fn(LogLevel, &str)> = OnceLock::new();

pub fn set_host_logger(f: fn(LogLevel, &str)) {
    let _ = HOST_LOG.set(f);
}

pub fn host_log(level: LogLevel, msg: &str) {
    match HOST_LOG.get() {
        Some(f) => f(level, msg),
        None => eprintln!("{msg}"),
    }
}
