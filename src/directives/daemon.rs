//! Daemon-mode directives: `WSGIDaemonProcess`, `WSGISocketPrefix`, `WSGIImportScript`,
//! `WSGIRestrictProcess`, and the bookkeeping of where groups are used (checked once the whole
//! configuration is read, in check_config).
// The directive handlers here are Apache's callbacks: each hands its C arguments to an entry
// helper of `apache::cmd` in its first line; the bodies are safe.
use std::ffi::{CString, c_char, c_void};

use wsgi_rs_core::config::{
    OwnerRule, ProcessGroup, ScriptOwner, parse_app_group, parse_daemon_process, parse_process_group,
};

use super::Ctx;
use crate::apache::cmd::{self, CmdParms, CmdResult};
use crate::daemon::process::privileges::{lookup_group, lookup_user};
use crate::daemon::registry::{DaemonGroup, GroupRef, Preload, registry};
use crate::ffi;

/// Records a use of group `name`, validated in check_config.
pub fn note_ref(cmd: CmdParms, name: &str) {
    let (file, line) = cmd.location();
    let directive = cmd.name();
    // SAFETY: cmd->pool is pconf during configuration, the pool of this generation's registry.
    let reg = unsafe { registry(cmd.pool()) };
    reg.refs.push(GroupRef { name: name.to_string(), server: cmd.server(), directive, file, line });
}

/// Records a script to import when the processes of group `name` start.
pub fn note_import(cmd: CmdParms, name: &str, script: &str, callable: &str, app_group: &str) {
    // SAFETY: as in note_ref.
    let reg = unsafe { registry(cmd.pool()) };
    let p = Preload { script: script.to_string(), callable: callable.to_string(), app_group: app_group.to_string() };
    reg.imports.push((name.to_string(), p));
}

/// Records a script every Apache child imports at child_init (embedded preloading).
pub fn note_embedded_import(cmd: CmdParms, script: &str, callable: &str, app_group: &str) {
    // SAFETY: as in note_ref.
    let reg = unsafe { registry(cmd.pool()) };
    let p = Preload { script: script.to_string(), callable: callable.to_string(), app_group: app_group.to_string() };
    if !reg.embedded_preload.iter().any(|q| q.script == p.script && q.app_group == p.app_group) {
        reg.embedded_preload.push(p);
    }
}

/// Records that an auth script is configured (outside `.htaccess`): Python must start in the
/// Apache children even under `WSGIRestrictEmbedded On`.
pub fn note_auth_script(cmd: CmdParms) {
    if cmd.in_htaccess() {
        return;
    }
    // SAFETY: as in note_ref (cmd->pool is pconf outside .htaccess).
    unsafe { registry(cmd.pool()) }.auth_scripts = true;
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn daemon_process(cmd: *mut ffi::cmd_parms, m: *mut c_void, args: *const c_char) -> CmdResult {
    // SAFETY: Apache's arguments to this RAW_ARGS handler.
    unsafe { cmd::raw_args(cmd, m, args, daemon_process_body) }
}

fn daemon_process_body(c: Ctx, w: Vec<String>) -> Result<(), String> {
    let cmd = c.cmd;
    let refs: Vec<&str> = w.iter().map(String::as_str).collect();
    let opts = parse_daemon_process(&refs)?;
    let name = opts.name.clone();
    // SAFETY: cmd->pool is pconf, the pool of this generation's registry.
    let reg = unsafe { registry(cmd.pool()) };
    let server = cmd.server();
    if reg.find(&name).is_some() {
        return Err(format!(
            "WSGIDaemonProcess: the name '{name}' is already used by another daemon process group (names must be unique server-wide)"
        ));
    }
    let mut uid = None;
    let mut gid = None;
    let mut user_name = None;
    let mut user_home = None;
    if let Some(u) = &opts.user {
        let user = lookup_user(u).map_err(|e| format!("WSGIDaemonProcess {name}: {e}"))?;
        if user.uid == 0 {
            return Err(format!("WSGIDaemonProcess {name}: user '{u}' is root; daemon processes must not run as root"));
        }
        uid = Some(user.uid);
        gid = Some(user.gid);
        user_home = Some(user.home);
        // `#uid` takes that uid's own groups (its passwd name), or none: never Apache's.
        user_name = user.name.and_then(|n| CString::new(n).ok());
    }
    if let Some(gr) = &opts.group {
        gid = Some(lookup_group(gr).map_err(|e| format!("WSGIDaemonProcess {name}: {e}"))?);
    }
    let mut supplementary = Vec::new();
    for gr in &opts.supplementary_groups {
        supplementary.push(lookup_group(gr).map_err(|e| format!("WSGIDaemonProcess {name}: {e}"))?);
    }
    // The primary group is added to this list when the process switches (privileges.rs).
    let script_owner = match &opts.script_owner {
        None => None,
        Some(ScriptOwner::User(u)) => Some(OwnerRule::User(
            lookup_user(u).map_err(|e| format!("WSGIDaemonProcess {name}: script-user: {e}"))?.uid,
        )),
        Some(ScriptOwner::Group(gr)) => Some(OwnerRule::Group(
            lookup_group(gr).map_err(|e| format!("WSGIDaemonProcess {name}: script-group: {e}"))?,
        )),
    };
    let global = cmd.outside_virtual_host();
    let id = reg.groups.len();
    reg.groups.push(Box::new(DaemonGroup {
        opts,
        id,
        defined_in: server,
        global,
        uid,
        gid,
        user_name,
        user_home,
        supplementary_gids: supplementary,
        script_owner,
        socket_path: CString::default(),
        listen_fd: -1,
        log_fd: -1,
        parent_pid: 0,
        token: [0; 32],
        preload: Vec::new(),
    }));
    Ok(())
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn socket_prefix(cmd: *mut ffi::cmd_parms, m: *mut c_void, a: *const c_char) -> CmdResult {
    // SAFETY: Apache's arguments to this TAKE1 handler.
    unsafe { cmd::take1(cmd, m, a, socket_prefix_body) }
}

fn socket_prefix_body(c: Ctx, v: &str) -> Result<(), String> {
    c.require_global()?;
    let Some(prefix) = c.server_root_relative(v) else {
        return Err(format!("WSGISocketPrefix: invalid path '{v}'"));
    };
    check_socket_dir(&prefix)?;
    // SAFETY: cmd->pool is pconf, the pool of this generation's registry.
    unsafe { registry(c.pool()) }.socket_prefix = Some(prefix);
    Ok(())
}

/// The directory of a socket prefix must not let other users replace the socket (or plant a
/// link where it will be created): writable by group or others only with the sticky bit.
fn check_socket_dir(prefix: &str) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let dir = std::path::Path::new(prefix)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("/"));
    // A directory that does not exist yet fails later, when the socket is created.
    let Ok(md) = std::fs::metadata(dir) else { return Ok(()) };
    let mode = md.mode();
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(format!(
            "WSGISocketPrefix: directory '{}' is writable by other users (mode {:04o}) without the sticky bit; another user could replace the daemon sockets. Use a directory only root can write (e.g. run/wsgi) or set the sticky bit",
            dir.display(),
            mode & 0o7777
        ));
    }
    Ok(())
}

