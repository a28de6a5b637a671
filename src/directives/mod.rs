//! One handler per directive: Apache's arguments in, a `core::config` value stored in our
//! config records out. An `Err` becomes the message `apachectl configtest` prints, prefixed by
//! Apache with the file and line.
// The directive handlers here are Apache's callbacks: their one contract is Apache's, a live
// cmd_parms (wrapped at entry by `CmdParms::from_raw`) and config record.
pub mod config;
pub mod daemon;
pub mod python;

use std::ffi::{CString, c_char, c_int, c_void};
use std::ptr;

use wsgi_rs_core::config::{
    MapHead, ProcessGroup, parse_app_group, parse_map_head, parse_optimize, parse_process_group,
    parse_script_alias_options,
};

use crate::apache::cmd::CmdParms;
use crate::apache::guard::guard;
use crate::apache::strings::bytes;
use crate::ffi;
use config::{DirConfig, ScriptAlias, ServerConfig};

pub(crate) type Ret = *const c_char;

/// Runs a directive handler body: `Ok` → NULL (accepted), `Err(msg)` → the message in the
/// command pool; a panic → a generic message (never unwinds into Apache).
pub(crate) fn run(cmd: CmdParms, f: impl FnOnce() -> Result<(), String>) -> Ret {
    let r = guard("directive handler", Err("internal error in mod_wsgi_rs (see error log)".to_string()), f);
    match r {
        Ok(()) => ptr::null(),
        Err(msg) => cmd.error_message(&msg),
    }
}

pub(crate) fn arg(a: *const c_char) -> String {
    // SAFETY: Apache passes NUL-terminated argument strings from cmd->pool.
    String::from_utf8_lossy(unsafe { bytes(a) }).into_owned()
}

/// Refuses the directive inside <VirtualHost>/<Directory>/... (server-wide only).
pub(crate) fn global_only(cmd: CmdParms) -> Result<(), String> {
    cmd.check_context(ffi::GLOBAL_ONLY)
}

/// The server config of the server being configured (mutable during configuration only).
fn server_cfg<'a>(cmd: CmdParms) -> &'a mut ServerConfig {
    // SAFETY: configuration is single-threaded; the record, made by create_server_config,
    // belongs to cmd->server and lives in the config pool.
    unsafe { &mut *cmd.server().module_config::<ServerConfig>() }
}

pub(crate) fn dir_cfg<'a>(mconfig: *mut c_void) -> &'a mut DirConfig {
    // SAFETY: Apache passes our per-dir record for the current context.
    unsafe { &mut *(mconfig as *mut DirConfig) }
}

/// Splits a RAW_ARGS line into words, honouring quotes (`ap_getword_conf`).
pub(crate) fn words(cmd: CmdParms, args: *const c_char) -> Vec<String> {
    // SAFETY: Apache passes the NUL-terminated argument line of this directive.
    cmd.words(unsafe { crate::apache::cmd::arg(args) })
}

/// `WSGIScriptAlias url target [options]` and `WSGIScriptAliasMatch regex target [options]`
/// (`cmd->info` non-NULL for the Match form).
///
/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms` and its argument strings.
pub unsafe extern "C" fn script_alias(cmd: *mut ffi::cmd_parms, _m: *mut c_void, args: *const c_char) -> Ret {
    // SAFETY: the cmd_parms Apache passed to this handler, used only during the call.
    let cmd = unsafe { CmdParms::from_raw(cmd) };
    run(cmd, || {
        let d = cmd.name();
        let w = words(cmd, args);
        if w.len() < 2 {
            return Err(format!("{d} requires a URL and a script path, e.g. '{d} / /srv/app/app.wsgi'"));
        }
        let opts: Vec<&str> = w[2..].iter().map(String::as_str).collect();
        let options = parse_script_alias_options(&d, &opts)?;
        let is_match = cmd.info() != 0;
        let regex = if is_match {
            let pat = CString::new(w[0].as_str()).map_err(|_| format!("{d}: NUL in regular expression"))?;
            let Some(re) = cmd.regcomp(&pat, ffi::AP_REG_EXTENDED as c_int) else {
                return Err(format!("{d}: invalid regular expression '{}'", w[0]));
            };
            re.as_ptr()
        } else {
            if !w[0].starts_with('/') {
                return Err(format!("{d}: URL path '{}' must start with '/'", w[0]));
            }
            ptr::null_mut()
        };
        let target = CString::new(w[1].as_str()).map_err(|_| format!("{d}: NUL in script path"))?;
        if !w[1].starts_with('/') {
            return Err(format!("{d}: script path '{}' must be absolute", w[1]));
        }
        if let Some(ProcessGroup::Named(n)) = &options.process_group {
            daemon::note_ref(cmd, n);
            if options.application_group.is_some() && !is_match {
                // Both groups given literally: mod_wsgi preloads the script at daemon start.
                let callable = options.callable_object.clone().unwrap_or_else(|| "application".into());
                daemon::note_import(cmd, n, &w[1], &callable);
            }
        }
        server_cfg(cmd).aliases.push(ScriptAlias { url: w[0].clone().into_bytes(), target, regex, options });
        Ok(())
    })
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms` and its argument strings.
pub unsafe extern "C" fn callable_object(cmd: *mut ffi::cmd_parms, m: *mut c_void, a: *const c_char) -> Ret {
    // SAFETY: the cmd_parms Apache passed to this handler, used only during the call.
    let cmd = unsafe { CmdParms::from_raw(cmd) };
    run(cmd, || {
        if arg(a).is_empty() {
            return Err("WSGICallableObject: the callable name must not be empty".into());
        }
        dir_cfg(m).callable_object = a;
        Ok(())
    })
}

