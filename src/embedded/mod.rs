//! Embedded mode: running the application inside this Apache child, once the dispatcher
//! (`module::dispatch`) has decided the request is not for a daemon group.

use wsgi_rs_core::environ::Environ;
use wsgi_rs_core::wsgi::{AppSpec, LogLevel, Outcome, WsgiExtras, interp, run_request};

use crate::apache::request::Request;
use crate::apache::status::Status;
use crate::directives::config::request_server_config;
use crate::request::abort::{abort_response, cut_response};
use crate::request::io::ApacheIo;

/// Runs the WSGI application `spec` for `r` and maps the outcome to the handler status.
/// `ap_setup_client_block` was called.
pub fn run(r: Request, spec: &AppSpec<'_>, sendfile: bool, env: &Environ<'_>, x: &WsgiExtras<'_>) -> Status {
    let script = spec.script.display();
    if request_server_config(&r).restrict_embedded == Some(true) {
        r.log(
            LogLevel::Error,
            &wsgi_rs_core::coded!(
                "RWSGI0016",
                "Embedded mode of mod_wsgi_rs disabled by runtime configuration (WSGIRestrictEmbedded On): {script}"
            ),
        );
        return Status::INTERNAL_SERVER_ERROR;
    }
    if !interp::is_initialized() {
        r.log(
            LogLevel::Error,
            &wsgi_rs_core::coded!(
                "RWSGI0015", "The Python interpreter is not available in this process (see RWSGI0002 at start-up); cannot run {script}"
            ),
        );
        return Status::INTERNAL_SERVER_ERROR;
    }
    match run_request(Box::new(ApacheIo::new(r, sendfile)), env, x, spec) {
        Outcome::Done | Outcome::ClientGone => Status::OK,
        Outcome::ErrorBeforeHeaders => Status::INTERNAL_SERVER_ERROR,
        // The application raised mod_wsgi.RequestTimeout itself (only daemons inject it).
        Outcome::TimedOut => Status::GATEWAY_TIME_OUT,
        Outcome::ErrorAfterHeaders => abort_response(r),
        Outcome::Truncated => {
            cut_response(r);
            Status::OK
        }
    }
}
