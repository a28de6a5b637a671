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
