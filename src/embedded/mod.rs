//! Embedded mode: URL mapping, the `wsgi-script` handler and the Python life cycle inside the
//! Apache child processes.
pub mod facts;
pub mod handler;
pub mod lifecycle;
pub mod request_io;
pub mod translate;
