//! `translate_name` hook: maps URLs under a `WSGIScriptAlias[Match]` to the script file and
//! marks the request for the `wsgi-script` handler (what mod_alias does for ScriptAlias).
use std::ffi::c_int;

use wsgi_rs_core::config::alias_match;

use crate::apache::guard::guard;
use crate::apache::request::Request;
use crate::apache::status::Status;
use crate::directives::config::{ScriptAlias, request_server_config};
use crate::ffi;

pub const HANDLER: &std::ffi::CStr = c"wsgi-script";

/// The alias that mapped this request, remembered for the handler (its options win over the
/// per-directory directives). Stored in `r->request_config` as a pointer into the server config.
pub fn matched_alias(r: &Request) -> Option<&ScriptAlias> {
    // SAFETY: this module stores only ScriptAlias references into the server config in the
    // slot (translate below), and the server config outlives the request.
    unsafe { r.request_config::<ScriptAlias>() }
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
        let (mut filename, rest) = match alias.regex {
            None => {
                let Some(n) = alias_match(uri, &alias.url) else { continue };
                (alias.target.as_bytes().to_vec(), &uri[n..])
            }
            Some(re) => {
                let Some((f, end)) = re.substitute(r.pool(), &alias.target, r.uri_cstr()) else { continue };
                (f, &uri[end..])
            }
        };
        // The target is a script file (the usual case): r->filename is the file, r->path_info
        // the rest of the URL, r->finfo the file's stat. Apache's directory walk then does no
        // stat of its own, where it would stat "script/rest" and then each directory of the
        // path (lstat) to find where the file ends; the result is the same filename and
        // path_info. Symlink options (no FollowSymLinks) still make it lstat each component.
        // (A rest not starting at a '/' would extend the file's name: not this case.)
        // A directory (or missing) target goes as the file name plus the rest, as mod_alias
        // does for ScriptAlias, and the walk finds the script inside it.
        let is_file = !filename.ends_with(b"/") && (rest.is_empty() || rest[0] == b'/') && r.finfo_unset() && {
            r.set_filename(&filename);
            r.stat_regular_file()
        };
        if is_file {
            r.set_path_info(rest);
        } else {
            filename.extend_from_slice(if filename.ends_with(b"/") && rest.starts_with(b"/") {
                &rest[1..]
            } else {
                rest
            });
            r.set_filename(&filename);
        }
        r.set_handler(HANDLER);
        r.notes().setn(c"alias-forced-type", HANDLER);
        // Read back by matched_alias: a reference into the server config, which outlives r.
        r.set_request_config(alias);
        return Status::OK;
    }
    Status::DECLINED
}
