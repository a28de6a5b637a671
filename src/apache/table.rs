//! Reading `apr_table_t` entries as byte pairs, without copying.
use crate::apache::strings::bytes;
use crate::ffi;

/// The entries of `t` in order (keys and values borrowed from the table's pool).
///
/// # Safety
/// `t` is a live table whose pool outlives `'a`, not modified while the iterator is used.
pub unsafe fn entries<'a>(t: *const ffi::apr_table_t) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
    // apr_table_elts(t) is a macro casting the table to its array header.
    let arr = t as *const ffi::apr_array_header_t;
    let items: &'a [ffi::apr_table_entry_t] = if t.is_null() {
        &[]
    } else {
        // SAFETY: an apr table is an array of apr_table_entry_t (apr_tables.h).
        unsafe { std::slice::from_raw_parts((*arr).elts as *const ffi::apr_table_entry_t, (*arr).nelts as usize) }
    };
    items.iter().filter(|e| !e.key.is_null()).map(|e| {
        // SAFETY: table keys and values are pool strings.
        unsafe { (bytes(e.key), bytes(e.val)) }
    })
}

/// A non-owning handle on an `apr_table_t` of a live request, borrowed for `'a`.
#[derive(Clone, Copy)]
pub struct Table<'a> {
    t: *mut ffi::apr_table_t,
    _life: std::marker::PhantomData<&'a ffi::apr_table_t>,
}

impl<'a> Table<'a> {
    /// # Safety
    /// `t` is NULL or a live table whose pool outlives `'a`.
    pub unsafe fn from_raw(t: *mut ffi::apr_table_t) -> Table<'a> {
        Table { t, _life: std::marker::PhantomData }
    }

    /// The first value of `key` (case-insensitive), `None` when absent.
    pub fn get(self, key: &std::ffi::CStr) -> Option<&'a [u8]> {
        if self.t.is_null() {
            return None;
        }
        // SAFETY: live table (from_raw contract); values are pool strings living for 'a.
        unsafe { crate::apache::strings::opt_bytes(ffi::apr_table_get(self.t, key.as_ptr())) }
    }

    /// Adds `key: val` (apr copies both); interior NULs are dropped.
    pub fn add(self, key: &[u8], val: &[u8]) {
        let nul_free = |b: &[u8]| {
            std::ffi::CString::new(b.iter().copied().filter(|c| *c != 0).collect::<Vec<u8>>()).unwrap_or_default()
        };
        let (k, v) = (nul_free(key), nul_free(val));
        // SAFETY: live table; apr_table_add copies key and value into the table's pool.
        unsafe { ffi::apr_table_add(self.t, k.as_ptr(), v.as_ptr()) }
    }

    /// Sets `key` to `val` without copying either (`apr_table_setn`): both are static.
    pub fn setn(self, key: &'static std::ffi::CStr, val: &'static std::ffi::CStr) {
        // SAFETY: live table; static strings outlive it.
        unsafe { ffi::apr_table_setn(self.t, key.as_ptr(), val.as_ptr()) }
    }

    /// The entries in order, borrowed from the table's pool.
    pub fn entries(self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        // SAFETY: live table for 'a (from_raw contract), not modified while iterated (callers
        // hold no other handle that adds while reading).
        unsafe { entries(self.t) }
    }
}
