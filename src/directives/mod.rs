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

/// On/Off directives stored per directory; `cmd->info` selects the field (1..=5).
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
        _ => return Err(format!("{}: internal table error", c.name())),
    }
    Ok(())
}

/// Server-wide On/Off directives; `cmd->info` selects the field (1..=9).
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
        10 => s.server_metrics = Some(on),
        // WSGISocketRotation, WSGICaseSensitivity, WSGIVerboseDebugging: accepted for
        // compatibility; their (lack of) effect is documented in the README.
        7..=9 => {}
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
