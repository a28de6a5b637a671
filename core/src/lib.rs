//! `wsgi_rs_core`: everything of mod_wsgi_rs that can be tested without Apache.
//!
//! - [`codes`]: every log code, its level and meaning (the README table is checked against it).
//! - [`config`]: directive values and option parsing (pure).
//! - [`environ`]: the CGI/WSGI variables built from a neutral description of a request (pure).
//! - [`wsgi`]: the Python side: interpreter start-up, the WSGI objects, running an application.
//!   It talks to its host (an Apache request, later a daemon socket) only through
//!   [`wsgi::RequestIo`].
//! - [`framing`]: the rules a response head must meet before Apache writes it (pure).
//! - [`hostlog`]: the log sink the host installs (used by `wsgi` and `daemon`).
//! - [`wire`]: the daemon wire protocol codec (pure).
pub mod codes;
pub mod config;
pub mod daemon;
pub mod environ;
pub mod framing;
pub mod hostlog;
pub mod wire;
pub mod wsgi;
