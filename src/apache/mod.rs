//! Thin, non-owning helpers over Apache's C API: the request, the directive being processed
//! (`cmd_parms`, and the entry helpers of directive handlers), servers, pools and pool-owned
//! values, the module's config records and their create/merge callbacks, regular expressions,
//! brigades, status codes, strings, tables, logging, MPM facts, Apache's User/Group (`unixd`),
//! processes Apache watches for us (`process`), the panic guard. Raw Apache
//! pointers are used here, in `ffi`, and at the hook entry points only.
pub mod auth;
pub mod brigade;
pub mod cleanup;
pub mod cmd;
pub mod config;
pub mod guard;
pub mod log;
pub mod mpm;
pub mod pool;
pub mod process;
pub mod record;
pub mod regex;
pub mod request;
pub mod scoreboard;
pub mod server;
pub mod status;
pub mod strings;
pub mod table;
pub mod unixd;
