//! `translate_name` hook: maps URLs under a `WSGIScriptAlias[Match]` to the script file and
//! marks the request for the `wsgi-script` handler (what mod_alias does for ScriptAlias).
use std::ffi::c_int;

use wsgi_rs_core::config::alias_match;

use crate::apache::guard::guard;
use crate::apache::strings::{bytes, pstrdup};
use crate::directives::config::{ScriptAlias, server_config};
use crate::ffi;

pub const HANDLER: &std::ffi::CStr = c"wsgi-script";

/// The alias that mapped this request, remembered for the handler (its options win over the
/// per-directory directives). Stored in `r->request_config` as a pointer into the server config.
///
/// # Safety
/// `r` is a live request.
pub unsafe fn matched_alias<'a>(r: *mut ffi::request_rec) -> Option<&'a ScriptAlias> {
    // SAFETY: request_config slot for our module is either NULL or set below.
    let p = unsafe { crate::directives::config::module_config::<ScriptAlias>((*r).request_config) };
    // SAFETY: points into the server config, which outlives the request.
    if p.is_null() { None } else { Some(unsafe { &*p }) }
}

pub unsafe extern "C" fn translate_name(r: *mut ffi::request_rec) -> c_int {
    guard("translate_name hook", ffi::DECLINED as c_int, || {
        // SAFETY: Apache calls the hook with a live request.
        unsafe { translate(r) }
    })
}

unsafe fn translate(r: *mut ffi::request_rec) -> c_int {
    // SAFETY: live request; r->uri is a pool string.
    let (uri, cfg) = unsafe { (bytes((*r).uri), server_config((*r).server)) };
    if uri.first() != Some(&b'/') {
        return ffi::DECLINED as c_int;
    }
    for alias in &cfg.aliases {
        let filename = if alias.regex.is_null() {
            let Some(n) = alias_match(uri, &alias.url) else { continue };
            let mut f = alias.target.as_bytes().to_vec();
            let rest = &uri[n..];
            f.extend_from_slice(if f.ends_with(b"/") && rest.starts_with(b"/") { &rest[1..] } else { rest });
            // SAFETY: copy into the request pool.
            unsafe { pstrdup((*r).pool, &f) }
        } else {
            let mut m = [ffi::ap_regmatch_t { rm_so: 0, rm_eo: 0 }; 10];
            // SAFETY: regex compiled at config time; r->uri is NUL-terminated.
            if unsafe { ffi::ap_regexec(alias.regex, (*r).uri, m.len(), m.as_mut_ptr(), 0) } != 0 {
                continue;
            }
            // SAFETY: ap_pregsub expands $N in the target from the match, into r->pool.
            let t = unsafe { ffi::ap_pregsub((*r).pool, alias.target.as_ptr(), (*r).uri, m.len(), m.as_mut_ptr()) };
            if t.is_null() {
                continue;
            }
            // SAFETY: t is the pool string ap_pregsub returned.
            let mut f = unsafe { bytes(t) }.to_vec();
            f.extend_from_slice(&uri[m[0].rm_eo as usize..]);
            // SAFETY: copy into the request pool.
            unsafe { pstrdup((*r).pool, &f) }
        };
        // SAFETY: setting request fields to pool strings / static strings.
        unsafe {
            (*r).filename = filename;
            (*r).handler = HANDLER.as_ptr();
            ffi::apr_table_setn((*r).notes, c"alias-forced-type".as_ptr(), HANDLER.as_ptr());
            *((*r).request_config as *mut *const ScriptAlias).add(crate::module_index() as usize) = alias;
        }
        return ffi::OK as c_int;
    }
    ffi::DECLINED as c_int
}
