//! Thin, non-owning helpers over Apache's C API: the request, the directive being processed
//! (`cmd_parms`), servers, pools (and Rust cleanups, `cleanup`), brigades, status codes,
//! strings, tables, logging, MPM facts, Apache's User/Group (`unixd`), processes Apache watches
//! for us (`process`), the panic guard. Raw Apache pointers are used here, in
//! `ffi`, and at the hook entry points only.
pub mod brigade;
pub mod cleanup;
pub mod cmd;
pub mod guard;
pub mod log;
pub mod mpm;
pub mod pool;
pub mod process;
pub mod request;
pub mod server;
pub mod status;
pub mod strings;
pub mod table;
pub mod unixd;
