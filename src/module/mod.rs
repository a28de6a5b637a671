//! Apache's view of the module: the directive table, hook registration, the life-cycle hooks,
//! URL translation, and THE dispatch point (`dispatch`) that decides, per request, embedded
//! mode or which daemon group.
// The hook registration callback is Apache's: its one contract is Apache's, a live pool.
pub mod auth;
pub mod dispatch;
pub mod lifecycle;
pub mod status_page;
pub mod translate;

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr::{null, null_mut};

use crate::directives as d;
use crate::{apache, ffi};

type Take1 = unsafe extern "C" fn(*mut ffi::cmd_parms, *mut c_void, *const c_char) -> *const c_char;
type Flag = unsafe extern "C" fn(*mut ffi::cmd_parms, *mut c_void, c_int) -> *const c_char;

/// One entry of the directive table: `func` is the union member `how` names.
const fn cmd(
    name: &'static CStr,
    func: ffi::cmd_func,
    how: ffi::cmd_how,
    info: usize,
    ctx: u32,
    help: &'static CStr,
) -> ffi::command_rec {
    ffi::command_rec {
        name: name.as_ptr(),
        func,
        cmd_data: info as *mut c_void,
        req_override: ctx as c_int,
        args_how: how,
        errmsg: help.as_ptr(),
    }
}

const fn raw(name: &'static CStr, f: Take1, info: usize, ctx: u32, help: &'static CStr) -> ffi::command_rec {
    cmd(name, ffi::cmd_func { raw_args: Some(f) }, ffi::RAW_ARGS, info, ctx, help)
}

const fn take1(name: &'static CStr, f: Take1, info: usize, ctx: u32, help: &'static CStr) -> ffi::command_rec {
    cmd(name, ffi::cmd_func { take1: Some(f) }, ffi::TAKE1, info, ctx, help)
}

const fn flag(name: &'static CStr, f: Flag, info: usize, ctx: u32, help: &'static CStr) -> ffi::command_rec {
    cmd(name, ffi::cmd_func { flag: Some(f) }, ffi::FLAG, info, ctx, help)
}

const S: u32 = ffi::RSRC_CONF;
const SD: u32 = ffi::RSRC_CONF | ffi::ACCESS_CONF;
const FILEINFO: u32 = ffi::OR_FILEINFO;
/// Directory context and `.htaccess` under `AllowOverride AuthConfig` (mod_wsgi's OR_AUTHCFG).
const AUTHCFG: u32 = ffi::OR_AUTHCFG;
/// Anywhere (server, vhost, directory, .htaccess of any override class).
const ANY: u32 = ffi::RSRC_CONF | ffi::ACCESS_CONF | ffi::OR_ALL;

