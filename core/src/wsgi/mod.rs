//! The Python side of mod_wsgi_rs: interpreter start-up, the WSGI objects (`start_response`,
//! `wsgi.input`, `wsgi.errors`, `wsgi.file_wrapper`) and running an application for one request.
//!
//! Host contract: the host implements [`RequestIo`] for its transport and calls [`run_request`]
//! from any thread; this module takes and releases the GIL itself and releases it around every
//! call into the host's I/O.
mod auth;
mod cgi;
mod context;
mod dispatch;
mod environ_dict;
mod events;
mod file_wrapper;
mod groups;
mod input;
pub mod interp;
mod interrupt;
mod io;
pub mod log;
mod metrics;
mod response;
mod run;
mod scripts;
pub use auth::{AuthAnswer, AuthCall, AuthHost, AuthScript, run_auth};
pub mod server_metrics;
pub mod service;
pub use dispatch::{Configured, Dispatch, run_dispatch};
pub use groups::names as group_names;
pub use interp::process_stopping;
pub use interrupt::{inject_request_timeout, note_interrupted};
pub use scripts::{Stamp, failing_since_us, stamp, stamp_from_us};

pub use io::{LogLevel, RequestIo, ResponseHead};
pub use run::{AppSpec, Outcome, WsgiExtras, preload, run_request};

#[cfg(test)]
mod tests;
