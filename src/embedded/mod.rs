//! Embedded mode: running the application inside this Apache child, once the dispatcher
//! (`module::dispatch`) has decided the request is not for a daemon group.
use std::ffi::c_int;
use std::path::Path;

use wsgi_rs_core::environ::Environ;
use wsgi_rs_core::wsgi::{AppSpec, LogLevel, Outcome, WsgiExtras, interp, run_request};

use crate::apache::log::rlog;
use crate::directives::config::server_config;
use crate::ffi;
use crate::request::abort::{abort_response, cut_response};
use crate::request::io::ApacheIo;

const HTTP_500: c_int = ffi::HTTP_INTERNAL_SERVER_ERROR as c_int;

fn path_of(b: &[u8]) -> &Path {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(b))
}

/// Runs the WSGI application of `script` for `r` and maps the outcome to the handler status.
///
/// # Safety
/// `r` is the live request of the handler; `ap_setup_client_block` was called.
#[allow(clippy::too_many_arguments)]
pub unsafe fn run(
    r: *mut ffi::request_rec,
    script_path: &[u8],
    callable: &str,
    reload: bool,
    sendfile: bool,
    env: &Environ<'_>,
    x: &WsgiExtras<'_>,
) -> c_int {
    let script = String::from_utf8_lossy(script_path);
    // SAFETY: r is the live request (function contract); its server is configured.
    if unsafe { server_config((*r).server) }.restrict_embedded == Some(true) {
        rlog(
            r,
            LogLevel::Error,
            &format!(
                "RWSGI0016: Embedded mode of mod_wsgi_rs disabled by runtime configuration (WSGIRestrictEmbedded On): {script}"
            ),
        );
        return HTTP_500;
    }
    if !interp::is_initialized() {
        rlog(
            r,
            LogLevel::Error,
            &format!(
                "RWSGI0015: The Python interpreter is not available in this process (see RWSGI0002 at start-up); cannot run {script}"
            ),
        );
        return HTTP_500;
    }
    let spec = AppSpec { script: path_of(script_path), callable, reload };
    match run_request(Box::new(ApacheIo::new(r, sendfile)), env, x, &spec) {
        Outcome::Done | Outcome::ClientGone => ffi::OK as c_int,
        Outcome::ErrorBeforeHeaders => HTTP_500,
        // SAFETY: r is live (function contract).
        Outcome::ErrorAfterHeaders => unsafe { abort_response(r) },
        Outcome::Truncated => {
            // SAFETY: as above.
            unsafe { cut_response(r) };
            ffi::OK as c_int
        }
    }
}
