//! [`AuthHost`] over an Apache request: what an auth script's `wsgi.errors` and `mod_ssl.*`
//! callables reach while it runs.
use wsgi_rs_core::wsgi::{AuthHost, LogLevel};

use crate::apache::request::Request;

/// Borrows the request for one auth hook call.
/// Contract: the WSGI core drops it (`run_auth` clears it) before the hook returns, and calls it
/// from one thread at a time (under its lock), so the request is never used after the hook or
/// concurrently.
pub struct ApacheAuthHost {
    r: Request,
}

// SAFETY: see the contract on the struct: one thread at a time, within the hook's call.
unsafe impl Send for ApacheAuthHost {}

impl ApacheAuthHost {
    pub fn new(r: Request) -> Self {
        ApacheAuthHost { r }
    }
}

impl AuthHost for ApacheAuthHost {
    fn log(&self, level: LogLevel, msg: &str) {
        self.r.log(level, msg)
    }

    fn ssl_is_https(&self) -> bool {
        self.r.ssl_is_https()
    }

    fn ssl_var_lookup(&self, name: &[u8]) -> Option<Vec<u8>> {
        self.r.ssl_var_lookup(name)
    }
}
