//! From the parsed command line to a checked `Plan`: every path made absolute and checked
//! (exists, readable by the user the server runs as), the ports tried, the server root made.
//! Each failure is one `Fail` line; Apache is never started on a plan that failed here.
use std::net::{TcpListener, ToSocketAddrs};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::Fail;
use crate::access::{self, Need, RunAs};
use crate::cli::{AppType, ServerArgs};

#[derive(Debug, Clone)]
pub struct Https {
    pub port: u16,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Alias {
    pub url: String,
    pub path: PathBuf,
    pub is_dir: bool,
}

/// Everything the configuration is written from.
#[derive(Debug, Clone)]
pub struct Plan {
    pub root: PathBuf,
    pub httpd: PathBuf,
    pub modules_dir: PathBuf,
    pub module_so: PathBuf,
    pub host: String,
    pub port: u16,
    pub https: Option<Https>,
    pub http2: bool,
    /// Some when started as root: Apache's `User`/`Group`.
    pub run_as: Option<RunAs>,
    pub app_type: AppType,
    /// The WSGI script served (for module: the generated one), or the static directory.
    pub target: PathBuf,
    /// Script type: the file as given; module type: the dotted name.
    pub target_arg: String,
    pub callable: String,
    pub mount: String,
    pub aliases: Vec<Alias>,
    pub working_dir: PathBuf,
    pub reload: bool,
    pub processes: u32,
    pub threads: u32,
    pub maximum_requests: u32,
    pub request_timeout: u32,
    pub embedded: bool,
    pub python_home: Option<PathBuf>,
    pub python_path: Vec<PathBuf>,
    pub access_log: bool,
    pub log_level: String,
    /// start-server: logs to the terminal; setup-server: to files in the server root (its
    /// apachectl detaches Apache from the terminal).
    pub log_to_terminal: bool,
}

impl Plan {
    pub fn conf_path(&self) -> PathBuf {
        self.root.join("httpd.conf")
    }
}

fn is_module_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|p| {
            let mut c = p.chars();
            matches!(c.next(), Some(ch) if ch.is_alphabetic() || ch == '_')
                && c.all(|ch| ch.is_alphanumeric() || ch == '_')
        })
}

fn is_python_identifier(s: &str) -> bool {
    !s.contains('.') && is_module_name(s)
}

fn url_ok(u: &str) -> bool {
    u.starts_with('/') && !u.chars().any(|c| c.is_whitespace() || c == '"' || c == '\\')
}

/// A path as it may appear in a quoted httpd.conf argument.
fn conf_safe(p: &Path, what: &str) -> Result<(), Fail> {
    let s = p.to_str().ok_or_else(|| Fail(format!("{what} {}: not valid UTF-8", p.display())))?;
    if s.chars().any(|c| c == '"' || c == '\n' || c == '\\') {
        return Err(Fail(format!("{what} {s}: quotes, backslashes and newlines are not supported in paths")));
    }
    Ok(())
}

fn need_readable(p: &Path, need: Need, who: Option<&RunAs>, what: &str) -> Result<(), Fail> {
    conf_safe(p, what)?;
    if !access::can_read(p, need, who) {
        return Err(Fail(format!("{what} {} is not readable by {}", p.display(), access::describe_who(who))));
    }
    Ok(())
}

/// Tries to bind host:port the way Apache will; the listener is closed again at once.
pub fn check_port(host: &str, port: u16, flag: &str) -> Result<(), Fail> {
    let addrs: Vec<_> =
        (host, port).to_socket_addrs().map_err(|e| Fail(format!("--host {host}: cannot resolve: {e}")))?.collect();
    for a in addrs {
        if let Err(e) = TcpListener::bind(a) {
            let why = match e.kind() {
                std::io::ErrorKind::AddrInUse => "is already in use".to_string(),
                std::io::ErrorKind::PermissionDenied => "needs root (ports below 1024)".to_string(),
                std::io::ErrorKind::AddrNotAvailable => "is not an address of this machine".to_string(),
                _ => format!("cannot be bound: {e}"),
            };
            return Err(Fail(format!("{flag} {port}: {a} {why}")));
        }
    }
    Ok(())
}

/// The server root: made if missing (mode 755, so the run user can reach the daemon sockets),
/// refused if it belongs to someone else (a directory planted in /tmp by another user).
fn make_root(root: &Path) -> Result<(), Fail> {
    conf_safe(root, "--server-root")?;
    if let Ok(m) = std::fs::symlink_metadata(root) {
        if !m.is_dir() {
            return Err(Fail(format!("--server-root {}: exists and is not a directory", root.display())));
        }
        if m.uid() != access::euid() {
            return Err(Fail(format!(
                "--server-root {}: owned by uid {}, not by you; remove it or pass another --server-root",
                root.display(),
                m.uid()
            )));
        }
    } else {
        std::fs::create_dir_all(root)
            .map_err(|e| Fail(format!("--server-root {}: cannot create: {e}", root.display())))?;
    }
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Fail(format!("--server-root {}: {e}", root.display())))
}

