//! `translate_name` hook: maps URLs under a `WSGIScriptAlias[Match]` to the script file and
//! marks the request for the `wsgi-script` handler (what mod_alias does for ScriptAlias).
use std::ffi::c_int;

use wsgi_rs_core::config::alias_match;

use crate::apache::guard::guard;
use crate::apache::request::Request;
use crate::apache::status::Status;
use crate::apache::strings::bytes;
use crate::directives::config::{ScriptAlias, request_server_config};
use crate::ffi;

pub const HANDLER: &std::ffi::CStr = c"wsgi-script";

/// The alias that mapped this request, remembered for the handler (its options win over the
/// per-directory directives). Stored in `r->request_config` as a pointer into the server config.
pub fn matched_alias(r: &Request) -> Option<&ScriptAlias> {
    // SAFETY: request_config slot for our module is either NULL or set below.
    let p = unsafe { crate::directives::config::module_config::<ScriptAlias>(r.request_config()) };
    // SAFETY: points into the server config, which outlives the request.
    if p.is_null() { None } else { Some(unsafe { &*p }) }
}

/// The `translate_name` hook.
///
/// # Safety
/// Called by Apache only, with a live request for the duration of the call.
pub unsafe extern "C" fn translate_name(r: *mut ffi::request_rec) -> c_int {
    guard("translate_name hook", Status::DECLINED.raw(), || {
        // SAFETY: Apache calls the hook with a live request, used only within this call.
        let r = unsafe { Request::from_raw(r) };
        translate(r).raw()
    })
}

fn translate(r: Request) -> Status {
    let (uri, cfg) = (r.uri(), request_server_config(&r));
    if uri.first() != Some(&b'/') {
        return Status::DECLINED;
    }
    for alias in &cfg.aliases {
        let filename = if alias.regex.is_null() {
            let Some(n) = alias_match(uri, &alias.url) else { continue };
            let mut f = alias.target.as_bytes().to_vec();
            let rest = &uri[n..];
            f.extend_from_slice(if f.ends_with(b"/") && rest.starts_with(b"/") { &rest[1..] } else { rest });
            f
        } else {
            let mut m = [ffi::ap_regmatch_t { rm_so: 0, rm_eo: 0 }; 10];
            let uri_c = r.uri_cstr();
            // SAFETY: regex compiled at config time (lives with the server config); r->uri is
            // NUL-terminated.
            if unsafe { ffi::ap_regexec(alias.regex, uri_c.as_ptr(), m.len(), m.as_mut_ptr(), 0) } != 0 {
                continue;
            }
            // SAFETY: ap_pregsub expands $N in the target from the match, into r->pool.
            let t = unsafe {
                ffi::ap_pregsub(r.pool().as_ptr(), alias.target.as_ptr(), uri_c.as_ptr(), m.len(), m.as_mut_ptr())
            };
            if t.is_null() {
                continue;
            }
            // SAFETY: t is the pool string ap_pregsub returned.
            let mut f = unsafe { bytes(t) }.to_vec();
            f.extend_from_slice(&uri[m[0].rm_eo as usize..]);
            f
        };
        r.set_filename(&filename);
        r.set_handler(HANDLER);
        r.notes().setn(c"alias-forced-type", HANDLER);
        // SAFETY: the request_config vector has a slot per module; ours points into the server
        // config, which outlives the request (read back by matched_alias).
        unsafe {
            *(r.request_config() as *mut *const ScriptAlias).add(crate::module_index() as usize) = alias;
        }
        return Status::OK;
    }
    Status::DECLINED
}
