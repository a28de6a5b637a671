//! Apache's `User` and `Group` (mod_unixd's `ap_unixd_config`), as configured. mod_unixd
//! writes them while the configuration is read (single-threaded); they are only read after.
use std::ffi::{CStr, CString};

use crate::ffi;

/// The uid of Apache's `User`.
pub fn user_id() -> u32 {
    // SAFETY: a by-value read of a field of Apache's static configuration (module comment).
    unsafe { ffi::ap_unixd_config.user_id }
}

/// The gid of Apache's `Group`.
pub fn group_id() -> u32 {
    // SAFETY: as user_id.
    unsafe { ffi::ap_unixd_config.group_id }
}

/// The name of Apache's `User` (empty when unset).
pub fn user_name() -> CString {
    // SAFETY: as user_id; a non-NULL user_name is a NUL-terminated string of the configuration
    // pool, copied at once.
    unsafe {
        let p = ffi::ap_unixd_config.user_name;
        if p.is_null() { CString::default() } else { CStr::from_ptr(p).to_owned() }
    }
}
