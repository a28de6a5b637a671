//! What both modes need of a request in the Apache child: its facts for the environ, the
//! Apache-side `RequestIo`, and ending a response that cannot complete.
pub mod abort;
pub mod auth_host;
pub mod facts;
pub mod io;
