//! The `wsgi-script` content handler and THE decision of each request: checks the target,
//! prepares the body, builds the environ, then picks the daemon group that serves the request
//! (`daemon::client::forward`) or runs it in this Apache child (`embedded::run`).
use std::borrow::Cow;
use std::ffi::c_int;

use wsgi_rs_core::environ;
use wsgi_rs_core::wsgi::{AppSpec, Configured, Dispatch, LogLevel, interp, run_dispatch};

use crate::apache::guard::guard;
use crate::apache::request::{FileType, Request};
use crate::apache::status::Status;
use crate::directives::config::{DirConfig, HandlerScript, ScriptAlias, UNSET, tri};
use crate::ffi;
use crate::module::translate::matched_alias;
use crate::request::facts::{extras, request_facts};
use wsgi_rs_core::config::{
    AppGroup, GroupFacts, MapHead, ProcessGroup, ScriptAliasOptions, parse_app_group, parse_process_group,
};
use wsgi_rs_core::daemon::RequestMeta;

use crate::daemon::client;
use crate::daemon::registry::{DaemonGroup, child_registry};

/// Runs `f` with what the request offers to resolve a group (`%{SERVER}`, `%{HOST}`,
/// `%{RESOURCE}`, `%{ENV:var}`: request variables, then notes, then the process environment).
pub(crate) fn with_group_facts<T>(r: &Request, script_name: &[u8], f: impl FnOnce(&GroupFacts<'_>) -> T) -> T {
    let (env, notes) = (r.subprocess_env(), r.notes());
    let lookup = |k: &str| -> Option<Vec<u8>> {
        let key = std::ffi::CString::new(k).ok()?;
        env.get(&key)
            .or_else(|| notes.get(&key))
            .map(<[u8]>::to_vec)
            .or_else(|| std::env::var_os(k).map(|v| v.into_encoded_bytes()))
    };
    f(&GroupFacts {
        server_hostname: r.server_hostname(),
        host: r.hostname(),
        port: r.server_port(),
        script_name,
        env: &lookup,
    })
}

/// The name of the daemon group configured for this request (`None`: embedded), from the alias
/// option or `WSGIProcessGroup` (a name, or resolved per request: `%{ENV:var}`, `%{SERVER}`,
/// `%{HOST}`).
fn process_group(r: &Request, from_alias: Option<&ProcessGroup>, dir: &DirConfig) -> Result<Option<String>, Status> {
    let written;
    let pg = match (from_alias, dir.process_group_bytes()) {
        (Some(p), _) => p,
        (None, None) => return Ok(None),
        (None, Some(w)) => {
            written = parse_process_group("WSGIProcessGroup", &String::from_utf8_lossy(w))
                .map_err(|_| Status::INTERNAL_SERVER_ERROR)?;
            &written
        }
    };
    Ok(with_group_facts(r, b"", |f| pg.resolve(f)))
}

/// The daemon group named `name` (`None`: embedded), checked against `WSGIRestrictProcess` and
/// the group's virtual host. As in mod_wsgi, a restricted place runs nothing embedded unless
/// its list names `%{GLOBAL}`: an empty `%{ENV:var}` (say, from a user's `.htaccess`) or a
/// dispatch script's `''` cannot leave the allowed groups for the Apache child.
fn select_group<'a>(r: Request, name: Option<String>, dir: &DirConfig) -> Result<Option<&'a DaemonGroup>, Status> {
    let Some(name) = name else {
        if let Some(allowed) = dir.restrict_process_bytes()
            && !allowed.split(|b| *b == b' ').any(|a| a == b"%{GLOBAL}")
        {
            r.log(
                LogLevel::Error,
                &wsgi_rs_core::coded!(
                    "RWSGI0119",
                    "Embedded mode (process group %{{GLOBAL}}) is not allowed here (WSGIRestrictProcess {}); list %{{GLOBAL}} to allow it.",
                    String::from_utf8_lossy(allowed)
                ),
            );
            return Err(Status::INTERNAL_SERVER_ERROR);
        }
        return Ok(None);
    };
    if let Some(allowed) = dir.restrict_process_bytes() {
        let allowed = String::from_utf8_lossy(allowed).into_owned();
        if !allowed.split(' ').any(|a| a == name) {
            r.log(
                LogLevel::Error,
                &wsgi_rs_core::coded!(
                    "RWSGI0119",
                    "Daemon process group '{name}' is not allowed here (WSGIRestrictProcess {allowed})."
                ),
            );
            return Err(Status::INTERNAL_SERVER_ERROR);
        }
    }
    let Some(g) = child_registry().and_then(|reg| reg.find(&name)) else {
        r.log(
            LogLevel::Error,
            &wsgi_rs_core::coded!("RWSGI0118", "No WSGI daemon process group called '{name}' has been configured."),
        );
        return Err(Status::INTERNAL_SERVER_ERROR);
    };
    if let Err(here) = g.usable_from(&r) {
        r.log(
            LogLevel::Error,
            &wsgi_rs_core::coded!(
                "RWSGI0118", "WSGI daemon process group '{name}' is defined in another virtual host and cannot be used from '{here}'."
            ),
        );
        return Err(Status::INTERNAL_SERVER_ERROR);
    }
    Ok(Some(g))
}

/// The application group of the request, resolved as mod_wsgi does (`""`: the main
/// interpreter), from the alias option or `WSGIApplicationGroup` (default `%{GLOBAL}`). In
/// daemon mode too it is resolved here, in the Apache child, and travels with the request.
fn application_group(r: &Request, from_alias: Option<&AppGroup>, dir: &DirConfig, script_name: &[u8]) -> String {
    let written;
    let g = match (from_alias, dir.application_group_bytes()) {
        (Some(g), _) => g,
        (None, Some(w)) => {
            written = parse_app_group("WSGIApplicationGroup", &String::from_utf8_lossy(w)).unwrap_or(AppGroup::Global);
            &written
        }
        (None, None) => return String::new(),
    };
    with_group_facts(r, script_name, |f| g.resolve(f))
}

/// Runs the `WSGIDispatchScript` in this Apache child (in its application group `group`, `""`
/// the main interpreter). `Err`: the status to answer (logged).
fn run_dispatch_script(
    r: Request,
    script: &[u8],
    group: &[u8],
    reload: bool,
    env: &environ::Environ<'_>,
    configured: &Configured<'_>,
) -> Result<Dispatch, Status> {
    let path = crate::apache::strings::path(script);
    if !interp::is_initialized() {
        r.log(
            LogLevel::Error,
            &wsgi_rs_core::coded!(
                "RWSGI0015",
                "The Python interpreter is not available in this process (see RWSGI0002 at start-up); cannot run WSGIDispatchScript {}",
                path.display()
            ),
        );
        return Err(Status::INTERNAL_SERVER_ERROR);
    }
    let log = |level: LogLevel, msg: &str| r.log(level, msg);
    run_dispatch(path, &String::from_utf8_lossy(group), reload, env, configured, &log)
        .ok_or(Status::INTERNAL_SERVER_ERROR)
}

/// The `handler` hook.
///
/// # Safety
/// Called by Apache only, with a live request for the duration of the call.
pub unsafe extern "C" fn handler(r: *mut ffi::request_rec) -> c_int {
    guard("wsgi-script handler", Status::INTERNAL_SERVER_ERROR.raw(), || {
        // SAFETY: Apache calls the handler with a live request, used only within this call.
        let r = unsafe { Request::from_raw(r) };
        handle(r).raw()
    })
}

/// The checks mod_wsgi makes before running anything: handler allowed here, target a file,
/// path info accepted, request body acceptable. `Err` is the status to answer. A
/// `WSGIHandlerScript` (`target_is_script` false) skips the first two, as in mod_wsgi: its
/// script is configured, and the requested file is only what it serves (SCRIPT_FILENAME).
fn preflight(
    r: Request,
    alias: Option<&ScriptAlias>,
    dir: &DirConfig,
    script: &str,
    target_is_script: bool,
) -> Result<(), Status> {
    if !target_is_script {
        return body_checks(r, dir, script);
    }
    if alias.is_none() && !r.allows_exec_cgi() {
        r.log(
            LogLevel::Error,
            &wsgi_rs_core::coded!("RWSGI0012", "Options ExecCGI is off in this directory: {script}"),
        );
        return Err(Status::FORBIDDEN);
    }
    match r.file_type() {
        FileType::Missing => {
            r.log(
                LogLevel::Error,
                &wsgi_rs_core::coded!("RWSGI0010", "Target WSGI script not found or unable to stat: {script}"),
            );
            return Err(Status::NOT_FOUND);
        }
        FileType::Directory => {
            r.log(
                LogLevel::Error,
                &wsgi_rs_core::coded!("RWSGI0011", "Attempt to invoke directory as WSGI application: {script}"),
            );
            return Err(Status::FORBIDDEN);
        }
        _ => {}
    }
    body_checks(r, dir, script)
}

/// Path info accepted, request body acceptable (every handler).
fn body_checks(r: Request, dir: &DirConfig, script: &str) -> Result<(), Status> {
    if !r.path_info().is_empty() && r.rejects_path_info() {
        r.log(
            LogLevel::Error,
            &wsgi_rs_core::coded!("RWSGI0013", "AcceptPathInfo off disallows extra path info for: {script}"),
        );
        return Err(Status::NOT_FOUND);
    }
    // Validates Content-Length (400) and Transfer-Encoding (411 unless WSGIChunkedRequest On).
    let rv = r.setup_client_block(tri(dir.chunked_request, false));
    if rv != Status::OK {
        if rv == Status::LENGTH_REQUIRED {
            r.log(
                LogLevel::Error,
                &wsgi_rs_core::coded!("RWSGI0014", "Chunked request body refused (WSGIChunkedRequest Off): {script}"),
            );
        }
        return Err(rv);
    }
    Ok(())
}

/// The options of the `WSGIHandlerScript` that selected the request, in `WSGIScriptAlias`
/// option form (they win over the per-directory directives the same way).
fn handler_options(h: &HandlerScript) -> ScriptAliasOptions {
    let text =
        |s: &Option<crate::apache::strings::PoolStr>| s.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    ScriptAliasOptions {
        // Validated when the directive was read.
        process_group: text(&h.process_group).and_then(|v| parse_process_group("WSGIHandlerScript", &v).ok()),
        application_group: text(&h.application_group).and_then(|v| parse_app_group("WSGIHandlerScript", &v).ok()),
        // mod_wsgi's fixed callable for handler scripts (WSGICallableObject does not apply).
        callable_object: Some("handle_request".into()),
        pass_authorization: (h.pass_authorization != UNSET).then_some(h.pass_authorization != 0),
    }
}

fn handle(r: Request) -> Status {
    let h = r.handler();
    let dir = DirConfig::of(&r);
    // `wsgi-script` runs the requested file; a WSGIHandlerScript name runs its script, the
    // requested file being SCRIPT_FILENAME.
    let handler = if h == b"wsgi-script" || h == b"application/x-httpd-wsgi" {
        None
    } else {
        match dir.handler_script(h) {
            Some(hs) => Some(hs),
            None => return Status::DECLINED,
        }
    };
    let filename = r.filename();
    let app_script = handler.map_or(filename, |hs| hs.script.as_bytes());
    let script = String::from_utf8_lossy(app_script);
    // A handler script ignores the alias that may have mapped the URL (mod_wsgi reads the
    // alias's options only for wsgi-script).
    let alias = if handler.is_some() { None } else { matched_alias(&r) };
    if let Err(status) = preflight(r, alias, dir, &script, handler.is_none()) {
        return status;
    }
    let from_handler = handler.map(handler_options);
    let opts = from_handler.as_ref().or(alias.map(|a| &a.options));

    let pass_auth = opts.and_then(|o| o.pass_authorization).unwrap_or(tri(dir.pass_authorization, false));
    let callable = match (opts.and_then(|o| o.callable_object.as_deref()), dir.callable_object_bytes()) {
        (Some(c), _) => Cow::Borrowed(c),
        (None, Some(c)) => String::from_utf8_lossy(c),
        (None, None) => Cow::Borrowed("application"),
    };
    let reload = tri(dir.script_reloading, true);
    // The script's modification time from this request's stat of it (r->finfo), for the
    // reload check, so it is not stat'ed again (a handler script is not r->filename).
    let script_mtime_us = if reload && handler.is_none() { r.file_mtime_us() } else { None };
    // WSGICGIScript applies to the scripts mapped as such, not to a handler script's file.
    let cgi = handler.is_none() && tri(dir.cgi_script, false);
    let mut facts = request_facts(&r, pass_auth);
    if r.header_only() {
        let map = match dir.map_head() {
            MapHead::On => true,
            MapHead::Off => false,
            // A filter that may look at the body (such as DEFLATE) sees the full body of a GET.
            MapHead::Auto => r.has_content_filter(),
        };
        if map {
            facts.method = b"GET";
        }
    }
    let (headers_in, subprocess_env) = (r.headers_in(), r.subprocess_env());
    let mut env = environ::build(&facts, headers_in.entries(), subprocess_env.entries());
    // %{RESOURCE} names the group from the SCRIPT_NAME Apache mapped, before any proxy header.
    let mut group = application_group(
        &r,
        opts.and_then(|o| o.application_group.as_ref()),
        dir,
        env.get("SCRIPT_NAME").unwrap_or_default(),
    );
    // The scheme: a trusted proxy's scheme header if one was applied, else TLS or `HTTPS`
    // (SetEnv). The proxy rewrite happens here, once, in this Apache child: a daemon receives
    // the rewritten environ and the decided scheme.
    let https_here = facts.https || env.https_var;
    let https = match dir.proxy_rules() {
        None => https_here,
        Some((headers, proxies)) => {
            let before = env.https_var;
            environ::proxy::apply(&mut env, headers, proxies, before).unwrap_or(https_here)
        }
    };
    let mut pg_name = match process_group(&r, opts.and_then(|o| o.process_group.as_ref()), dir) {
        Ok(n) => n,
        Err(status) => return status,
    };
    let mut callable = callable.into_owned();
    if let Some((dscript, dgroup)) = dir.dispatch() {
        let configured = Configured {
            process_group: pg_name.as_deref().unwrap_or(""),
            application_group: &group,
            callable_object: &callable,
        };
        let d = match run_dispatch_script(r, dscript, dgroup, reload, &env, &configured) {
            Ok(d) => d,
            Err(status) => return status,
        };
        if let Some(p) = d.process_group {
            pg_name = Some(p).filter(|p| !p.is_empty());
        }
        if let Some(g) = d.application_group {
            group = g;
        }
        if let Some(c) = d.callable_object {
            callable = c;
        }
    }
    let mut x = extras(&r, https);
    x.application_group = &group;
    let handler_script = handler.map_or(&b""[..], |hs| hs.script.as_bytes());
    x.handler_script = handler_script;
    match select_group(r, pg_name, dir) {
        Err(status) => return status,
        Ok(Some(g)) => {
            let mut meta = RequestMeta {
                script: app_script.to_vec(),
                callable: callable.clone(),
                application_group: group.clone(),
                reload,
                cgi,
                https: x.https,
                listener_host: x.listener_host.to_vec(),
                listener_port: x.listener_port,
                server_pid: x.server_pid,
                request_id: x.request_id.to_vec(),
                connection_id: x.connection_id,
                request_start_us: r.request_time(),
                queue_start_us: 0,
                client: format!("{}:{}", String::from_utf8_lossy(facts.remote_addr), facts.remote_port).into_bytes(),
                // Sent unless it is the default (`wsgi-script`).
                request_handler: if h != b"wsgi-script" { h.to_vec() } else { Vec::new() },
                handler_script: handler_script.to_vec(),
                ignore_activity: tri(dir.ignore_activity, false),
                // Set by client::forward once it has read the body's first window.
                pushed: Default::default(),
                // Set by client::forward, which takes ResponseFile frames.
                fdpass: false,
                script_mtime_us,
            };
            return client::forward(
                r,
                g,
                &env,
                &mut meta,
                tri(dir.error_override, false),
                tri(dir.enable_sendfile, false),
            );
        }
        Ok(None) => {}
    }
    // WSGIPassApacheRequest: embedded mode only (a daemon has no request_rec), as mod_wsgi;
    // WSGIErrorOverride has no effect here either (mod_wsgi applies it to daemon responses).
    if tri(dir.pass_apache_request, false) {
        x.apache_request = Some(r.opaque());
    }
    let stamp = script_mtime_us.map(wsgi_rs_core::wsgi::stamp_from_us);
    let spec = AppSpec {
        script: crate::apache::strings::path(app_script),
        callable: &callable,
        reload,
        group: x.application_group,
        cgi,
        stamp,
    };
    crate::embedded::run(r, &spec, tri(dir.enable_sendfile, false), &env, &x)
}
