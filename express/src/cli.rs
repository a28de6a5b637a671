//! The command line: subcommands and their options, as clap parses them. Nothing here looks at
//! the file system; `plan.rs` turns `ServerArgs` into a checked plan.
use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// The Debian locations the generated configuration uses by default.
pub const APACHE2: &str = "/usr/sbin/apache2";
pub const MODULES_DIR: &str = "/usr/lib/apache2/modules";

#[derive(Parser, Debug)]
#[command(
    name = "wsgi-express",
    version,
    about = "Run a Python WSGI application under Apache httpd with mod_wsgi_rs, without writing httpd.conf",
    after_help = "`wsgi-express start-server --help` lists the server options."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write an httpd.conf for the application under the server root and run Apache in the
    /// foreground, logging to the terminal; Ctrl-C or SIGTERM stops it.
    StartServer(ServerArgs),
    /// Write the httpd.conf and an `apachectl` script under the server root, then exit.
    SetupServer(ServerArgs),
    /// Print the LoadModule line (and WSGIPythonHome for the active virtualenv) for httpd.conf.
    ModuleConfig(ModuleArgs),
    /// Print the path of the mod_wsgi_rs module this command uses.
    ModuleLocation(ModuleArgs),
    /// Copy the module into Apache's modules directory (needs root) and print its LoadModule line.
    InstallModule(InstallArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ModuleArgs {
    /// The module file (default: libmod_wsgi_rs.so beside this program, else the installed one).
    #[arg(long, value_name = "FILE", env = "WSGI_EXPRESS_MODULE")]
    pub module_path: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct InstallArgs {
    #[command(flatten)]
    pub module: ModuleArgs,
    /// Where to copy the module.
    #[arg(long, value_name = "DIR", default_value = MODULES_DIR)]
    pub modules_directory: PathBuf,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppType {
    /// TARGET is a WSGI script file (.wsgi or .py).
    Script,
    /// TARGET is a dotted Python module name (e.g. mysite.wsgi), imported from the working
    /// directory or --python-path.
    Module,
    /// TARGET is a directory of static files served by Apache (no Python).
    Static,
}

pub const LOG_LEVELS: [&str; 16] = [
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug", "trace1", "trace2", "trace3", "trace4",
    "trace5", "trace6", "trace7", "trace8",
];

#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// The application: a WSGI script, a module name or a directory (see --application-type).
    #[arg(value_name = "TARGET")]
    pub target: String,

    // ----- Application ---------------------------------------------------------------------
    /// How TARGET is read.
    #[arg(long, value_enum, default_value_t = AppType::Script, help_heading = "Application")]
    pub application_type: AppType,
    /// Name of the WSGI callable in the script or module.
    #[arg(long, value_name = "NAME", default_value = "application", help_heading = "Application")]
    pub callable_object: String,
    /// URL prefix the application is mounted at.
    #[arg(long, value_name = "URL", default_value = "/", help_heading = "Application")]
    pub mount_point: String,
    /// Serve the file or directory PATH at URL with Apache itself (static files); repeatable.
    #[arg(long, num_args = 2, value_names = ["URL", "PATH"], action = ArgAction::Append,
          help_heading = "Application")]
    pub url_alias: Vec<String>,
    /// The daemon processes' current directory, also put on sys.path [default: the current
    /// directory].
    #[arg(long, value_name = "DIR", help_heading = "Application")]
    pub working_directory: Option<PathBuf>,
    /// Reload the application when its WSGI script file changes (WSGIScriptReloading).
    #[arg(long, help_heading = "Application")]
    pub reload_on_changes: bool,

    // ----- Server ---------------------------------------------------------------------------
    /// Address to listen on (0.0.0.0 for every interface).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1", help_heading = "Server")]
    pub host: String,
    /// HTTP port.
    #[arg(long, value_name = "N", default_value_t = 8000, help_heading = "Server")]
    pub port: u16,
    /// Directory for httpd.conf, the pid file and the daemon sockets [default:
    /// /tmp/wsgi-express-UID-PORT].
    #[arg(long, value_name = "DIR", help_heading = "Server")]
    pub server_root: Option<PathBuf>,
    /// User Apache's workers and the application run as, when started as root [default: www-data].
    #[arg(long, value_name = "NAME", help_heading = "Server")]
    pub user: Option<String>,
    /// Group for the same [default: the user's primary group].
    #[arg(long, value_name = "NAME", help_heading = "Server")]
    pub group: Option<String>,
    /// Write the configuration and an apachectl script, then exit (same as setup-server).
    #[arg(long, help_heading = "Server")]
    pub setup_only: bool,
    /// The Apache httpd executable.
    #[arg(long, value_name = "FILE", default_value = crate::cli::APACHE2, env = "APACHE2", help_heading = "Server")]
    pub httpd_executable: PathBuf,
    /// Directory of Apache's own modules (mpm_event, mod_ssl, ...).
    #[arg(long, value_name = "DIR", default_value = MODULES_DIR, help_heading = "Server")]
    pub modules_directory: PathBuf,
    #[command(flatten, next_help_heading = "Server")]
    pub module: ModuleArgs,

    // ----- Processes ------------------------------------------------------------------------
    /// Daemon processes running the application.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256),
          help_heading = "Processes")]
    pub processes: u32,
    /// Request threads per daemon process.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000),
          help_heading = "Processes")]
    pub threads: u32,
    /// Recycle a daemon process after N requests (0: never).
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = "Processes")]
    pub maximum_requests: u32,
    /// Seconds a request may run before its process is recycled (0: no limit).
    #[arg(long, value_name = "SECS", default_value_t = 60, help_heading = "Processes")]
    pub request_timeout: u32,
    /// Run the application inside Apache's workers instead of daemon processes.
    #[arg(long, help_heading = "Processes")]
    pub embedded_mode: bool,

    // ----- Python ---------------------------------------------------------------------------
    /// Virtualenv (sys.prefix) of the application [default: $VIRTUAL_ENV when set].
    #[arg(long, value_name = "DIR", help_heading = "Python")]
    pub python_home: Option<PathBuf>,
    /// Directory added to sys.path (site.addsitedir); repeatable.
    #[arg(long, value_name = "DIR", action = ArgAction::Append, help_heading = "Python")]
    pub python_path: Vec<PathBuf>,

    // ----- Logging --------------------------------------------------------------------------
    /// Log every request to standard output (common log format).
    #[arg(long, help_heading = "Logging")]
    pub access_log: bool,
    /// Apache LogLevel of the error log (standard error).
    #[arg(long, value_name = "LEVEL", default_value = "warn", value_parser = LOG_LEVELS,
          help_heading = "Logging")]
    pub log_level: String,

    // ----- HTTPS and HTTP/2 -----------------------------------------------------------------
    /// Also serve HTTPS on this port (mod_ssl).
    #[arg(long, value_name = "N", requires_all = ["ssl_certificate_file", "ssl_certificate_key_file"],
          help_heading = "HTTPS and HTTP/2")]
    pub https_port: Option<u16>,
    /// PEM certificate (chain) for --https-port.
    #[arg(long, value_name = "FILE", requires = "https_port", help_heading = "HTTPS and HTTP/2")]
    pub ssl_certificate_file: Option<PathBuf>,
    /// PEM private key for --https-port.
    #[arg(long, value_name = "FILE", requires = "https_port", help_heading = "HTTPS and HTTP/2")]
    pub ssl_certificate_key_file: Option<PathBuf>,
    /// Offer HTTP/2 (mod_http2): h2 over TLS via ALPN, h2c on the HTTP port.
    #[arg(long, help_heading = "HTTPS and HTTP/2")]
    pub enable_http2: bool,
}

impl ServerArgs {
    /// The --url-alias pairs (clap collects them flat).
    pub fn url_aliases(&self) -> Vec<(String, String)> {
        self.url_alias.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn url_aliases_pair_up() {
        let cli = Cli::try_parse_from([
            "wsgi-express",
            "start-server",
            "a.wsgi",
            "--url-alias",
            "/static",
            "./static",
            "--url-alias",
            "/m",
            "/srv/m",
        ])
        .unwrap();
        let Command::StartServer(a) = cli.command else { panic!() };
        assert_eq!(a.url_aliases(), vec![("/static".into(), "./static".into()), ("/m".into(), "/srv/m".into())]);
        assert_eq!((a.port, a.threads, a.processes, a.request_timeout), (8000, 5, 1, 60));
    }

    #[test]
    fn https_needs_certificate_and_key() {
        assert!(Cli::try_parse_from(["wsgi-express", "start-server", "a.wsgi", "--https-port", "8443"]).is_err());
        assert!(
            Cli::try_parse_from(["wsgi-express", "start-server", "a.wsgi", "--ssl-certificate-file", "c"]).is_err()
        );
    }
}
