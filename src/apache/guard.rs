//! Every `extern "C"` entry point runs inside [`guard`]: a Rust panic must never unwind into
//! Apache (since Rust 1.81 that aborts the whole child). A panic is logged and turned into the
//! caller's fallback value (500 for handlers).
use std::panic::{AssertUnwindSafe, catch_unwind};

use wsgi_rs_core::wsgi::LogLevel;

pub fn guard<T>(what: &str, fallback: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            crate::apache::log::host_log(
                LogLevel::Error,
                &wsgi_rs_core::coded!("RWSGI0040", "Internal error in {what} (caught panic: {msg})."),
            );
            fallback
        }
    }
}
