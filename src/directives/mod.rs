//! One handler per directive: Apache's arguments in, a `core::config` value stored in our
//! config records out. An `Err` becomes the message `apachectl configtest` prints, prefixed by
//! Apache with the file and line.
// The directive handlers here are Apache's callbacks: each hands its C arguments to an entry
// helper of `apache::cmd` (`take1`, `flag`, `raw_args`) in its first line; the bodies are safe.
pub mod config;
pub mod daemon;
pub mod python;

use std::ffi::{CString, c_char, c_int, c_void};

use wsgi_rs_core::config::{
    MapHead, ProcessGroup, parse_app_group, parse_map_head, parse_optimize, parse_process_group,
    parse_script_alias_options,
};

use wsgi_rs_core::environ::subnet::Subnet;

use crate::apache::cmd::{self, CmdResult, Directive};
use crate::ffi;
use config::{DirConfig, ScriptAlias, ServerConfig};

/// A directive being processed, with this module's records for its context.
pub(crate) type Ctx<'a> = Directive<'a, DirConfig, ServerConfig>;

/// `WSGIScriptAlias url target [options]` and `WSGIScriptAliasMatch regex target [options]`
/// (`cmd->info` non-NULL for the Match form).
///
/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn script_alias(cmd: *mut ffi::cmd_parms, m: *mut c_void, args: *const c_char) -> CmdResult {
    // SAFETY: Apache's arguments to this RAW_ARGS handler.
    unsafe { cmd::raw_args(cmd, m, args, script_alias_body) }
}

fn script_alias_body(c: Ctx, w: Vec<String>) -> Result<(), String> {
    let d = c.name();
    if w.len() < 2 {
        return Err(format!("{d} requires a URL and a script path, e.g. '{d} / /srv/app/app.wsgi'"));
    }
    let opts: Vec<&str> = w[2..].iter().map(String::as_str).collect();
    let options = parse_script_alias_options(&d, &opts)?;
    let is_match = c.info() != 0;
    let regex = if is_match {
        let pat = CString::new(w[0].as_str()).map_err(|_| format!("{d}: NUL in regular expression"))?;
        let Some(re) = c.regcomp(&pat) else {
            return Err(format!("{d}: invalid regular expression '{}'", w[0]));
        };
        Some(re)
    } else {
        if !w[0].starts_with('/') {
            return Err(format!("{d}: URL path '{}' must start with '/'", w[0]));
        }
        None
    };
    let target = CString::new(w[1].as_str()).map_err(|_| format!("{d}: NUL in script path"))?;
    if !w[1].starts_with('/') {
        return Err(format!("{d}: script path '{}' must be absolute", w[1]));
    }
    if let Some(ProcessGroup::Named(n)) = &options.process_group {
        daemon::note_ref(c.cmd, n);
    }
    if let (Some(pg), Some(ag)) = (
        options.process_group.as_ref().and_then(|g| g.literal()),
        options.application_group.as_ref().and_then(|g| g.literal()),
    ) && !is_match
    {
        // Both groups given literally: mod_wsgi preloads the script when the processes start,
        // the daemon group's or (`%{GLOBAL}`) every Apache child.
        let callable = options.callable_object.clone().unwrap_or_else(|| "application".into());
        if pg.is_empty() {
            daemon::note_embedded_import(c.cmd, &w[1], &callable, ag);
        } else {
            daemon::note_import(c.cmd, pg, &w[1], &callable, ag);
        }
    }
    c.server.aliases.push(ScriptAlias { url: w[0].clone().into_bytes(), target, regex, options });
    Ok(())
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn callable_object(cmd: *mut ffi::cmd_parms, m: *mut c_void, a: *const c_char) -> CmdResult {
    // SAFETY: Apache's arguments to this TAKE1 handler.
    unsafe { cmd::take1(cmd, m, a, callable_object_body) }
}

fn callable_object_body(c: Ctx, v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("WSGICallableObject: the callable name must not be empty".into());
    }
    c.dir.callable_object = Some(c.pool().pstr(v));
    Ok(())
}

/// On/Off directives stored per directory; `cmd->info` selects the field (1..=8).
///
/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn dir_flag(cmd: *mut ffi::cmd_parms, m: *mut c_void, on: c_int) -> CmdResult {
    // SAFETY: Apache's arguments to this FLAG handler.
    unsafe { cmd::flag(cmd, m, on, dir_flag_body) }
}

