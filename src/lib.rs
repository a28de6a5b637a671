//! mod_wsgi_rs: an Apache httpd 2.4 module hosting Python WSGI applications, a drop-in
//! replacement for mod_wsgi (`LoadModule wsgi_rs_module .../libmod_wsgi_rs.so`).
//!
//! This crate is the Apache side: the module record and directive table (they must be Rust
//! statics: a C definition ends up a local symbol LoadModule cannot find), the hooks, and the
//! `RequestIo` over `request_rec`. Everything host-independent lives in `wsgi_rs_core`.
// Hook and directive entry points are `unsafe extern "C"` functions called by Apache with live
// records; each wraps them at once in the safe handles of `apache::` (`Request`, `CmdParms` via
// `apache::cmd`'s entry helpers, `Server`, `Pool`) and runs safe code from there.

pub mod apache;
pub mod daemon;
pub mod directives;
pub mod embedded;
pub mod ffi;
pub mod module;
pub mod request;

use std::ffi::c_int;
use std::ptr::null_mut;

use directives::config::{create_dir_config, create_server_config, merge_dir_config, merge_server_config};
use module::{CMDS, register_hooks};

/// The module record Apache looks up by name. `static mut` because Apache writes
/// `module_index`, `next` and `dynamic_load_handle` into it; read it only through raw pointers.
#[unsafe(no_mangle)]
pub static mut wsgi_rs_module: ffi::module = ffi::module {
    version: ffi::MODULE_MAGIC_NUMBER_MAJOR as c_int,
    minor_version: ffi::MODULE_MAGIC_NUMBER_MINOR as c_int,
    module_index: -1,
    name: c"mod_wsgi_rs.c".as_ptr(),
    dynamic_load_handle: null_mut(),
    next: null_mut(),
    magic: ffi::MODULE_MAGIC_COOKIE as _,
    rewrite_args: None,
    create_dir_config: Some(create_dir_config),
    merge_dir_config: Some(merge_dir_config),
    create_server_config: Some(create_server_config),
    merge_server_config: Some(merge_server_config),
    cmds: &raw const CMDS as *const ffi::command_rec,
    register_hooks: Some(register_hooks),
    flags: ffi::AP_MODULE_FLAG_NONE as c_int,
};

/// Our index into config vectors (assigned by Apache when the module is loaded).
pub fn module_index() -> c_int {
    // SAFETY: reading one field of the module record through a raw pointer.
    unsafe { wsgi_rs_module.module_index }
}