/// On/Off directives stored per directory; `cmd->info` selects the field (1..=4).
///
/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms` and its argument strings.
pub unsafe extern "C" fn dir_flag(cmd: *mut ffi::cmd_parms, m: *mut c_void, on: c_int) -> Ret {
    // SAFETY: the cmd_parms Apache passed to this handler, used only during the call.
    let cmd = unsafe { CmdParms::from_raw(cmd) };
    run(cmd, || {
        let d = dir_cfg(m);
        let v = (on != 0) as i8;
        match cmd.info() {
            1 => d.pass_authorization = v,
            2 => d.script_reloading = v,
            3 => d.chunked_request = v,
            4 => d.enable_sendfile = v,
            _ => return Err(format!("{}: internal table error", cmd.name())),
        }
        Ok(())
    })
}

/// Server-wide On/Off directives; `cmd->info` selects the field (1..=9).
///
/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms` and its argument strings.
pub unsafe extern "C" fn server_flag(cmd: *mut ffi::cmd_parms, _m: *mut c_void, on: c_int) -> Ret {
    // SAFETY: the cmd_parms Apache passed to this handler, used only during the call.
    let cmd = unsafe { CmdParms::from_raw(cmd) };
    run(cmd, || {
        global_only(cmd)?;
        let s = server_cfg(cmd);
        let on = on != 0;
        match cmd.info() {
            1 => s.restrict_stdout = Some(on),
            2 => s.restrict_signal = Some(on),
            3 => s.restrict_embedded = Some(on),
            4 => s.restrict_stdin = Some(on),
            5 => s.dont_write_bytecode = Some(on),
            6 => s.destroy_interpreter = Some(on),
            // WSGISocketRotation, WSGICaseSensitivity, WSGIVerboseDebugging: accepted for
            // compatibility; their (lack of) effect is documented in the README.
            7..=9 => {}
            _ => return Err(format!("{}: internal table error", cmd.name())),
        }
        Ok(())
    })
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms` and its argument strings.
pub unsafe extern "C" fn map_head(cmd: *mut ffi::cmd_parms, m: *mut c_void, a: *const c_char) -> Ret {
    // SAFETY: the cmd_parms Apache passed to this handler, used only during the call.
    let cmd = unsafe { CmdParms::from_raw(cmd) };
    run(cmd, || {
        dir_cfg(m).map_head = match parse_map_head(&arg(a))? {
            MapHead::Off => 0,
            MapHead::On => 1,
            MapHead::Auto => 2,
        };
        Ok(())
    })
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms` and its argument strings.
pub unsafe extern "C" fn application_group(cmd: *mut ffi::cmd_parms, _m: *mut c_void, a: *const c_char) -> Ret {
    // SAFETY: the cmd_parms Apache passed to this handler, used only during the call.
    let cmd = unsafe { CmdParms::from_raw(cmd) };
    run(cmd, || parse_app_group("WSGIApplicationGroup", &arg(a)).map(|_| ()))
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms` and its argument strings.
pub unsafe extern "C" fn process_group(cmd: *mut ffi::cmd_parms, m: *mut c_void, a: *const c_char) -> Ret {
    // SAFETY: the cmd_parms Apache passed to this handler, used only during the call.
    let cmd = unsafe { CmdParms::from_raw(cmd) };
    run(cmd, || {
        if let ProcessGroup::Named(n) = parse_process_group("WSGIProcessGroup", &arg(a))? {
            daemon::note_ref(cmd, &n);
        }
        dir_cfg(m).process_group = a;
        Ok(())
    })
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms` and its argument strings.
pub unsafe extern "C" fn python_home(cmd: *mut ffi::cmd_parms, _m: *mut c_void, a: *const c_char) -> Ret {
    // SAFETY: the cmd_parms Apache passed to this handler, used only during the call.
    let cmd = unsafe { CmdParms::from_raw(cmd) };
    run(cmd, || {
        global_only(cmd)?;
        let v = arg(a);
        if !v.starts_with('/') {
            return Err(format!("WSGIPythonHome: '{v}' must be an absolute path"));
        }
        server_cfg(cmd).python_home = Some(v);
        Ok(())
    })
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms` and its argument strings.
pub unsafe extern "C" fn python_path(cmd: *mut ffi::cmd_parms, _m: *mut c_void, a: *const c_char) -> Ret {
    // SAFETY: the cmd_parms Apache passed to this handler, used only during the call.
    let cmd = unsafe { CmdParms::from_raw(cmd) };
    run(cmd, || {
        global_only(cmd)?;
        let s = server_cfg(cmd);
        s.python_path.extend(arg(a).split(':').filter(|p| !p.is_empty()).map(str::to_string));
        Ok(())
    })
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms` and its argument strings.
pub unsafe extern "C" fn python_optimize(cmd: *mut ffi::cmd_parms, _m: *mut c_void, a: *const c_char) -> Ret {
    // SAFETY: the cmd_parms Apache passed to this handler, used only during the call.
    let cmd = unsafe { CmdParms::from_raw(cmd) };
    run(cmd, || {
        global_only(cmd)?;
        server_cfg(cmd).optimize = Some(parse_optimize(&arg(a))?);
        Ok(())
    })
}

/// Server-wide Python settings taking one value; `cmd->info` selects which (1..=4).
///
/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms` and its argument strings.
pub unsafe extern "C" fn python_setting(cmd: *mut ffi::cmd_parms, _m: *mut c_void, a: *const c_char) -> Ret {
    // SAFETY: the cmd_parms Apache passed to this handler, used only during the call.
    let cmd = unsafe { CmdParms::from_raw(cmd) };
    run(cmd, || {
        global_only(cmd)?;
        let v = arg(a);
        let s = server_cfg(cmd);
        match cmd.info() {
            1 => s.python_eggs = Some(v),
            2 => {
                s.hash_seed = if v.eq_ignore_ascii_case("random") {
                    None
                } else {
                    Some(v.parse::<u32>().map_err(|_| format!("WSGIPythonHashSeed: invalid value '{v}', expected 'random' or an integer from 0 to 4294967295"))? as u64)
                }
            }
            3 => s.python_warnings.push(v),
            4 => {
                let x: f64 = v.parse().ok().filter(|x: &f64| x.is_finite() && *x > 0.0).ok_or_else(|| {
                    format!("WSGISwitchInterval: invalid value '{v}', expected a positive number of seconds")
                })?;
                s.switch_interval = Some(x);
            }
            _ => return Err(format!("{}: internal table error", cmd.name())),
        }
        Ok(())
    })
}

/// mod_wsgi directives this version does not implement: a clear configuration error naming
/// the directive (instead of Apache's "Invalid command"), accepted in any context.
///
/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms` and its argument strings.
pub unsafe extern "C" fn not_supported(cmd: *mut ffi::cmd_parms, _m: *mut c_void, _a: *const c_char) -> Ret {
    // SAFETY: the cmd_parms Apache passed to this handler, used only during the call.
    let cmd = unsafe { CmdParms::from_raw(cmd) };
    run(cmd, || {
        Err(format!(
            "{} is a mod_wsgi directive that is not supported by mod_wsgi_rs yet (see README, \"Configuration\")",
            cmd.name()
        ))
    })
}