/// The generated script for `--application-type module`.
pub fn module_script(module: &str, callable: &str) -> String {
    format!(
        "# Generated by wsgi-express: serves `{callable}` of the Python module {module}.\n\
         import importlib\n\n\
         application = getattr(importlib.import_module(\"{module}\"), \"{callable}\")\n"
    )
}

pub fn plan(a: &ServerArgs, log_to_terminal: bool, check_ports: bool) -> Result<Plan, Fail> {
    let is_root = access::euid() == 0;
    let run_as = if is_root {
        Some(access::resolve_run_as(a.user.as_deref(), a.group.as_deref())?)
    } else {
        if a.user.is_some() || a.group.is_some() {
            return Err(Fail("--user/--group need root (without root Apache runs as you)".into()));
        }
        None
    };
    let who = run_as.as_ref();

    if !a.httpd_executable.is_file() {
        return Err(Fail(format!("Apache not found at {} (apt-get install apache2)", a.httpd_executable.display())));
    }
    if !a.modules_directory.join("mod_mpm_event.so").is_file() {
        return Err(Fail(format!("no mod_mpm_event.so in {} (--modules-directory)", a.modules_directory.display())));
    }
    let module_so = crate::module::locate(&a.module)?;
    conf_safe(&module_so, "module")?;

    if !url_ok(&a.mount_point) {
        return Err(Fail(format!("--mount-point {}: must start with / (no spaces or quotes)", a.mount_point)));
    }
    let mount = if a.mount_point.len() > 1 { a.mount_point.trim_end_matches('/').to_string() } else { "/".into() };
    if a.host.is_empty() || a.host.chars().any(|c| c.is_whitespace() || c == '"') {
        return Err(Fail(format!("--host {:?}: not an address", a.host)));
    }
    if a.https_port == Some(a.port) {
        return Err(Fail(format!("--https-port {}: the same as --port", a.port)));
    }
    if !is_python_identifier(&a.callable_object) {
        return Err(Fail(format!("--callable-object {}: not a Python identifier", a.callable_object)));
    }

    let working_dir = access::absolute(a.working_directory.as_deref().unwrap_or(Path::new(".")));
    let working_dir = std::fs::canonicalize(&working_dir).unwrap_or(working_dir);
    if !working_dir.is_dir() {
        return Err(Fail(format!("--working-directory {}: no such directory", working_dir.display())));
    }
    if a.application_type != AppType::Static {
        need_readable(&working_dir, Need::List, who, "working directory")?;
    }

    let root = match &a.server_root {
        Some(r) => access::absolute(r),
        None => PathBuf::from(format!("/tmp/wsgi-express-{}-{}", access::euid(), a.port)),
    };

    let (target, target_arg) = match a.application_type {
        AppType::Script => {
            let p = access::absolute(Path::new(&a.target));
            if !p.is_file() {
                return Err(Fail(format!("WSGI script {} does not exist", p.display())));
            }
            need_readable(&p, Need::Read, who, "WSGI script")?;
            need_readable(p.parent().unwrap_or(Path::new("/")), Need::List, who, "directory")?;
            (p, a.target.clone())
        }
        AppType::Module => {
            if !is_module_name(&a.target) {
                return Err(Fail(format!("{}: not a Python module name (e.g. mysite.wsgi)", a.target)));
            }
            (root.join("wsgi-module.wsgi"), a.target.clone())
        }
        AppType::Static => {
            let p = access::absolute(Path::new(&a.target));
            if !p.is_dir() {
                return Err(Fail(format!("static directory {} does not exist", p.display())));
            }
            need_readable(&p, Need::List, who, "static directory")?;
            (p, a.target.clone())
        }
    };

    let mut aliases = Vec::new();
    for (url, path) in a.url_aliases() {
        if !url_ok(&url) {
            return Err(Fail(format!("--url-alias {url}: the URL must start with / (no spaces or quotes)")));
        }
        let p = access::absolute(Path::new(&path));
        let Ok(m) = std::fs::metadata(&p) else {
            return Err(Fail(format!("--url-alias {url} {}: no such file or directory", p.display())));
        };
        let need = if m.is_dir() { Need::List } else { Need::Read };
        need_readable(&p, need, who, &format!("--url-alias {url}"))?;
        let url = if url.len() > 1 { url.trim_end_matches('/').to_string() } else { url };
        aliases.push(Alias { url, path: p, is_dir: m.is_dir() });
    }

    let python_home = match &a.python_home {
        Some(h) => Some(access::absolute(h)),
        None => crate::module::active_venv(),
    };
    if let Some(h) = &python_home {
        let flag = if a.python_home.is_some() { "--python-home" } else { "python home ($VIRTUAL_ENV)" };
        if !h.is_dir() {
            return Err(Fail(format!("{flag} {}: no such directory", h.display())));
        }
        need_readable(h, Need::List, who, flag)?;
        if !h.join("pyvenv.cfg").is_file() && !h.join("bin/python3").exists() {
            return Err(Fail(format!(
                "{flag} {}: not a virtualenv or Python prefix (no pyvenv.cfg, no bin/python3)",
                h.display()
            )));
        }
        // A venv of another Python than the module's cannot start (a classic mod_wsgi pain).
        let versions = (crate::module::venv_version(h), crate::module::python_version_of(&module_so));
        if let (Some(venv), Some(built)) = versions
            && venv != built
        {
            return Err(Fail(format!(
                "{flag} {} is Python {venv}, but the module {} is built for Python {built}",
                h.display(),
                module_so.display()
            )));
        }
        let lib = h.join("lib");
        if lib.is_dir() {
            need_readable(&lib, Need::List, who, flag)?;
        }
    }
    let mut python_path = Vec::new();
    for p in &a.python_path {
        let p = access::absolute(p);
        if !p.is_dir() {
            return Err(Fail(format!("--python-path {}: no such directory", p.display())));
        }
        need_readable(&p, Need::List, who, "--python-path")?;
        python_path.push(p);
    }

    let https = match (a.https_port, &a.ssl_certificate_file, &a.ssl_certificate_key_file) {
        (Some(port), Some(cert), Some(key)) => {
            let (cert, key) = (access::absolute(cert), access::absolute(key));
            // Apache's parent reads these (as whoever starts it), before switching user.
            need_readable(&cert, Need::Read, None, "--ssl-certificate-file")?;
            need_readable(&key, Need::Read, None, "--ssl-certificate-key-file")?;
            for (f, what) in [("mod_ssl.so", "--https-port"), ("mod_socache_shmcb.so", "--https-port")] {
                if !a.modules_directory.join(f).is_file() {
                    return Err(Fail(format!("{what}: {f} not found in {}", a.modules_directory.display())));
                }
            }
            Some(Https { port, cert, key })
        }
        _ => None,
    };
    if a.enable_http2 && !a.modules_directory.join("mod_http2.so").is_file() {
        return Err(Fail(format!("--enable-http2: mod_http2.so not found in {}", a.modules_directory.display())));
    }

    if check_ports {
        check_port(&a.host, a.port, "--port")?;
        if let Some(h) = &https {
            check_port(&a.host, h.port, "--https-port")?;
        }
    }
    make_root(&root)?;
    // The workers reach the daemon sockets, and the daemons the generated script, in here.
    need_readable(&root, Need::List, who, "--server-root")?;

    Ok(Plan {
        root,
        httpd: a.httpd_executable.clone(),
        modules_dir: a.modules_directory.clone(),
        module_so,
        host: a.host.clone(),
        port: a.port,
        https,
        http2: a.enable_http2,
        run_as,
        app_type: a.application_type,
        target,
        target_arg,
        callable: a.callable_object.clone(),
        mount,
        aliases,
        working_dir,
        reload: a.reload_on_changes,
        processes: a.processes,
        threads: a.threads,
        maximum_requests: a.maximum_requests,
        request_timeout: a.request_timeout,
        embedded: a.embedded_mode,
        python_home,
        python_path,
        access_log: a.access_log,
        log_level: a.log_level.clone(),
        log_to_terminal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names() {
        assert!(is_module_name("mysite.wsgi"));
        assert!(is_module_name("_a.b2"));
        assert!(!is_module_name("mysite/wsgi.py"));
        assert!(!is_module_name("a..b"));
        assert!(!is_module_name("2a"));
        assert!(is_python_identifier("app"));
        assert!(!is_python_identifier("a.b"));
    }

    #[test]
    fn the_generated_module_script_imports_the_callable() {
        let s = module_script("mysite.wsgi", "app");
        assert!(s.contains("importlib.import_module(\"mysite.wsgi\"), \"app\")"));
        assert!(s.contains("\napplication = "));
    }

    #[test]
    fn a_port_in_use_is_one_line() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let e = check_port("127.0.0.1", port, "--port").unwrap_err().0;
        assert_eq!(e, format!("--port {port}: 127.0.0.1:{port} is already in use"));
        drop(l);
        check_port("127.0.0.1", port, "--port").unwrap();
    }
}
