//! A regular expression compiled with Apache's own PCRE (`ap_pregcomp`) into the configuration
//! pool by [`crate::apache::cmd::CmdParms::regcomp`]: matching and `$N` substitution as one safe
//! call.
use std::ffi::CStr;
use std::ptr::NonNull;

use crate::apache::pool::Pool;
use crate::apache::strings::bytes;
use crate::ffi;

/// Sub-expressions an alias target may use: `$0`…`$9`.
const MATCHES: usize = 10;

/// A compiled expression living in a configuration pool (freed with it). `Copy`, non-owning.
#[derive(Clone, Copy)]
pub struct Regex(NonNull<ffi::ap_regex_t>);

// SAFETY: a compiled expression is only read after compilation; ap_regexec keeps its match
// state per call, so concurrent matching from Apache's worker threads is sound (mod_alias and
// mod_rewrite do the same).
unsafe impl Send for Regex {}
// SAFETY: as above.
unsafe impl Sync for Regex {}

impl Regex {
    /// # Safety
    /// `re` was compiled by `ap_pregcomp` into a pool that outlives the handle and every copy.
    pub(crate) unsafe fn from_raw(re: NonNull<ffi::ap_regex_t>) -> Regex {
        Regex(re)
    }

    /// Matches `subject`; on a match, expands `$N` in `target` from it (`ap_pregsub`, into
    /// `pool`) and returns the expansion with the byte offset where the whole match ends.
    /// `None` when the expression does not match or the expansion fails.
    pub fn substitute(self, pool: Pool, target: &CStr, subject: &CStr) -> Option<(Vec<u8>, usize)> {
        let mut m = [ffi::ap_regmatch_t { rm_so: 0, rm_eo: 0 }; MATCHES];
        // SAFETY: a live compiled expression (from_raw contract), a NUL-terminated subject and
        // a match array of the length given.
        if unsafe { ffi::ap_regexec(self.0.as_ptr(), subject.as_ptr(), m.len(), m.as_mut_ptr(), 0) } != 0 {
            return None;
        }
        // SAFETY: ap_pregsub reads the NUL-terminated target and subject and the matches just
        // filled, and returns NULL or a string in the live `pool`.
        let t = unsafe { ffi::ap_pregsub(pool.as_ptr(), target.as_ptr(), subject.as_ptr(), m.len(), m.as_mut_ptr()) };
        if t.is_null() {
            return None;
        }
        // SAFETY: t is the pool string ap_pregsub returned, read before the pool goes.
        Some((unsafe { bytes(t) }.to_vec(), m[0].rm_eo as usize))
    }
}
