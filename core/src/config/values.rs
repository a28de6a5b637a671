//! Scalar directive values: On/Off flags, application and process groups, optimisation level.

/// `On`/`Off`, case-insensitive, as Apache's FLAG directives accept them.
pub fn parse_on_off(directive: &str, arg: &str) -> Result<bool, String> {
    match arg.to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{directive}: invalid value '{arg}', expected On or Off")),
    }
}

/// `WSGIMapHEADToGET On|Off|Auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapHead {
    Off,
    On,
    /// Map only when an output filter other than Apache's protocol filters could look at the body.
    Auto,
}

pub fn parse_map_head(arg: &str) -> Result<MapHead, String> {
    match arg.to_ascii_lowercase().as_str() {
        "on" => Ok(MapHead::On),
        "off" => Ok(MapHead::Off),
        "auto" => Ok(MapHead::Auto),
        _ => Err(format!("WSGIMapHEADToGET: invalid value '{arg}', expected On, Off or Auto")),
    }
}

/// Which interpreter inside the process runs the application (`WSGIApplicationGroup`,
/// `application-group=`). Resolved per request into a group name ([`AppGroup::resolve`]); the
/// empty name is the main interpreter, any other name a sub-interpreter of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppGroup {
    /// `%{GLOBAL}` (or the empty string): the main interpreter. Our default (see README).
    Global,
    /// A literal group name.
    Named(String),
    /// `%{RESOURCE}`: `host[:port]|SCRIPT_NAME`, one interpreter per application (mod_wsgi's
    /// default).
    Resource,
    /// `%{SERVER}`: `host[:port]` of the virtual host (its `ServerName`).
    Server,
    /// `%{HOST}`: `host[:port]` as the client named it (the `Host` header).
    Host,
    /// `%{ENV:var}`: the value of a request variable (SetEnv, RewriteRule `[E=]`, …).
    Env(String),
}

/// What a request offers to resolve an [`AppGroup`].
pub struct GroupFacts<'a> {
    /// The virtual host's `ServerName`.
    pub server_hostname: &'a [u8],
    /// The host the client asked for (`Host` header, without port), if any.
    pub host: Option<&'a [u8]>,
    /// The server port of the request (`ap_get_server_port`).
    pub port: u16,
    pub script_name: &'a [u8],
    /// A request variable by name (`%{ENV:var}`).
    pub env: &'a dyn Fn(&str) -> Option<Vec<u8>>,
}

fn with_port(host: &[u8], port: u16) -> String {
    let h = String::from_utf8_lossy(host);
    if port == 80 || port == 443 || port == 0 { h.into_owned() } else { format!("{h}:{port}") }
}

impl AppGroup {
    /// The group name for one request (mod_wsgi's forms): `""` is the main interpreter.
    pub fn resolve(&self, f: &GroupFacts<'_>) -> String {
        match self {
            AppGroup::Global => String::new(),
            AppGroup::Named(n) => n.clone(),
            AppGroup::Server => with_port(f.server_hostname, f.port),
            AppGroup::Host => with_port(f.host.filter(|h| !h.is_empty()).unwrap_or(f.server_hostname), f.port),
            AppGroup::Resource => {
                format!("{}|{}", with_port(f.server_hostname, f.port), String::from_utf8_lossy(f.script_name))
            }
            AppGroup::Env(var) => match (f.env)(var) {
                Some(v) if v != b"%{GLOBAL}" => String::from_utf8_lossy(&v).into_owned(),
                _ => String::new(),
            },
        }
    }

    /// The group name when it does not depend on the request (`None`: it does).
    pub fn literal(&self) -> Option<&str> {
        match self {
            AppGroup::Global => Some(""),
            AppGroup::Named(n) => Some(n),
            _ => None,
        }
    }
}

