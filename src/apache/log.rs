//! Logging to Apache's error log. Messages carry a stable `RWSGInnnn:` code (README, "Error
//! reference") and go through `"%s"`, never as a format string.
use std::ffi::{CString, c_int};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use wsgi_rs_core::wsgi::LogLevel;

use crate::apache::server::Server;
use crate::ffi;

/// The main server, for process-level lines logged outside a request (set in child_init).
static MAIN_SERVER: AtomicPtr<ffi::server_rec> = AtomicPtr::new(ptr::null_mut());

pub fn set_main_server(s: *mut ffi::server_rec) {
    MAIN_SERVER.store(s, Ordering::Release);
}

/// [`set_main_server`] with a safe handle: process-level lines go to `s`'s error log.
pub fn set_main(s: Server) {
    set_main_server(s.as_ptr());
}

fn level(l: LogLevel) -> c_int {
    (match l {
        LogLevel::Error => ffi::APLOG_ERR,
        LogLevel::Warning => ffi::APLOG_WARNING,
        LogLevel::Info => ffi::APLOG_INFO,
        LogLevel::Debug => ffi::APLOG_DEBUG,
    }) as c_int
}

fn cmsg(msg: &str) -> CString {
    CString::new(msg.replace('\0', "\\0")).unwrap_or_default()
}

/// Logs about a request: Apache adds the `[client ...]` decoration.
///
/// # Safety
/// `r` is a live request (`apache::request::Request::log` is the safe way in).
pub unsafe fn rlog(r: *const ffi::request_rec, l: LogLevel, msg: &str) {
    let m = cmsg(msg);
    // SAFETY: `r` is the live request; "%s" with a NUL-terminated argument.
    unsafe {
        ffi::ap_log_rerror_(
            c"mod_wsgi_rs".as_ptr(),
            0,
            crate::module_index(),
            level(l),
            0,
            r,
            c"%s".as_ptr(),
            m.as_ptr(),
        )
    }
}

/// Logs about the server (no client decoration).
pub fn slog(s: Server, l: LogLevel, msg: &str) {
    // SAFETY: a `Server` wraps a live server_rec.
    unsafe { log_server(s.as_ptr(), l, msg) }
}

/// A configuration error at start-up (`APLOG_STARTUP | APLOG_EMERG`): printed on the console
/// as well as the error log (what `apachectl configtest` shows), without Apache's decoration.
pub fn startup_error(s: Server, msg: &str) {
    let m = cmsg(msg);
    // SAFETY: a `Server` wraps a live server_rec; "%s" with a NUL-terminated argument.
    unsafe {
        ffi::ap_log_error_(
            c"mod_wsgi_rs".as_ptr(),
            0,
            crate::module_index(),
            (ffi::APLOG_STARTUP | ffi::APLOG_EMERG) as c_int,
            0,
            s.as_ptr(),
            c"%s".as_ptr(),
            m.as_ptr(),
        )
    }
}

/// # Safety
/// `s` is NULL (then to stderr) or a live server_rec.
unsafe fn log_server(s: *const ffi::server_rec, l: LogLevel, msg: &str) {
    let m = cmsg(msg);
    // SAFETY: `s` is NULL or a live server_rec; "%s" with a NUL-terminated argument.
    unsafe {
        ffi::ap_log_error_(
            c"mod_wsgi_rs".as_ptr(),
            0,
            crate::module_index(),
            level(l),
            0,
            s,
            c"%s".as_ptr(),
            m.as_ptr(),
        )
    }
}

/// The process-wide logger handed to the WSGI core (sys.stderr, start-up messages).
pub fn host_log(l: LogLevel, msg: &str) {
    // SAFETY: MAIN_SERVER is NULL or the main server set by this process's start-up
    // (child_init, daemon start-up), which lives as long as the process.
    unsafe { log_server(MAIN_SERVER.load(Ordering::Acquire), l, msg) };
}
