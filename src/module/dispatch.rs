//! The `wsgi-script` content handler and THE decision of each request: checks the target,
//! prepares the body, builds the environ, then picks the daemon group that serves the request
//! (`daemon::client::forward`) or runs it in this Apache child (`embedded::run`).
use std::borrow::Cow;
use std::ffi::c_int;

use wsgi_rs_core::environ;
use wsgi_rs_core::wsgi::LogLevel;

use crate::apache::guard::guard;
use crate::apache::log::rlog;
use crate::apache::strings::bytes;
use crate::apache::table::entries;
use crate::directives::config::{DirConfig, ScriptAlias, module_config, tri};
use crate::ffi;
use crate::module::translate::matched_alias;
use crate::request::facts::{extras, request_facts};
use wsgi_rs_core::config::{MapHead, ProcessGroup, parse_process_group};
use wsgi_rs_core::daemon::RequestMeta;

use crate::daemon::client;
use crate::daemon::registry::{DaemonGroup, child_registry, server_name};

const HTTP_500: c_int = ffi::HTTP_INTERNAL_SERVER_ERROR as c_int;

/// The daemon group that serves this request (`None`: embedded), from the alias option or
/// `WSGIProcessGroup`, checked against `WSGIRestrictProcess` and the group's virtual host.
unsafe fn select_group<'a>(
    r: *mut ffi::request_rec,
    from_alias: Option<ProcessGroup>,
    dir: &DirConfig,
) -> Result<Option<&'a DaemonGroup>, c_int> {
    // SAFETY (whole function): live request; dir config strings are pool strings.
    unsafe {
        let pg = match from_alias {
            Some(p) => p,
            None if dir.process_group.is_null() => return Ok(None),
            None => parse_process_group("WSGIProcessGroup", &String::from_utf8_lossy(bytes(dir.process_group)))
                .map_err(|_| HTTP_500)?,
        };
        let name = match pg {
            ProcessGroup::Embedded => return Ok(None),
            ProcessGroup::Named(n) => n,
            ProcessGroup::Env(var) => {
                let v = std::ffi::CString::new(var).unwrap_or_default();
                let val = bytes(ffi::apr_table_get((*r).subprocess_env, v.as_ptr()));
                if val.is_empty() || val == b"%{GLOBAL}" {
                    return Ok(None);
                }
                String::from_utf8_lossy(val).into_owned()
            }
        };
        if !dir.restrict_process.is_null() {
            let allowed = String::from_utf8_lossy(bytes(dir.restrict_process)).into_owned();
            if !allowed.split(' ').any(|a| a == name) {
                rlog(
                    r,
                    LogLevel::Error,
                    &format!(
                        "RWSGI0119: Daemon process group '{name}' is not allowed here (WSGIRestrictProcess {allowed})."
                    ),
                );
                return Err(HTTP_500);
            }
        }
        let Some(g) = child_registry().and_then(|reg| reg.find(&name)) else {
            rlog(
                r,
                LogLevel::Error,
                &format!("RWSGI0118: No WSGI daemon process group called '{name}' has been configured."),
            );
            return Err(HTTP_500);
        };
        if !g.global && server_name(g.defined_in) != server_name((*r).server) {
            rlog(
                r,
                LogLevel::Error,
                &format!(
                    "RWSGI0118: WSGI daemon process group '{name}' is defined in another virtual host and cannot be used from '{}'.",
                    server_name((*r).server)
                ),
            );
            return Err(HTTP_500);
        }
        Ok(Some(g))
    }
}

pub unsafe extern "C" fn handler(r: *mut ffi::request_rec) -> c_int {
    guard("wsgi-script handler", HTTP_500, || {
        // SAFETY: Apache calls the handler with a live request.
        unsafe { handle(r) }
    })
}

/// True when an output filter that may look at the body (a content filter such as DEFLATE) is
/// installed: `WSGIMapHEADToGET Auto` then runs HEAD as GET so the filter sees the full body.
unsafe fn has_content_filter(r: *mut ffi::request_rec) -> bool {
    // SAFETY: `r` is the live request of the handler.
    let mut f = unsafe { (*r).output_filters };
    while !f.is_null() {
        // SAFETY: walking Apache's filter chain of the live request.
        unsafe {
            if !(*f).frec.is_null() && (*(*f).frec).ftype < ffi::AP_FTYPE_PROTOCOL {
                return true;
            }
            f = (*f).next;
        }
    }
    false
}

