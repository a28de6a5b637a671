//! This module's configuration records as Apache keeps them: one slot per module in each
//! config vector (`ap_get_module_config`), filled by the create/merge callbacks of
//! [`crate::apache::config`]. The two marker traits say which Rust type a slot holds, so
//! readers get typed references instead of casting `void*`.
use std::ffi::c_void;
use std::ptr::NonNull;

use crate::ffi;

/// The per-directory record of this module: plain data (`Copy`, pool-allocated, because Apache
/// merges it on every request in `r->pool`).
///
/// # Safety
/// Every per-directory slot of this module (and the `mconfig` Apache hands directive handlers)
/// holds a `Self`: the module's create/merge_dir_config are [`crate::apache::config::create_dir`]/`merge_dir` for
/// this type, and no other type implements the trait.
pub unsafe trait DirRecord: Copy + 'static {}

/// The per-server record of this module: a Rust value boxed in the configuration pool.
///
/// # Safety
/// Every server slot of this module holds a `Self`: the module's create/merge_server_config are
/// [`crate::apache::config::create_server`]/`merge_server` for this type, and no other type implements the trait.
pub unsafe trait ServerRecord: Send + 'static {}

/// This module's slot of a config vector.
///
/// # Safety
/// `vector` is a live config vector (server, per-dir or request) of this generation.
pub(crate) unsafe fn slot(vector: *mut ffi::ap_conf_vector_t) -> *mut *mut c_void {
    // SAFETY: config vectors are arrays of void*, one per loaded module, indexed by
    // module_index.
    unsafe { (vector as *mut *mut c_void).add(crate::module_index() as usize) }
}

/// A record of a slot, `None` when the slot is empty.
///
/// # Safety
/// The slot holds NULL or a live `T` outliving `'a`, not mutated while the borrow lasts.
pub(crate) unsafe fn read<'a, T>(vector: *mut ffi::ap_conf_vector_t) -> Option<&'a T> {
    // SAFETY: per the contract above.
    unsafe { NonNull::new(*slot(vector) as *mut T).map(|p| &*p.as_ptr()) }
}