/// `%{GLOBAL}` or `""`, `%{RESOURCE}`, `%{SERVER}`, `%{HOST}`, `%{ENV:var}`, or a group name.
pub fn parse_app_group(directive: &str, arg: &str) -> Result<AppGroup, String> {
    match arg {
        "%{GLOBAL}" | "" => Ok(AppGroup::Global),
        "%{RESOURCE}" => Ok(AppGroup::Resource),
        "%{SERVER}" => Ok(AppGroup::Server),
        "%{HOST}" => Ok(AppGroup::Host),
        a if a.starts_with("%{ENV:") && a.ends_with('}') && a.len() > 7 => {
            Ok(AppGroup::Env(a[6..a.len() - 1].to_string()))
        }
        a if a.starts_with("%{") => Err(format!(
            "{directive}: application group '{a}' is not supported (use a group name, %{{GLOBAL}}, \
             %{{RESOURCE}}, %{{SERVER}}, %{{HOST}} or %{{ENV:variable}})"
        )),
        a if a.contains('\0') => Err(format!("{directive}: NUL in application group name")),
        a => Ok(AppGroup::Named(a.to_string())),
    }
}

/// Which process runs the application: embedded (`%{GLOBAL}` or empty) or a daemon group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessGroup {
    Embedded,
    /// A `WSGIDaemonProcess` group by name.
    Named(String),
    /// `%{ENV:var}`: the group named by a request environment variable (SetEnv, RewriteRule
    /// [E=]…); empty or unset means embedded.
    Env(String),
    /// `%{SERVER}`: the group named like the request's virtual host, `ServerName[:port]`.
    Server,
    /// `%{HOST}`: the group named like the host the client asked for, `Host[:port]`.
    Host,
}

impl ProcessGroup {
    /// The group name when it does not depend on the request (`None`: it does; `Some("")`:
    /// embedded).
    pub fn literal(&self) -> Option<&str> {
        match self {
            ProcessGroup::Embedded => Some(""),
            ProcessGroup::Named(n) => Some(n),
            _ => None,
        }
    }

    /// The group for one request, `None` meaning embedded (the same forms and port rule as
    /// [`AppGroup::resolve`]; an empty or `%{GLOBAL}` variable is embedded).
    pub fn resolve(&self, f: &GroupFacts<'_>) -> Option<String> {
        let name = match self {
            ProcessGroup::Embedded => return None,
            ProcessGroup::Named(n) => n.clone(),
            ProcessGroup::Env(v) => AppGroup::Env(v.clone()).resolve(f),
            ProcessGroup::Server => AppGroup::Server.resolve(f),
            ProcessGroup::Host => AppGroup::Host.resolve(f),
        };
        if name.is_empty() { None } else { Some(name) }
    }
}

pub fn parse_process_group(directive: &str, arg: &str) -> Result<ProcessGroup, String> {
    match arg {
        "%{GLOBAL}" | "" => Ok(ProcessGroup::Embedded),
        a if a.starts_with("%{ENV:") && a.ends_with('}') && a.len() > 7 => {
            Ok(ProcessGroup::Env(a[6..a.len() - 1].to_string()))
        }
        "%{SERVER}" => Ok(ProcessGroup::Server),
        "%{HOST}" => Ok(ProcessGroup::Host),
        a if a.starts_with("%{") => Err(format!(
            "{directive}: process group '{a}' is not supported (use a group name, %{{GLOBAL}}, %{{SERVER}}, \
             %{{HOST}} or %{{ENV:variable}})"
        )),
        a => Ok(ProcessGroup::Named(a.to_string())),
    }
}