/// The checks mod_wsgi makes before running anything: handler allowed here, target a file,
/// path info accepted, request body acceptable. `Err` is the status to answer.
unsafe fn preflight(
    r: *mut ffi::request_rec,
    alias: Option<&ScriptAlias>,
    dir: &DirConfig,
    script: &str,
) -> Result<(), c_int> {
    // SAFETY (whole function): `r` is the live request of the handler.
    unsafe {
        if alias.is_none() && (ffi::ap_allow_options(r) & ffi::OPT_EXECCGI as c_int) == 0 {
            rlog(r, LogLevel::Error, &format!("RWSGI0012: Options ExecCGI is off in this directory: {script}"));
            return Err(ffi::HTTP_FORBIDDEN as c_int);
        }
        match (*r).finfo.filetype {
            ffi::APR_NOFILE => {
                rlog(
                    r,
                    LogLevel::Error,
                    &format!("RWSGI0010: Target WSGI script not found or unable to stat: {script}"),
                );
                return Err(ffi::HTTP_NOT_FOUND as c_int);
            }
            ffi::APR_DIR => {
                rlog(
                    r,
                    LogLevel::Error,
                    &format!("RWSGI0011: Attempt to invoke directory as WSGI application: {script}"),
                );
                return Err(ffi::HTTP_FORBIDDEN as c_int);
            }
            _ => {}
        }
        if !bytes((*r).path_info).is_empty() && (*r).used_path_info == ffi::AP_REQ_REJECT_PATH_INFO as c_int {
            rlog(r, LogLevel::Error, &format!("RWSGI0013: AcceptPathInfo off disallows extra path info for: {script}"));
            return Err(ffi::HTTP_NOT_FOUND as c_int);
        }
        // Validates Content-Length (400) and Transfer-Encoding (411 unless WSGIChunkedRequest On).
        let policy =
            if tri(dir.chunked_request, false) { ffi::REQUEST_CHUNKED_DECHUNK } else { ffi::REQUEST_CHUNKED_ERROR };
        let rv = ffi::ap_setup_client_block(r, policy as c_int);
        if rv != ffi::OK as c_int {
            if rv == ffi::HTTP_LENGTH_REQUIRED as c_int {
                rlog(
                    r,
                    LogLevel::Error,
                    &format!("RWSGI0014: Chunked request body refused (WSGIChunkedRequest Off): {script}"),
                );
            }
            return Err(rv);
        }
    }
    Ok(())
}

unsafe fn handle(r: *mut ffi::request_rec) -> c_int {
    // SAFETY (whole function): `r` is live for the duration of the handler; config records
    // belong to the server and per-dir config of this request.
    unsafe {
        let h = bytes((*r).handler);
        if h != b"wsgi-script" && h != b"application/x-httpd-wsgi" {
            return ffi::DECLINED as c_int;
        }
        let filename = bytes((*r).filename);
        let script = String::from_utf8_lossy(filename);
        let alias = matched_alias(r);
        let dir: &DirConfig = &*module_config::<DirConfig>((*r).per_dir_config);
        if let Err(status) = preflight(r, alias, dir, &script) {
            return status;
        }

        let pass_auth = alias.and_then(|a| a.options.pass_authorization).unwrap_or(tri(dir.pass_authorization, false));
        let callable = match alias.and_then(|a| a.options.callable_object.as_deref()) {
            Some(c) => Cow::Borrowed(c),
            None if !dir.callable_object.is_null() => String::from_utf8_lossy(bytes(dir.callable_object)),
            None => Cow::Borrowed("application"),
        };
        let reload = tri(dir.script_reloading, true);
        let mut facts = request_facts(r, pass_auth);
        if (*r).header_only != 0 {
            let map = match dir.map_head() {
                MapHead::On => true,
                MapHead::Off => false,
                MapHead::Auto => has_content_filter(r),
            };
            if map {
                facts.method = b"GET";
            }
        }
        let env = environ::build(&facts, entries((*r).headers_in), entries((*r).subprocess_env));
        let x = extras(r, facts.https);
        match select_group(r, alias.and_then(|a| a.options.process_group.clone()), dir) {
            Err(status) => return status,
            Ok(Some(g)) => {
                let mut meta = RequestMeta {
                    script: filename.to_vec(),
                    callable: callable.into_owned(),
                    reload,
                    https: x.https,
                    listener_host: x.listener_host.to_vec(),
                    listener_port: x.listener_port,
                    server_pid: x.server_pid,
                    request_id: x.request_id.to_vec(),
                    connection_id: x.connection_id,
                    request_start_us: (*r).request_time,
                    queue_start_us: 0,
                    client: format!("{}:{}", String::from_utf8_lossy(facts.remote_addr), facts.remote_port)
                        .into_bytes(),
                };
                return client::forward(r, g, &env, &mut meta);
            }
            Ok(None) => {}
        }
        crate::embedded::run(r, filename, &callable, reload, tri(dir.enable_sendfile, false), &env, &x)
    }
}
