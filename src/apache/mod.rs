//! Thin, non-owning helpers over Apache's C API: strings, tables, logging, MPM facts, the panic
//! guard. Raw Apache pointers are used here, in `ffi`, and at the hook entry points only.
pub mod guard;
pub mod log;
pub mod mpm;
pub mod strings;
pub mod table;
