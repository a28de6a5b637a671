//! A non-owning handle on an APR pool (in the manner of ngx-rust's `core/pool.rs`): allocation,
//! pool strings, cleanups. The pool is Apache's; this never destroys it.
use std::ffi::{CStr, c_char, c_int, c_void};
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::ptr::NonNull;

use crate::apache::strings::{PoolSlice, PoolStr};
use crate::ffi;

/// A pool that outlives every use of this handle (a request's or the server's pool).
#[derive(Clone, Copy)]
pub struct Pool(NonNull<ffi::apr_pool_t>);

/// An APR file opened over a descriptor of ours, living (and closed) with its pool.
#[derive(Clone, Copy)]
pub struct PoolFile(pub(crate) *mut ffi::apr_file_t);

impl Pool {
    /// # Safety
    /// `p` is a live pool that outlives the returned handle and every copy of it.
    pub unsafe fn from_raw(p: *mut ffi::apr_pool_t) -> Pool {
        Pool(NonNull::new(p).expect("NULL apr pool"))
    }

    pub fn as_ptr(self) -> *mut ffi::apr_pool_t {
        self.0.as_ptr()
    }

    /// `n` bytes from the pool (freed with it), uninitialised.
    pub fn palloc(self, n: usize) -> *mut c_void {
        // SAFETY: the pool is live (from_raw contract); apr_palloc aborts on OOM.
        unsafe { ffi::apr_palloc(self.as_ptr(), n) }
    }

    /// Copies `s` into the pool as a NUL-terminated string (interior NULs cut it).
    pub fn pstrdup(self, s: &[u8]) -> *mut c_char {
        // SAFETY: the pool is live (from_raw contract).
        unsafe { crate::apache::strings::pstrdup(self.as_ptr(), s) }
    }

    /// Copies `s` into the pool as a [`PoolStr`] (interior NULs cut it), for plain records of
    /// this pool or of a shorter-lived one (per-directory configuration).
    pub fn pstr(self, s: &str) -> PoolStr {
        // SAFETY: pstrdup returns a non-NULL (apr aborts on OOM) NUL-terminated copy living as
        // long as the pool, which outlives this handle and so its users (from_raw contract).
        unsafe { PoolStr::from_raw(self.pstrdup(s.as_bytes())) }
    }

    /// Moves plain data (`Copy`: nothing to drop) into the pool, freed with it.
    pub fn alloc<T: Copy>(self, v: T) -> NonNull<T> {
        // apr_palloc aligns to APR_ALIGN_DEFAULT (8 bytes).
        assert!(std::mem::align_of::<T>() <= 8, "over-aligned pool record");
        let p = self.palloc(std::mem::size_of::<T>().max(1)) as *mut T;
        // SAFETY: apr_palloc never returns NULL (it aborts on OOM); the block is large enough
        // and aligned (asserted above) for one T, and written before anyone reads it.
        unsafe {
            p.write(v);
            NonNull::new_unchecked(p)
        }
    }

    /// Copies `v` into the pool (freed with it), for plain records of this pool or of a
    /// shorter-lived one (per-directory configuration).
    pub fn slice<T: Copy>(self, v: &[T]) -> PoolSlice<T> {
        assert!(std::mem::align_of::<T>() <= 8, "over-aligned pool record");
        if v.is_empty() {
            // SAFETY: a dangling, aligned pointer is a valid empty slice.
            return unsafe { PoolSlice::from_raw(NonNull::dangling(), 0) };
        }
        let p = self.palloc(std::mem::size_of_val(v)) as *mut T;
        // SAFETY: apr_palloc never returns NULL (it aborts on OOM); the block holds v.len()
        // values and is aligned (asserted above); it is written here, before any read, and the
        // pool outlives this handle and so the slice's users (from_raw contract).
        unsafe {
            std::ptr::copy_nonoverlapping(v.as_ptr(), p, v.len());
            PoolSlice::from_raw(NonNull::new_unchecked(p), v.len())
        }
    }

    /// Like [`Pool::alloc`], as a [`PoolRef`] for plain records (per-directory configuration)
    /// of this pool or of a shorter-lived one.
    pub fn alloc_ref<T: Copy>(self, v: T) -> PoolRef<T> {
        PoolRef(self.alloc(v))
    }

    /// Runs `cleanup(data)` when the pool is cleared or destroyed (no child cleanup).
    ///
    /// # Safety
    /// Calling `cleanup(data)` once, whenever the pool is cleared or destroyed (possibly on
    /// another thread, after the request), must be sound.
    pub unsafe fn cleanup_register(
        self,
        data: *const c_void,
        cleanup: unsafe extern "C" fn(*mut c_void) -> ffi::apr_status_t,
    ) {
        // SAFETY: the pool is live; apr copies the two pointers into its cleanup list.
        unsafe { ffi::apr_pool_cleanup_register(self.as_ptr(), data, Some(cleanup), Some(ffi::apr_pool_cleanup_null)) }
    }

