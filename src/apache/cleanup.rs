//! Rust values owned by APR pools: boxes dropped by a pool cleanup, and plain functions run
//! when a pool goes (an `impl` of [`Pool`] apart from `pool.rs` because its cleanups run inside
//! the panic guard, which logs, which needs servers and pools).
use std::ffi::c_void;
use std::ptr::NonNull;

use crate::apache::guard::guard;
use crate::apache::pool::Pool;
use crate::ffi;

impl Pool {
    /// Moves `v` to the heap, owned by the pool: dropped when the pool is cleared or destroyed
    /// (on whatever thread does that, hence `Send`).
    pub fn boxed<T: Send + 'static>(self, v: T) -> NonNull<T> {
        // SAFETY: T is Send, so dropping it wherever the pool is cleared is sound.
        unsafe { self.boxed_local(v) }
    }

    /// [`Pool::boxed`] for a value that is not `Send`.
    ///
    /// # Safety
    /// The pool is cleared or destroyed on a thread where dropping `T` is sound (the
    /// configuration pool: Apache's main thread).
    pub unsafe fn boxed_local<T: 'static>(self, v: T) -> NonNull<T> {
        let p = Box::into_raw(Box::new(v));
        // SAFETY: drop_box::<T> frees exactly this allocation, once (caller's contract for the
        // thread it runs on).
        unsafe { self.cleanup_register(p as *const c_void, drop_box::<T>) };
        // SAFETY: Box::into_raw never returns NULL.
        unsafe { NonNull::new_unchecked(p) }
    }

    /// Runs `f` when the pool is cleared or destroyed (a panic in it is caught and logged).
    pub fn on_cleanup(self, f: fn()) {
        // SAFETY: run_fn turns the data pointer back into this `fn()`, which has no state and
        // can run on any thread.
        unsafe { self.cleanup_register(f as *const c_void, run_fn) }
    }
}

/// Pool cleanup for a box of [`Pool::boxed_local`].
unsafe extern "C" fn drop_box<T>(p: *mut c_void) -> ffi::apr_status_t {
    guard("pool cleanup", (), || {
        // SAFETY: `p` came from Box::into_raw in boxed_local and this cleanup runs once.
        drop(unsafe { Box::from_raw(p as *mut T) });
    });
    0
}

/// Pool cleanup of [`Pool::on_cleanup`].
unsafe extern "C" fn run_fn(data: *mut c_void) -> ffi::apr_status_t {
    // SAFETY: `data` is the `fn()` on_cleanup registered (a function pointer fits a data
    // pointer on every platform Apache runs on).
    let f: fn() = unsafe { std::mem::transmute::<*mut c_void, fn()>(data) };
    guard("pool cleanup", (), f);
    0
}