/// `WSGIImportScript path process-group=NAME application-group=%{GLOBAL}`.
///
/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn import_script(cmd: *mut ffi::cmd_parms, m: *mut c_void, args: *const c_char) -> CmdResult {
    // SAFETY: Apache's arguments to this RAW_ARGS handler.
    unsafe { cmd::raw_args(cmd, m, args, import_script_body) }
}

fn import_script_body(c: Ctx, w: Vec<String>) -> Result<(), String> {
    let cmd = c.cmd;
    let Some(path) = w.first() else {
        return Err(
            "WSGIImportScript requires a script path and the process-group= and application-group= options".into()
        );
    };
    let (mut pg, mut ag) = (None, None);
    for o in &w[1..] {
        match o.split_once('=') {
            Some(("process-group", v)) => pg = Some(parse_process_group("WSGIImportScript", v)?),
            Some(("application-group", v)) => ag = Some(parse_app_group("WSGIImportScript", v)?),
            _ => {
                return Err(format!(
                    "WSGIImportScript: unknown option '{o}' (expected process-group= and application-group=)"
                ));
            }
        }
    }
    let Some(ag) = ag else {
        return Err("WSGIImportScript: the application-group= option is required".into());
    };
    let Some(app_group) = ag.literal() else {
        return Err("WSGIImportScript: application-group= must be a group name or %{GLOBAL} (a script is preloaded into one interpreter when the process starts, before any request)".into());
    };
    match pg {
        Some(ProcessGroup::Named(n)) => {
            super::daemon::note_ref(cmd, &n);
            note_import(cmd, &n, path, "application", app_group);
            Ok(())
        }
        Some(ProcessGroup::Embedded) => {
            // Embedded: every Apache child imports it at child_init.
            note_embedded_import(cmd, path, "application", app_group);
            Ok(())
        }
        Some(_) => Err("WSGIImportScript: process-group= must name a WSGIDaemonProcess group or be %{GLOBAL} (a script is preloaded when the processes start, before any request)".into()),
        None => Err("WSGIImportScript: the process-group= option is required".into()),
    }
}

/// # Safety
/// Called by Apache only, while reading the configuration, with this directive's live `cmd_parms`, per-directory record and argument.
pub unsafe extern "C" fn restrict_process(cmd: *mut ffi::cmd_parms, m: *mut c_void, args: *const c_char) -> CmdResult {
    // SAFETY: Apache's arguments to this RAW_ARGS handler.
    unsafe { cmd::raw_args(cmd, m, args, restrict_process_body) }
}

fn restrict_process_body(c: Ctx, w: Vec<String>) -> Result<(), String> {
    if w.is_empty() {
        return Err("WSGIRestrictProcess requires at least one process group name".into());
    }
    let joined = w.join(" ");
    if joined.contains('\0') {
        return Err("WSGIRestrictProcess: NUL in argument".to_string());
    }
    // Copied into the config pool, referenced by the per-dir record.
    c.dir.restrict_process = Some(c.pool().pstr(&joined));
    Ok(())
}