    /// Whether `key` was already set in this pool's userdata; sets it (to a dummy value, never
    /// read) if not. Marks that outlive a configuration pass belong in the process pool.
    pub fn userdata_mark(self, key: &CStr) -> bool {
        let mut p: *mut c_void = std::ptr::null_mut();
        // SAFETY: the pool is live (from_raw contract); apr_pool_userdata_get writes one pointer,
        // and apr_pool_userdata_set copies the key into the pool. The dangling value is never
        // dereferenced (only compared with NULL, here).
        unsafe {
            ffi::apr_pool_userdata_get(&mut p, key.as_ptr(), self.as_ptr());
            if p.is_null() {
                ffi::apr_pool_userdata_set(std::ptr::dangling::<c_void>(), key.as_ptr(), None, self.as_ptr());
                return false;
            }
        }
        true
    }

    /// `N` bytes kept in this pool's userdata under `key`: made by `init` on first use, the same
    /// bytes on every later call for the life of the pool. Returns a copy.
    ///
    /// # Safety
    /// Every value stored under `key` in this pool is `N` bytes of pool memory, that is, `key`
    /// is only ever set by this function with the same `N`.
    pub unsafe fn userdata_bytes<const N: usize>(self, key: &CStr, init: impl FnOnce(&mut [u8; N])) -> [u8; N] {
        let mut p: *mut c_void = std::ptr::null_mut();
        // SAFETY: the pool is live (from_raw contract); apr_pool_userdata_get writes one pointer.
        unsafe { ffi::apr_pool_userdata_get(&mut p, key.as_ptr(), self.as_ptr()) };
        let mut out = [0u8; N];
        if p.is_null() {
            init(&mut out);
            let buf = self.palloc(N) as *mut u8;
            // SAFETY: `buf` is N fresh bytes of the pool; apr_pool_userdata_set copies the key
            // into the pool and keeps `buf`, which lives as long as the pool.
            unsafe {
                std::ptr::copy_nonoverlapping(out.as_ptr(), buf, N);
                ffi::apr_pool_userdata_set(buf as *const c_void, key.as_ptr(), None, self.as_ptr());
            }
        } else {
            // SAFETY: per this function's contract, `p` points to N bytes of this (live) pool.
            unsafe { std::ptr::copy_nonoverlapping(p as *const u8, out.as_mut_ptr(), N) };
        }
        out
    }

    /// A path under Apache's `DefaultRuntimeDir` (`ap_runtime_dir_relative`), empty if Apache
    /// cannot make one.
    pub fn runtime_dir_relative(self, name: &CStr) -> String {
        // SAFETY: the pool is live; the result is NULL or a NUL-terminated string of that pool,
        // copied at once.
        unsafe {
            let p = ffi::ap_runtime_dir_relative(self.as_ptr(), name.as_ptr());
            String::from_utf8_lossy(crate::apache::strings::bytes(p)).into_owned()
        }
    }

    /// Wraps `fd` as an APR file of this pool, read-only (`sendfile`: flagged for the core
    /// output filter's sendfile). The descriptor is closed by a cleanup of the pool, never by
    /// APR; `Err` hands it back when APR refuses it.
    pub fn adopt_file(self, fd: OwnedFd, sendfile: bool) -> Result<PoolFile, OwnedFd> {
        let mut file: *mut ffi::apr_file_t = std::ptr::null_mut();
        let mut osfd: ffi::apr_os_file_t = fd.as_raw_fd();
        let flags = ffi::APR_FOPEN_READ | if sendfile { ffi::APR_FOPEN_SENDFILE_ENABLED } else { 0 };
        // SAFETY: the pool is live; apr_os_file_put never closes `osfd` (it sets
        // APR_FOPEN_NOCLEANUP), ownership passes to the cleanup registered right after.
        if unsafe { ffi::apr_os_file_put(&mut file, &mut osfd, flags as i32, self.as_ptr()) } != 0 {
            return Err(fd);
        }
        let raw = fd.into_raw_fd();
        // SAFETY: close_fd closes `raw`, which nothing else owns or closes from now on.
        unsafe { self.cleanup_register(raw as isize as *const c_void, close_fd) };
        Ok(PoolFile(file))
    }
}

/// Plain data in an Apache pool ([`Pool::alloc_ref`]), kept in plain records of that pool or
/// of a shorter-lived one (per-directory configuration, like [`PoolStr`]). `Copy`, non-owning,
/// read-only: like the `Pool` handle it came from, it must not outlive its pool.
pub struct PoolRef<T: Copy>(NonNull<T>);

impl<T: Copy> Clone for PoolRef<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Copy> Copy for PoolRef<T> {}

impl<T: Copy> PoolRef<T> {
    pub fn get(&self) -> &T {
        // SAFETY: written once by alloc_ref and never changed; its pool outlives this handle
        // (alloc_ref contract, as for PoolStr).
        unsafe { self.0.as_ref() }
    }
}

/// Pool cleanup for a descriptor adopted by [`Pool::adopt_file`]. Nothing here can panic.
unsafe extern "C" fn close_fd(data: *mut c_void) -> ffi::apr_status_t {
    // SAFETY: `data` carries the descriptor registered by adopt_file, closed only here, once.
    unsafe { libc::close(data as isize as c_int) };
    0
}
