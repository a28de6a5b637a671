//! The create/merge callbacks of this module's configuration records (see
//! [`crate::apache::record`]), generic over the record types: Apache's `void*` in and out, a
//! typed constructor or merge function inside, under the panic guard.
use std::ffi::c_void;
use std::ptr;

use crate::apache::guard::guard;
use crate::apache::pool::Pool;
use crate::apache::record::{DirRecord, ServerRecord};
use crate::ffi;

/// The body of a `create_dir_config` callback.
///
/// # Safety
/// `p` is the live pool Apache passes to create_dir_config.
pub unsafe fn create_dir<T: DirRecord>(p: *mut ffi::apr_pool_t, make: impl FnOnce() -> T) -> *mut c_void {
    guard("create_dir_config", ptr::null_mut(), || {
        // SAFETY: the pool Apache passes outlives the record it gets back.
        unsafe { Pool::from_raw(p) }.alloc(make()).as_ptr() as *mut c_void
    })
}

/// The body of a `merge_dir_config` callback: `merge(pool, base, add)`, `pool` the pool the
/// merged record lives in (plain data only: nothing in it is ever dropped).
///
/// # Safety
/// Apache's arguments to merge_dir_config: a live pool and two records made by [`create_dir`] /
/// [`merge_dir`] for `T`.
pub unsafe fn merge_dir<T: DirRecord>(
    p: *mut ffi::apr_pool_t,
    base: *mut c_void,
    add: *mut c_void,
    merge: impl FnOnce(Pool, &T, &T) -> T,
) -> *mut c_void {
    guard("merge_dir_config", add, || {
        // SAFETY: both are T records (DirRecord contract) in pools outliving this call.
        let (b, a) = unsafe { (&*(base as *const T), &*(add as *const T)) };
        // SAFETY: as create_dir.
        let pool = unsafe { Pool::from_raw(p) };
        pool.alloc(merge(pool, b, a)).as_ptr() as *mut c_void
    })
}

/// The body of a `create_server_config` callback.
///
/// # Safety
/// `p` is the live configuration pool Apache passes to create_server_config.
pub unsafe fn create_server<T: ServerRecord>(p: *mut ffi::apr_pool_t, make: impl FnOnce() -> T) -> *mut c_void {
    guard("create_server_config", ptr::null_mut(), || {
        // SAFETY: the configuration pool outlives the record (freed by its cleanup).
        unsafe { Pool::from_raw(p) }.boxed(make()).as_ptr() as *mut c_void
    })
}

/// The body of a `merge_server_config` callback: `merge(base, add)`.
///
/// # Safety
/// Apache's arguments to merge_server_config: the live configuration pool and two records made
/// by [`create_server`] / [`merge_server`] for `T`.
pub unsafe fn merge_server<T: ServerRecord>(
    p: *mut ffi::apr_pool_t,
    base: *mut c_void,
    add: *mut c_void,
    merge: impl FnOnce(&T, &T) -> T,
) -> *mut c_void {
    guard("merge_server_config", add, || {
        // SAFETY: both are T records (ServerRecord contract), boxed in the configuration pool.
        let (b, a) = unsafe { (&*(base as *const T), &*(add as *const T)) };
        // SAFETY: as create_server.
        unsafe { Pool::from_raw(p) }.boxed(merge(b, a)).as_ptr() as *mut c_void
    })
}
