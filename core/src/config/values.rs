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

/// Which interpreter inside the process runs the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppGroup {
    /// `%{GLOBAL}` (or the empty string): the main interpreter. Our default (see README).
    Global,
}

/// Accepts `%{GLOBAL}` and `""`. Every other group would need a sub-interpreter, which this
/// version does not provide: refuse it at configuration time rather than silently sharing the
/// main interpreter between applications that expect isolation.
pub fn parse_app_group(directive: &str, arg: &str) -> Result<AppGroup, String> {
    match arg {
        "%{GLOBAL}" | "" => Ok(AppGroup::Global),
        other => Err(format!(
            "{directive}: application group '{other}' is not supported yet: this version of \
             mod_wsgi_rs runs every application in the main interpreter; use %{{GLOBAL}} \
             (the default)"
        )),
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
}

pub fn parse_process_group(directive: &str, arg: &str) -> Result<ProcessGroup, String> {
    match arg {
        "%{GLOBAL}" | "" => Ok(ProcessGroup::Embedded),
        a if a.starts_with("%{ENV:") && a.ends_with('}') && a.len() > 7 => {
            Ok(ProcessGroup::Env(a[6..a.len() - 1].to_string()))
        }
        a if a.starts_with("%{") => Err(format!(
            "{directive}: process group '{a}' is not supported (use a group name, %{{GLOBAL}} or %{{ENV:variable}})"
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
        let e = parse_app_group("WSGIApplicationGroup", "%{RESOURCE}").unwrap_err();
        assert!(e.contains("not supported yet") && e.contains("%{RESOURCE}"), "{e}");
        assert_eq!(parse_process_group("WSGIProcessGroup", "%{GLOBAL}"), Ok(ProcessGroup::Embedded));
        assert_eq!(parse_process_group("WSGIProcessGroup", "shop"), Ok(ProcessGroup::Named("shop".into())));
        assert_eq!(parse_process_group("WSGIProcessGroup", "%{ENV:GRP}"), Ok(ProcessGroup::Env("GRP".into())));
        let e = parse_process_group("WSGIProcessGroup", "%{SERVER}").unwrap_err();
        assert!(e.contains("not supported") && e.contains("%{SERVER}"), "{e}");
    }

    #[test]
    fn optimize() {
        assert_eq!(parse_optimize("2"), Ok(2));
        assert!(parse_optimize("3").is_err());
    }
}
