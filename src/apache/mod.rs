//! Thin, non-owning helpers over Apache's C API: strings, tables, logging, the panic guard.
pub mod guard;
pub mod log;
pub mod strings;
pub mod table;
