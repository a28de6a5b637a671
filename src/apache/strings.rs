//! C strings owned by Apache pools, seen as bytes.
use std::ffi::{CStr, c_char};
use std::ptr::NonNull;

use crate::ffi;

/// The bytes of a NUL-terminated string Apache owns, empty for NULL.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives `'a` (a pool string).
pub unsafe fn bytes<'a>(p: *const c_char) -> &'a [u8] {
    if p.is_null() {
        return b"";
    }
    // SAFETY: per the contract above.
    unsafe { CStr::from_ptr(p) }.to_bytes()
}

/// Like [`bytes`] but `None` for NULL.
///
/// # Safety
/// As [`bytes`].
pub unsafe fn opt_bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    // SAFETY: per the contract of `bytes`.
    if p.is_null() { None } else { Some(unsafe { bytes(p) }) }
}

/// Copies `s` into `pool` as a NUL-terminated string (the copy lives as long as the pool).
/// Interior NULs cut the string (callers validate first).
///
/// # Safety
/// `pool` is a live pool.
pub unsafe fn pstrdup(pool: *mut ffi::apr_pool_t, s: &[u8]) -> *mut c_char {
    let n = s.iter().position(|c| *c == 0).unwrap_or(s.len());
    // SAFETY: apr_pstrmemdup copies n bytes and adds the NUL.
    unsafe { ffi::apr_pstrmemdup(pool, s.as_ptr() as *const c_char, n) }
}

/// A NUL-terminated string in an Apache pool ([`crate::apache::pool::Pool::pstr`]), kept in
/// plain records (per-directory configuration) of that pool or of a shorter-lived one. `Copy`,
/// non-owning: like the `Pool` handle it came from, it must not outlive its pool.
#[derive(Clone, Copy)]
pub struct PoolStr(NonNull<c_char>);

impl PoolStr {
    /// # Safety
    /// `p` is a non-NULL NUL-terminated string in a pool outliving the handle and its copies.
    pub(crate) unsafe fn from_raw(p: *const c_char) -> PoolStr {
        PoolStr(NonNull::new(p as *mut c_char).expect("NULL pool string"))
    }

    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: a live pool string (from_raw contract).
        unsafe { bytes(self.0.as_ptr()) }
    }
}

/// A slice of plain (`Copy`) values in an Apache pool ([`crate::apache::pool::Pool::slice`]),
/// kept in plain records like [`PoolStr`]. `Copy`, non-owning: it must not outlive its pool.
pub struct PoolSlice<T: Copy> {
    ptr: NonNull<T>,
    len: usize,
}

impl<T: Copy> Clone for PoolSlice<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Copy> Copy for PoolSlice<T> {}

impl<T: Copy> PoolSlice<T> {
    /// # Safety
    /// `ptr` points to `len` initialised values (dangling but aligned if `len` is 0) in a pool
    /// outliving the handle and its copies, never written again.
    pub(crate) unsafe fn from_raw(ptr: NonNull<T>, len: usize) -> PoolSlice<T> {
        PoolSlice { ptr, len }
    }

    pub fn as_slice(&self) -> &[T] {
        // SAFETY: from_raw contract: `len` initialised values in a live pool.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

/// Bytes (a file name from the configuration or a request) seen as a path: Unix paths are
/// bytes, no conversion.
pub fn path(b: &[u8]) -> &std::path::Path {
    use std::os::unix::ffi::OsStrExt;
    std::path::Path::new(std::ffi::OsStr::from_bytes(b))
}
