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

/// Which process runs the application: embedded (`%{GLOBAL}` or empty) or a named daemon group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessGroup {
    Embedded,
}

/// Daemon process groups are not implemented yet: a named group is a configuration error that
/// says so, never a silent fallback to embedded mode.
pub fn parse_process_group(directive: &str, arg: &str) -> Result<ProcessGroup, String> {
    match arg {
        "%{GLOBAL}" | "" => Ok(ProcessGroup::Embedded),
        other => Err(format!(
            "{directive}: process group '{other}' cannot be used: daemon mode \
             (WSGIDaemonProcess) is not supported by this version of mod_wsgi_rs yet; remove the \
             process group to run the application in embedded mode"
        )),
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
        let e = parse_process_group("WSGIScriptAlias", "shop").unwrap_err();
        assert!(e.contains("daemon mode") && e.contains("shop"), "{e}");
    }

    #[test]
    fn optimize() {
        assert_eq!(parse_optimize("2"), Ok(2));
        assert!(parse_optimize("3").is_err());
    }
}
