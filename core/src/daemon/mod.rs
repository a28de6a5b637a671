//! The daemon process's own loop (DESIGN §3/§4): worker threads accept connections from Apache
//! children on the group's listening socket and run requests through the same WSGI core as
//! embedded mode; the main thread watches the recycling conditions.
//!
//! The caller (src/daemon/process/child.rs) has already dropped privileges and started Python.
pub mod backoff;
mod config;
mod conns;
mod decide;
pub mod handoff;
mod interrupt;
mod meta;
mod monitor;
mod server;
mod socket_io;
mod state;
pub mod status_board;
pub mod status_page;

pub use config::{DaemonConfig, ShutdownReason};
pub use meta::{MetaNums, Pushed, RequestMeta};
pub use server::serve;
pub use state::now_us;
