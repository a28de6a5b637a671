//! Finding mod_wsgi_rs's shared object, and the `module-config`, `module-location` and
//! `install-module` subcommands.
use std::path::{Path, PathBuf};

use crate::Fail;
use crate::cli::{InstallArgs, MODULES_DIR, ModuleArgs};

pub const MODULE_NAME: &str = "wsgi_rs_module";
const INSTALLED_NAME: &str = "mod_wsgi_rs.so";

/// Where the module is looked for, in order: --module-path / $WSGI_EXPRESS_MODULE; the build
/// tree (`libmod_wsgi_rs.so` beside this executable, as `make build` leaves them); the
/// installed module in Apache's modules directory (`make install`, install-module).
pub fn candidates(args: &ModuleArgs) -> Vec<PathBuf> {
    if let Some(p) = &args.module_path {
        return vec![crate::access::absolute(p)];
    }
    let mut out = Vec::new();
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        out.push(dir.join("libmod_wsgi_rs.so"));
        out.push(dir.join(INSTALLED_NAME));
    }
    out.push(Path::new(MODULES_DIR).join(INSTALLED_NAME));
    out
}

pub fn locate(args: &ModuleArgs) -> Result<PathBuf, Fail> {
    let c = candidates(args);
    c.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        let tried: Vec<String> = c.iter().map(|p| p.display().to_string()).collect();
        Fail(format!(
            "mod_wsgi_rs module not found (tried {}); run `make build` or pass --module-path",
            tried.join(", ")
        ))
    })
}

/// The Python "X.Y" the module links against, from the `libpythonX.Y.so` name in its file (the
/// DT_NEEDED entry); None when it cannot be told.
pub fn python_version_of(so: &Path) -> Option<String> {
    let bytes = std::fs::read(so).ok()?;
    let needle = b"libpython3.";
    let at = bytes.windows(needle.len()).position(|w| w == needle)? + needle.len();
    let minor: String = bytes[at..].iter().take_while(|b| b.is_ascii_digit()).map(|&b| b as char).collect();
    (!minor.is_empty() && bytes[at + minor.len()..].starts_with(b".so")).then(|| format!("3.{minor}"))
}

/// The "X.Y" of a virtualenv, from the `version`/`version_info` line of its pyvenv.cfg.
pub fn venv_version(home: &Path) -> Option<String> {
    let cfg = std::fs::read_to_string(home.join("pyvenv.cfg")).ok()?;
    cfg.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        let k = k.trim();
        if k != "version" && k != "version_info" {
            return None;
        }
        let mut parts = v.trim().split('.');
        Some(format!("{}.{}", parts.next()?, parts.next()?))
    })
}

/// The active virtualenv: $VIRTUAL_ENV (what `activate` sets; it is the venv's sys.prefix).
pub fn active_venv() -> Option<PathBuf> {
    std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// The lines `module-config` prints: ready to paste into httpd.conf.
pub fn config_lines(so: &Path, venv: Option<&Path>) -> String {
    let mut s = format!("LoadModule {MODULE_NAME} \"{}\"\n", so.display());
    if let Some(v) = venv {
        s += &format!("WSGIPythonHome \"{}\"\n", v.display());
    }
    s
}

pub fn module_config(args: &ModuleArgs) -> Result<(), Fail> {
    let so = locate(args)?;
    print!("{}", config_lines(&so, active_venv().as_deref()));
    Ok(())
}

pub fn module_location(args: &ModuleArgs) -> Result<(), Fail> {
    println!("{}", locate(args)?.display());
    Ok(())
}

/// Copies the module to `<modules dir>/mod_wsgi_rs.so` (through a temporary file and a rename,
/// so a running Apache never maps a half-written file) and prints the lines to load it.
pub fn install_module(args: &InstallArgs) -> Result<(), Fail> {
    let so = locate(&args.module)?;
    let dir = &args.modules_directory;
    if !dir.is_dir() {
        return Err(Fail(format!("modules directory {} does not exist", dir.display())));
    }
    let dest = dir.join(INSTALLED_NAME);
    let tmp = dir.join(format!(".{INSTALLED_NAME}.{}", std::process::id()));
    let copy = std::fs::copy(&so, &tmp).and_then(|_| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
        std::fs::rename(&tmp, &dest)
    });
    if let Err(e) = copy {
        let _ = std::fs::remove_file(&tmp);
        let hint = if e.kind() == std::io::ErrorKind::PermissionDenied { " (run as root)" } else { "" };
        return Err(Fail(format!("cannot install {} into {}: {e}{hint}", so.display(), dir.display())));
    }
    print!("{}", config_lines(&dest, active_venv().as_deref()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lines_name_the_module_and_the_venv() {
        assert_eq!(
            config_lines(Path::new("/m/x.so"), Some(Path::new("/v"))),
            "LoadModule wsgi_rs_module \"/m/x.so\"\nWSGIPythonHome \"/v\"\n"
        );
        assert_eq!(config_lines(Path::new("/m/x.so"), None), "LoadModule wsgi_rs_module \"/m/x.so\"\n");
    }

    #[test]
    fn python_versions_of_the_module_and_a_venv() {
        let dir = std::env::temp_dir().join(format!("wsgi-express-ver-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("m.so"), b"\x7fELF....libpython3.11.so.1.0\0libc.so.6\0").unwrap();
        assert_eq!(python_version_of(&dir.join("m.so")).as_deref(), Some("3.11"));
        std::fs::write(dir.join("m.so"), b"\x7fELF no python here").unwrap();
        assert_eq!(python_version_of(&dir.join("m.so")), None);
        std::fs::write(dir.join("pyvenv.cfg"), "home = /usr/bin\nversion = 3.12.1\n").unwrap();
        assert_eq!(venv_version(&dir).as_deref(), Some("3.12"));
        std::fs::write(dir.join("pyvenv.cfg"), "home = /usr/bin\nversion_info = 3.13.0.final.0\n").unwrap();
        assert_eq!(venv_version(&dir).as_deref(), Some("3.13"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_explicit_module_path_is_the_only_candidate() {
        let a = ModuleArgs { module_path: Some("/x/y.so".into()) };
        assert_eq!(candidates(&a), vec![PathBuf::from("/x/y.so")]);
        assert!(locate(&a).unwrap_err().0.contains("/x/y.so"));
    }
}