/// The directive table (contexts as in mod_wsgi, see README). Ends with a zeroed entry.
/// `static mut`: Apache writes into command records it owns through the module record.
pub static mut CMDS: [ffi::command_rec; 51] = [
    raw(c"WSGIScriptAlias", d::script_alias, 0, S, c"URL path, script file or directory, then options"),
    raw(c"WSGIScriptAliasMatch", d::script_alias, 1, S, c"URL regex, script path, then options"),
    take1(c"WSGICallableObject", d::callable_object, 0, FILEINFO, c"Name of the WSGI application callable"),
    flag(c"WSGIPassAuthorization", d::dir_flag, 1, FILEINFO, c"Pass the Authorization header to the application"),
    flag(c"WSGIScriptReloading", d::dir_flag, 2, FILEINFO, c"Re-import a WSGI script when it changes"),
    flag(c"WSGIChunkedRequest", d::dir_flag, 3, FILEINFO, c"Accept chunked request bodies"),
    take1(c"WSGIMapHEADToGET", d::map_head, 0, FILEINFO, c"On, Off or Auto"),
    flag(c"WSGIRestrictStdout", d::server_flag, 1, S, c"Forbid output to sys.stdout"),
    flag(c"WSGIRestrictSignal", d::server_flag, 2, S, c"Ignore signal handler registrations by applications"),
    flag(
        c"WSGIRestrictEmbedded",
        d::server_flag,
        3,
        S,
        c"Forbid embedded mode (Python is not started in Apache children)",
    ),
    flag(c"WSGIEnableSendfile", d::dir_flag, 4, FILEINFO, c"Let wsgi.file_wrapper responses use kernel sendfile"),
    flag(c"WSGICGIScript", d::dir_flag, 5, FILEINFO, c"Run the scripts here as legacy CGI scripts (no fork)"),
    flag(c"WSGIRestrictStdin", d::server_flag, 4, S, c"Forbid reading sys.stdin"),
    flag(c"WSGIDontWriteBytecode", d::server_flag, 5, S, c"Do not write .pyc files"),
    flag(c"WSGIDestroyInterpreter", d::server_flag, 6, S, c"Run Py_Finalize (atexit handlers) when a process exits"),
    flag(c"WSGISocketRotation", d::server_flag, 7, S, c"Accepted; daemon socket names never rotate"),
    flag(c"WSGICaseSensitivity", d::server_flag, 8, S, c"Accepted; script paths are used as given"),
    flag(c"WSGIVerboseDebugging", d::server_flag, 9, S, c"Accepted, no effect (deprecated in mod_wsgi 6)"),
    take1(c"WSGIPythonEggs", d::python_setting, 1, S, c"PYTHON_EGG_CACHE directory"),
    take1(c"WSGIPythonHashSeed", d::python_setting, 2, S, c"random or an integer"),
    take1(c"WSGIPythonWarnings", d::python_setting, 3, S, c"A -W warnings filter"),
    take1(c"WSGISwitchInterval", d::python_setting, 4, S, c"sys.setswitchinterval seconds"),
    take1(
        c"WSGIApplicationGroup",
        d::application_group,
        0,
        SD,
        c"Application group (interpreter): name, %{GLOBAL}, %{RESOURCE}, %{SERVER}, %{HOST} or %{ENV:var}",
    ),
    take1(
        c"WSGIProcessGroup",
        d::process_group,
        0,
        SD,
        c"Daemon process group: name, %{GLOBAL} (embedded), %{SERVER}, %{HOST} or %{ENV:var}",
    ),
    take1(c"WSGIPythonHome", d::python_home, 0, S, c"Python prefix or virtualenv root"),
    take1(c"WSGIPythonPath", d::python_path, 0, S, c"Colon-separated directories added with site.addsitedir"),
    take1(c"WSGIPythonOptimize", d::python_optimize, 0, S, c"Optimisation level 0, 1 or 2"),
    raw(c"WSGIDaemonProcess", d::daemon::daemon_process, 0, S, c"Daemon process group: name, then options"),
    take1(
        c"WSGISocketPrefix",
        d::daemon::socket_prefix,
        0,
        S,
        c"Path prefix of daemon sockets (relative to ServerRoot)",
    ),
    raw(
        c"WSGIImportScript",
        d::daemon::import_script,
        0,
        S,
        c"Script preloaded in a daemon group: path process-group= application-group=",
    ),
    raw(c"WSGIRestrictProcess", d::daemon::restrict_process, 0, SD, c"Daemon process groups allowed here"),
    raw(
        c"WSGIHandlerScript",
        d::handler_script,
        0,
        SD,
        c"Handler name, script (its handle_request runs), then options",
    ),
    raw(
        c"WSGIDispatchScript",
        d::dispatch_script,
        0,
        SD,
        c"Script choosing groups and callable per request: path [application-group=]",
    ),
    raw(
        c"WSGIAccessScript",
        d::auth_script,
        0,
        AUTHCFG,
        c"Host access script (allow_access): path [application-group=]",
    ),
    raw(
        c"WSGIAuthUserScript",
        d::auth_script,
        1,
        AUTHCFG,
        c"Auth provider 'wsgi' script (check_password, get_realm_hash): path [application-group=]",
    ),
    raw(
        c"WSGIAuthGroupScript",
        d::auth_script,
        2,
        AUTHCFG,
        c"Authz provider 'wsgi-group' script (groups_for_user): path [application-group=]",
    ),
    flag(
        c"WSGIGroupAuthoritative",
        d::group_authoritative,
        0,
        AUTHCFG,
        c"Accepted; no effect with Apache 2.4's authz providers",
    ),
    flag(
        c"WSGIErrorOverride",
        d::dir_flag,
        6,
        FILEINFO,
        c"Daemon mode: Apache's ErrorDocument replaces 4xx/5xx bodies",
    ),
    flag(c"WSGIPassApacheRequest", d::dir_flag, 7, SD, c"Embedded mode: apache.request_rec capsule in the environ"),
    flag(c"WSGIIgnoreActivity", d::dir_flag, 8, FILEINFO, c"These requests do not reset inactivity-timeout"),
    raw(c"WSGITrustedProxies", d::trusted_proxies, 0, FILEINFO, c"Trusted proxy addresses or networks (CIDR)"),
    raw(
        c"WSGITrustedProxyHeaders",
        d::trusted_proxy_headers,
        0,
        FILEINFO,
        c"Proxy headers trusted from those proxies, e.g. X-Forwarded-For X-Forwarded-Proto",
    ),
    take1(c"WSGIAcceptMutex", d::accept_mutex, 0, S, c"Accepted, no effect: no accept mutex is needed"),
    flag(
        c"WSGIServerMetrics",
        d::server_flag,
        11,
        S,
        c"Let mod_wsgi.server_metrics() read the scoreboard (embedded mode)",
    ),
    raw(c"WSGITelemetryService", d::not_supported, 0, ANY, c"Not supported: use the wsgi-status handler"),
    raw(c"WSGISlowRequests", d::not_supported, 0, ANY, c"Not supported: use the wsgi-status handler"),
    raw(c"WSGITelemetryOptions", d::not_supported, 0, ANY, c"Not supported: use the wsgi-status handler"),
    raw(c"WSGIPerInterpreterGIL", d::not_supported, 0, ANY, c"Not supported by mod_wsgi_rs yet"),
    raw(c"WSGIFreeThreading", d::not_supported, 0, ANY, c"Needs a free-threaded Python build"),
    flag(c"WSGILazyInitialization", d::server_flag, 10, S, c"Accepted, no effect: Python always starts after fork"),
    ffi::command_rec {
        name: null(),
        func: ffi::cmd_func { raw_args: None },
        cmd_data: null_mut(),
        req_override: 0,
        args_how: 0,
        errmsg: null(),
    },
];

/// # Safety
/// Called by Apache only, once, while loading the module.
pub unsafe extern "C" fn register_hooks(p: *mut ffi::apr_pool_t) {
    apache::guard::guard("register_hooks", (), || {
        let mid = ffi::APR_HOOK_MIDDLE as c_int;
        // SAFETY: registering static hook functions with Apache's hook API.
        unsafe {
            ffi::ap_hook_check_config(Some(lifecycle::check_config), null(), null(), mid);
            ffi::ap_hook_post_config(Some(lifecycle::post_config), null(), null(), mid);
            ffi::ap_hook_child_init(Some(lifecycle::child_init), null(), null(), mid);
            ffi::ap_hook_translate_name(Some(translate::translate_name), null(), null(), mid);
            ffi::ap_hook_handler(Some(dispatch::handler), null(), null(), mid);
            apache::auth::register(
                p,
                auth::check_password,
                auth::get_realm_hash,
                auth::check_authorization,
                auth::access_checker,
            );
            ffi::ap_hook_handler(Some(status_page::handler), null(), null(), mid);
        }
    })
}