/// `WSGIPythonOptimize 0|1|2`.
pub fn parse_optimize(arg: &str) -> Result<u8, String> {
    match arg.trim() {
        "0" => Ok(0),
        "1" => Ok(1),
        "2" => Ok(2),
        _ => Err(format!("WSGIPythonOptimize: invalid value '{arg}', expected 0, 1 or 2")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_off() {
        assert_eq!(parse_on_off("X", "On"), Ok(true));
        assert_eq!(parse_on_off("X", "off"), Ok(false));
        let e = parse_on_off("WSGIChunkedRequest", "yes").unwrap_err();
        assert!(e.contains("WSGIChunkedRequest") && e.contains("yes"), "{e}");
    }

    #[test]
    fn map_head() {
        assert_eq!(parse_map_head("AUTO"), Ok(MapHead::Auto));
        assert!(parse_map_head("maybe").unwrap_err().contains("WSGIMapHEADToGET"));
    }

    #[test]
    fn groups() {
        assert_eq!(parse_app_group("WSGIApplicationGroup", "%{GLOBAL}"), Ok(AppGroup::Global));
        assert_eq!(parse_app_group("WSGIApplicationGroup", ""), Ok(AppGroup::Global));
        assert_eq!(parse_app_group("WSGIApplicationGroup", "%{RESOURCE}"), Ok(AppGroup::Resource));
        assert_eq!(parse_app_group("WSGIApplicationGroup", "%{SERVER}"), Ok(AppGroup::Server));
        assert_eq!(parse_app_group("WSGIApplicationGroup", "%{HOST}"), Ok(AppGroup::Host));
        assert_eq!(parse_app_group("WSGIApplicationGroup", "%{ENV:AG}"), Ok(AppGroup::Env("AG".into())));
        assert_eq!(parse_app_group("WSGIApplicationGroup", "shop"), Ok(AppGroup::Named("shop".into())));
        let e = parse_app_group("WSGIApplicationGroup", "%{FOO}").unwrap_err();
        assert!(e.contains("WSGIApplicationGroup") && e.contains("%{FOO}"), "{e}");
        assert_eq!(parse_process_group("WSGIProcessGroup", "%{GLOBAL}"), Ok(ProcessGroup::Embedded));
        assert_eq!(parse_process_group("WSGIProcessGroup", "shop"), Ok(ProcessGroup::Named("shop".into())));
        assert_eq!(parse_process_group("WSGIProcessGroup", "%{ENV:GRP}"), Ok(ProcessGroup::Env("GRP".into())));
        assert_eq!(parse_process_group("WSGIProcessGroup", "%{SERVER}"), Ok(ProcessGroup::Server));
        assert_eq!(parse_process_group("WSGIProcessGroup", "%{HOST}"), Ok(ProcessGroup::Host));
        let e = parse_process_group("WSGIProcessGroup", "%{RESOURCE}").unwrap_err();
        assert!(e.contains("not supported") && e.contains("%{RESOURCE}"), "{e}");
    }

    #[test]
    fn app_group_resolution() {
        let env = |k: &str| match k {
            "AG" => Some(b"from-env".to_vec()),
            "G" => Some(b"%{GLOBAL}".to_vec()),
            _ => None,
        };
        let f = GroupFacts {
            server_hostname: b"www.example.com",
            host: Some(b"alias.example.com"),
            port: 8080,
            script_name: b"/sub",
            env: &env,
        };
        assert_eq!(AppGroup::Global.resolve(&f), "");
        assert_eq!(AppGroup::Named("x".into()).resolve(&f), "x");
        assert_eq!(AppGroup::Resource.resolve(&f), "www.example.com:8080|/sub");
        assert_eq!(AppGroup::Server.resolve(&f), "www.example.com:8080");
        assert_eq!(AppGroup::Host.resolve(&f), "alias.example.com:8080");
        assert_eq!(AppGroup::Env("AG".into()).resolve(&f), "from-env");
        assert_eq!(AppGroup::Env("G".into()).resolve(&f), "");
        assert_eq!(AppGroup::Env("NONE".into()).resolve(&f), "");
        let f80 = GroupFacts { port: 80, host: None, script_name: b"", ..f };
        assert_eq!(AppGroup::Resource.resolve(&f80), "www.example.com|");
        assert_eq!(AppGroup::Host.resolve(&f80), "www.example.com");
        let f443 = GroupFacts { port: 443, ..f80 };
        assert_eq!(AppGroup::Server.resolve(&f443), "www.example.com");
        assert_eq!(AppGroup::Resource.literal(), None);
        assert_eq!(AppGroup::Global.literal(), Some(""));
        assert_eq!(ProcessGroup::Server.resolve(&f).as_deref(), Some("www.example.com:8080"));
        assert_eq!(ProcessGroup::Host.resolve(&f).as_deref(), Some("alias.example.com:8080"));
        assert_eq!(ProcessGroup::Env("AG".into()).resolve(&f).as_deref(), Some("from-env"));
        assert_eq!(ProcessGroup::Env("G".into()).resolve(&f), None);
        assert_eq!(ProcessGroup::Embedded.resolve(&f), None);
        assert_eq!(ProcessGroup::Host.resolve(&f443).as_deref(), Some("www.example.com"));
        assert_eq!(ProcessGroup::Server.literal(), None);
    }

    #[test]
    fn optimize() {
        assert_eq!(parse_optimize("2"), Ok(2));
        assert!(parse_optimize("3").is_err());
    }
}
