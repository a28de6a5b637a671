//! Pool cleanups that run Rust code: a closure run when a pool is cleared, and Rust values
//! owned by a pool (dropped with it), including the pool-userdata singletons. Each runs inside
//! the panic guard. Kept apart from `pool.rs` because the guard logs, and logging needs
//! `Server`, which needs `Pool`.
use std::ffi::{CStr, c_void};
use std::ptr::NonNull;

use crate::apache::guard::guard;
use crate::apache::pool::Pool;
use crate::ffi;

/// Where a cleanup closure runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CleanupIn {
    /// Only in the process that clears the pool.
    Pool,
    /// Also in a child APR forks to exec a program (`apr_pool_cleanup_for_exec`), before the
    /// exec: for descriptors the program must not inherit.
    PoolAndExecChild,
}

/// Runs the boxed closure registered by [`Pool::on_cleanup`] and frees it.
///
/// # Safety
/// `data` is the `Box<F>` leaked by `on_cleanup`, reached here once per process (APR runs
/// either the plain or the exec-child cleanup, never both, and each once).
unsafe extern "C" fn run_closure<F: FnOnce()>(data: *mut c_void) -> ffi::apr_status_t {
    // SAFETY: per this function's contract: the box made by on_cleanup, taken back once.
    let f = unsafe { Box::from_raw(data as *mut F) };
    guard("pool cleanup", (), *f);
    0
}

/// Drops the value owned by a pool ([`Pool::own`]).
///
/// # Safety
/// `data` is the `Box<T>` leaked by `own`; the cleanup runs once.
unsafe extern "C" fn drop_owned<T>(data: *mut c_void) -> ffi::apr_status_t {
    guard("pool cleanup", (), || {
        // SAFETY: per this function's contract.
        drop(unsafe { Box::from_raw(data as *mut T) });
    });
    0
}

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

    /// Runs `f` once when the pool is cleared or destroyed (or, with
    /// [`CleanupIn::PoolAndExecChild`], before an exec in a child APR forks, instead). Cleanups
    /// run in the reverse order of registration. `f` owns what it captures; it is freed after it
    /// ran, or leaked if the pool never is cleared.
    pub fn on_cleanup<F: FnOnce() + 'static>(self, when: CleanupIn, f: F) {
        let data = Box::into_raw(Box::new(f)) as *const c_void;
        let child: unsafe extern "C" fn(*mut c_void) -> ffi::apr_status_t = match when {
            CleanupIn::Pool => ffi::apr_pool_cleanup_null,
            CleanupIn::PoolAndExecChild => run_closure::<F>,
        };
        // SAFETY: the pool is live (from_raw contract); APR keeps `data` and calls run_closure
        // with it at most once in any process: the plain cleanup when the pool is cleared, or
        // the child cleanup in a child about to exec (which never clears the pool after that).
        unsafe { ffi::apr_pool_cleanup_register(self.as_ptr(), data, Some(run_closure::<F>), Some(child)) };
    }

    /// Moves `v` to the heap, owned by this pool: dropped when the pool is cleared.
    pub fn own<T: 'static>(self, v: T) -> *mut T {
        let p = Box::into_raw(Box::new(v));
        // SAFETY: the pool is live; drop_owned::<T> matches the allocation and runs once.
        unsafe {
            ffi::apr_pool_cleanup_register(
                self.as_ptr(),
                p as *const c_void,
                Some(drop_owned::<T>),
                Some(ffi::apr_pool_cleanup_null),
            )
        };
        p
    }

    /// The `T` kept in this pool's userdata under `key`, made by `init` on first use and
    /// dropped with the pool (a per-generation singleton when the pool is `pconf`).
    ///
    /// # Safety
    /// Every value stored under `key` in this pool is a `T` made by this function; no other
    /// reference to it is in use while the returned one is; `'a` ends before the pool is
    /// cleared.
    pub unsafe fn userdata_or_insert_with<'a, T: 'static>(
        self,
        key: &'static CStr,
        init: impl FnOnce() -> T,
    ) -> &'a mut T {
        let mut p: *mut c_void = std::ptr::null_mut();
        // SAFETY: the pool is live; apr_pool_userdata_get writes one pointer; setn keeps the
        // static key and the pool-owned box.
        unsafe {
            ffi::apr_pool_userdata_get(&mut p, key.as_ptr(), self.as_ptr());
            if p.is_null() {
                p = self.own(init()) as *mut c_void;
                ffi::apr_pool_userdata_setn(p, key.as_ptr(), None, self.as_ptr());
            }
        }
        // SAFETY: per this function's contract: a live T of this pool, not aliased.
        unsafe { &mut *(p as *mut T) }
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