fn dir_flag_body(c: Ctx, on: bool) -> Result<(), String> {
    let v = on as i8;
    match c.info() {
        1 => c.dir.pass_authorization = v,
        2 => c.dir.script_reloading = v,
        3 => c.dir.chunked_request = v,
        4 => c.dir.enable_sendfile = v,
        5 => c.dir.cgi_script = v,
        6 => c.dir.error_override = v,
        7 => c.dir.pass_apache_request = v,
        8 => c.dir.ignore_activity = v,
        _ => return Err(format!("{}: internal table error", c.name())),
    }
    Ok(())
}

/// Server-wide On/Off directives; `cmd->info` selects the field (1..=10).
///
/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn server_flag(cmd: *mut ffi::cmd_parms, m: *mut c_void, on: c_int) -> CmdResult {
    // SAFETY: Apache's arguments to this FLAG handler.
    unsafe { cmd::flag(cmd, m, on, server_flag_body) }
}

fn server_flag_body(c: Ctx, on: bool) -> Result<(), String> {
    c.require_global()?;
    let s = &mut *c.server;
    match c.cmd.info() {
        1 => s.restrict_stdout = Some(on),
        2 => s.restrict_signal = Some(on),
        3 => s.restrict_embedded = Some(on),
        4 => s.restrict_stdin = Some(on),
        5 => s.dont_write_bytecode = Some(on),
        6 => s.destroy_interpreter = Some(on),
        // WSGISocketRotation, WSGICaseSensitivity, WSGIVerboseDebugging,
        // WSGILazyInitialization: accepted for compatibility; their (lack of) effect is
        // documented in the README.
        7..=10 => {}
        11 => s.server_metrics = Some(on),
        _ => return Err(format!("{}: internal table error", c.cmd.name())),
    }
    Ok(())
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn map_head(cmd: *mut ffi::cmd_parms, m: *mut c_void, a: *const c_char) -> CmdResult {
    // SAFETY: Apache's arguments to this TAKE1 handler.
    unsafe { cmd::take1(cmd, m, a, map_head_body) }
}

fn map_head_body(c: Ctx, v: &str) -> Result<(), String> {
    c.dir.map_head = match parse_map_head(v)? {
        MapHead::Off => 0,
        MapHead::On => 1,
        MapHead::Auto => 2,
    };
    Ok(())
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn application_group(cmd: *mut ffi::cmd_parms, m: *mut c_void, a: *const c_char) -> CmdResult {
    // SAFETY: Apache's arguments to this TAKE1 handler.
    unsafe { cmd::take1(cmd, m, a, application_group_body) }
}

fn application_group_body(c: Ctx, v: &str) -> Result<(), String> {
    parse_app_group("WSGIApplicationGroup", v)?;
    c.dir.application_group = Some(c.pool().pstr(v));
    Ok(())
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn dispatch_script(cmd: *mut ffi::cmd_parms, m: *mut c_void, args: *const c_char) -> CmdResult {
    // SAFETY: Apache's arguments to this RAW_ARGS handler.
    unsafe { cmd::raw_args(cmd, m, args, dispatch_script_body) }
}

/// `WSGIDispatchScript path [application-group=name|%{GLOBAL}]` (default: the main interpreter).
fn dispatch_script_body(c: Ctx, w: Vec<String>) -> Result<(), String> {
    let Some(path) = w.first() else {
        return Err("WSGIDispatchScript requires a script path".into());
    };
    if !path.starts_with('/') || path.contains('\0') {
        return Err(format!("WSGIDispatchScript: script path '{path}' must be absolute"));
    }
    let mut group = String::new();
    for o in &w[1..] {
        match o.split_once('=') {
            Some(("application-group", v)) => {
                let Some(g) = parse_app_group("WSGIDispatchScript", v)?.literal().map(str::to_string) else {
                    return Err("WSGIDispatchScript: application-group= must be a group name or %{GLOBAL}".into());
                };
                group = g;
            }
            _ => return Err(format!("WSGIDispatchScript: unknown option '{o}' (expected application-group=)")),
        }
    }
    c.dir.dispatch_script = Some(c.pool().pstr(path));
    c.dir.dispatch_group = Some(c.pool().pstr(&group));
    Ok(())
}

/// `WSGIAccessScript`, `WSGIAuthUserScript`, `WSGIAuthGroupScript` (`cmd->info` 0, 1, 2:
/// [`config::AuthKind`]).
///
/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn auth_script(cmd: *mut ffi::cmd_parms, m: *mut c_void, args: *const c_char) -> CmdResult {
    // SAFETY: Apache's arguments to this RAW_ARGS handler.
    unsafe { cmd::raw_args(cmd, m, args, auth_script_body) }
}

/// `path [application-group=name|%{GLOBAL}|%{SERVER}|%{HOST}|%{ENV:var}|%{RESOURCE}]`.
fn auth_script_body(c: Ctx, w: Vec<String>) -> Result<(), String> {
    let kind = match c.info() {
        0 => config::AuthKind::Access,
        1 => config::AuthKind::User,
        2 => config::AuthKind::Group,
        _ => return Err(format!("{}: internal table error", c.name())),
    };
    let d = kind.directive();
    let Some(path) = w.first() else {
        return Err(format!("{d} requires a script path, e.g. '{d} /srv/app/auth.wsgi'"));
    };
    if !path.starts_with('/') || path.contains('\0') {
        return Err(format!("{d}: script path '{path}' must be absolute"));
    }
    let mut group = String::new();
    for o in &w[1..] {
        match o.split_once('=') {
            Some(("application-group", v)) => {
                if v.is_empty() {
                    return Err(format!("{d}: application-group= needs a group name or %{{GLOBAL}}"));
                }
                parse_app_group(d, v)?;
                group = v.to_string();
            }
            _ => return Err(format!("{d}: unknown option '{o}' (expected application-group=)")),
        }
    }
    daemon::note_auth_script(c.cmd);
    let pool = c.pool();
    c.dir.auth[kind as usize] = Some(config::AuthScriptConf { script: pool.pstr(path), group: pool.pstr(&group) });
    Ok(())
}

/// `WSGIGroupAuthoritative On|Off`: kept, no effect on Apache 2.4 (see README).
///
/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn group_authoritative(cmd: *mut ffi::cmd_parms, m: *mut c_void, on: c_int) -> CmdResult {
    // SAFETY: Apache's arguments to this FLAG handler.
    unsafe {
        cmd::flag(cmd, m, on, |c: Ctx, on| {
            c.dir.group_authoritative = on as i8;
            Ok(())
        })
    }
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn process_group(cmd: *mut ffi::cmd_parms, m: *mut c_void, a: *const c_char) -> CmdResult {
    // SAFETY: Apache's arguments to this TAKE1 handler.
    unsafe { cmd::take1(cmd, m, a, process_group_body) }
}

fn process_group_body(c: Ctx, v: &str) -> Result<(), String> {
    if let ProcessGroup::Named(n) = parse_process_group("WSGIProcessGroup", v)? {
        daemon::note_ref(c.cmd, &n);
    }
    c.dir.process_group = Some(c.pool().pstr(v));
    Ok(())
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn python_home(cmd: *mut ffi::cmd_parms, m: *mut c_void, a: *const c_char) -> CmdResult {
    // SAFETY: Apache's arguments to this TAKE1 handler.
    unsafe { cmd::take1(cmd, m, a, python_home_body) }
}

fn python_home_body(c: Ctx, v: &str) -> Result<(), String> {
    c.require_global()?;
    if !v.starts_with('/') {
        return Err(format!("WSGIPythonHome: '{v}' must be an absolute path"));
    }
    c.server.python_home = Some(v.to_string());
    Ok(())
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn python_path(cmd: *mut ffi::cmd_parms, m: *mut c_void, a: *const c_char) -> CmdResult {
    // SAFETY: Apache's arguments to this TAKE1 handler.
    unsafe { cmd::take1(cmd, m, a, python_path_body) }
}

fn python_path_body(c: Ctx, v: &str) -> Result<(), String> {
    c.require_global()?;
    c.server.python_path.extend(v.split(':').filter(|p| !p.is_empty()).map(str::to_string));
    Ok(())
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn python_optimize(cmd: *mut ffi::cmd_parms, m: *mut c_void, a: *const c_char) -> CmdResult {
    // SAFETY: Apache's arguments to this TAKE1 handler.
    unsafe { cmd::take1(cmd, m, a, python_optimize_body) }
}

fn python_optimize_body(c: Ctx, v: &str) -> Result<(), String> {
    c.require_global()?;
    c.server.optimize = Some(parse_optimize(v)?);
    Ok(())
}

/// Server-wide Python settings taking one value; `cmd->info` selects which (1..=4).
///
/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn python_setting(cmd: *mut ffi::cmd_parms, m: *mut c_void, a: *const c_char) -> CmdResult {
    // SAFETY: Apache's arguments to this TAKE1 handler.
    unsafe { cmd::take1(cmd, m, a, python_setting_body) }
}

fn python_setting_body(c: Ctx, v: &str) -> Result<(), String> {
    c.require_global()?;
    let s = &mut *c.server;
    match c.cmd.info() {
        1 => s.python_eggs = Some(v.to_string()),
        2 => {
            s.hash_seed = if v.eq_ignore_ascii_case("random") {
                None
            } else {
                Some(v.parse::<u32>().map_err(|_| {
                    format!(
                        "WSGIPythonHashSeed: invalid value '{v}', expected 'random' or an integer from 0 to 4294967295"
                    )
                })? as u64)
            }
        }
        3 => s.python_warnings.push(v.to_string()),
        4 => {
            let x: f64 = v.parse().ok().filter(|x: &f64| x.is_finite() && *x > 0.0).ok_or_else(|| {
                format!("WSGISwitchInterval: invalid value '{v}', expected a positive number of seconds")
            })?;
            s.switch_interval = Some(x);
        }
        _ => return Err(format!("{}: internal table error", c.cmd.name())),
    }
    Ok(())
}

/// `WSGITrustedProxyHeaders header…`: more lines in one context add to the list.
///
/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn trusted_proxy_headers(
    cmd: *mut ffi::cmd_parms,
    m: *mut c_void,
    args: *const c_char,
) -> CmdResult {
    // SAFETY: Apache's arguments to this RAW_ARGS handler.
    unsafe { cmd::raw_args(cmd, m, args, trusted_proxy_headers_body) }
}

fn trusted_proxy_headers_body(c: Ctx, w: Vec<String>) -> Result<(), String> {
    if w.is_empty() {
        return Err("WSGITrustedProxyHeaders requires one or more header names, e.g. X-Forwarded-For".into());
    }
    let mut set = c.dir.trusted_proxy_headers.unwrap_or_default();
    for name in &w {
        set.add(name)?;
    }
    c.dir.trusted_proxy_headers = Some(set);
    Ok(())
}

/// `WSGITrustedProxies address|network…`: more lines in one context add to the list.
///
/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn trusted_proxies(cmd: *mut ffi::cmd_parms, m: *mut c_void, args: *const c_char) -> CmdResult {
    // SAFETY: Apache's arguments to this RAW_ARGS handler.
    unsafe { cmd::raw_args(cmd, m, args, trusted_proxies_body) }
}

fn trusted_proxies_body(c: Ctx, w: Vec<String>) -> Result<(), String> {
    if w.is_empty() {
        return Err(
            "WSGITrustedProxies requires one or more IP addresses or networks, e.g. 10.0.0.5 192.168.0.0/16".into()
        );
    }
    let mut list: Vec<Subnet> = c.dir.trusted_proxies.as_ref().map(|s| s.as_slice().to_vec()).unwrap_or_default();
    for a in &w {
        list.push(Subnet::parse(a)?);
    }
    c.dir.trusted_proxies = Some(c.pool().slice(&list));
    Ok(())
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn handler_script(cmd: *mut ffi::cmd_parms, m: *mut c_void, args: *const c_char) -> CmdResult {
    // SAFETY: Apache's arguments to this RAW_ARGS handler.
    unsafe { cmd::raw_args(cmd, m, args, handler_script_body) }
}

/// `WSGIHandlerScript name path [process-group=] [application-group=] [pass-authorization=]`:
/// requests whose Apache handler is `name` run `path`'s `handle_request` (mod_wsgi's fixed
/// callable). Server, virtual host or directory context; an inner definition of a name wins.
fn handler_script_body(c: Ctx, w: Vec<String>) -> Result<(), String> {
    let d = "WSGIHandlerScript";
    let (Some(name), Some(path)) = (w.first(), w.get(1)) else {
        return Err(format!("{d} requires a handler name and a script path, e.g. '{d} my-handler /srv/h.wsgi'"));
    };
    if name.is_empty() || name.contains('\0') {
        return Err(format!("{d}: invalid handler name '{name}'"));
    }
    if !path.starts_with('/') || path.contains('\0') {
        return Err(format!("{d}: script path '{path}' must be absolute"));
    }
    let opts: Vec<&str> = w[2..].iter().map(String::as_str).collect();
    if let Some(o) = opts.iter().find(|o| !o.contains('=') || o.starts_with("callable-object=")) {
        let key = o.split('=').next().unwrap_or(o);
        return Err(format!(
            "{d}: unknown option '{key}' (valid options: process-group, application-group, pass-authorization; \
             the callable is always handle_request)"
        ));
    }
    let parsed = parse_script_alias_options(d, &opts)?;
    if let Some(ProcessGroup::Named(n)) = &parsed.process_group {
        daemon::note_ref(c.cmd, n);
    }
    let raw = |key: &str| opts.iter().find_map(|o| o.strip_prefix(key)?.strip_prefix('='));
    let pool = c.pool();
    let node = config::HandlerScript {
        name: pool.pstr(name),
        script: pool.pstr(path),
        process_group: raw("process-group").map(|v| pool.pstr(v)),
        application_group: raw("application-group").map(|v| pool.pstr(v)),
        pass_authorization: parsed.pass_authorization.map_or(config::UNSET, |b| b as i8),
        next: c.dir.handler_scripts,
    };
    c.dir.handler_scripts = Some(pool.alloc_ref(node));
    Ok(())
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn accept_mutex(cmd: *mut ffi::cmd_parms, m: *mut c_void, a: *const c_char) -> CmdResult {
    // SAFETY: Apache's arguments to this TAKE1 handler.
    unsafe { cmd::take1(cmd, m, a, accept_mutex_body) }
}

/// `WSGIAcceptMutex default|flock|fcntl|sysvsem|posixsem|pthread`: the mechanisms mod_wsgi
/// accepts on Linux. Accepted and ignored: no accept mutex is needed here (README, "Daemon
/// mode": every worker thread polls the shared listening socket and accepts non-blocking).
fn accept_mutex_body(c: Ctx, v: &str) -> Result<(), String> {
    c.require_global()?;
    const VALID: [&str; 6] = ["default", "flock", "fcntl", "sysvsem", "posixsem", "pthread"];
    if VALID.iter().any(|m| m.eq_ignore_ascii_case(v)) {
        return Ok(());
    }
    Err(format!(
        "WSGIAcceptMutex: accept mutex lock mechanism '{v}' is invalid; valid mechanisms are: {} \
         (accepted for compatibility, no effect: mod_wsgi_rs daemon processes need no accept mutex)",
        VALID.join(", ")
    ))
}

/// mod_wsgi directives this version does not implement: a clear configuration error naming
/// the directive (instead of Apache's "Invalid command"), accepted in any context.
///
/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn not_supported(cmd: *mut ffi::cmd_parms, m: *mut c_void, a: *const c_char) -> CmdResult {
    // SAFETY: Apache's arguments to this RAW_ARGS handler (the line, unsplit, as one argument).
    unsafe { cmd::take1(cmd, m, a, not_supported_body) }
}

fn not_supported_body(c: Ctx, _args: &str) -> Result<(), String> {
    if c.name() == "WSGIPerInterpreterGIL" {
        return Err(format!(
            "WSGIPerInterpreterGIL needs Python 3.12 or later (a GIL per sub-interpreter, PEP 684); \
             this mod_wsgi_rs is built for Python {}: remove the directive (application groups \
             share one GIL here)",
            crate::directives::python::PYTHON_VERSION
        ));
    }
    if c.name() == "WSGIFreeThreading" {
        return Err(format!(
            "WSGIFreeThreading needs a free-threaded Python build (3.13t or later, PEP 703, \
             configured with --disable-gil); this mod_wsgi_rs is built for Python {} with a GIL: \
             remove the directive",
            crate::directives::python::PYTHON_VERSION
        ));
    }
    if matches!(c.name().as_str(), "WSGITelemetryService" | "WSGITelemetryOptions" | "WSGISlowRequests") {
        return Err(format!(
            "{} (mod_wsgi's external telemetry stream) is not supported by mod_wsgi_rs: use the \
             `SetHandler wsgi-status` page (per daemon group: processes, busy threads, requests, \
             restarts; `?json` for monitoring) and, in the application, \
             mod_wsgi.subscribe_events() / request_metrics() (see README, \"Monitoring\")",
            c.name()
        ));
    }
    Err(format!(
        "{} is a mod_wsgi directive that is not supported by mod_wsgi_rs yet (see README, \"Configuration\")",
        c.name()
    ))
}
