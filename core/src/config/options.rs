//! `key=value` option lists, as taken by `WSGIScriptAlias` and `WSGIScriptAliasMatch`.
use super::values::{AppGroup, ProcessGroup, parse_app_group, parse_on_off, parse_process_group};

/// Options given after the target of a `WSGIScriptAlias[Match]`; `None` means "not given here",
/// so the per-directory directives apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptAliasOptions {
    pub process_group: Option<ProcessGroup>,
    pub application_group: Option<AppGroup>,
    pub callable_object: Option<String>,
    pub pass_authorization: Option<bool>,
}

/// Splits `key=value`; values may be quoted by Apache's own argument splitting already.
pub fn parse_script_alias_options(directive: &str, args: &[&str]) -> Result<ScriptAliasOptions, String> {
    let mut o = ScriptAliasOptions::default();
    for arg in args {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(format!("{directive}: invalid option '{arg}', expected name=value"));
        };
        let dup = || format!("{directive}: option '{key}' given twice");
        match key {
            "process-group" => {
                if o.process_group.is_some() {
                    return Err(dup());
                }
                o.process_group = Some(parse_process_group(directive, value)?);
            }
            "application-group" => {
                if o.application_group.is_some() {
                    return Err(dup());
                }
                o.application_group = Some(parse_app_group(directive, value)?);
            }
            "callable-object" => {
                if o.callable_object.is_some() {
                    return Err(dup());
                }
                if value.is_empty() {
                    return Err(format!("{directive}: callable-object must not be empty"));
                }
                o.callable_object = Some(value.to_string());
            }
            "pass-authorization" => {
                if o.pass_authorization.is_some() {
                    return Err(dup());
                }
                o.pass_authorization = Some(parse_on_off(&format!("{directive} pass-authorization"), value)?);
            }
            _ => {
                return Err(format!(
                    "{directive}: unknown option '{key}' (valid options: process-group, \
                     application-group, callable-object, pass-authorization)"
                ));
            }
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_options() {
        let o = parse_script_alias_options(
            "WSGIScriptAlias",
            &["application-group=%{GLOBAL}", "callable-object=app", "pass-authorization=On"],
        )
        .unwrap();
        assert_eq!(o.application_group, Some(AppGroup::Global));
        assert_eq!(o.callable_object.as_deref(), Some("app"));
        assert_eq!(o.pass_authorization, Some(true));
        assert_eq!(o.process_group, None);
    }

    #[test]
    fn rejects_unknown_and_malformed() {
        let e = parse_script_alias_options("WSGIScriptAlias", &["colour=blue"]).unwrap_err();
        assert!(e.contains("unknown option 'colour'"), "{e}");
        let e = parse_script_alias_options("WSGIScriptAlias", &["noequals"]).unwrap_err();
        assert!(e.contains("expected name=value"), "{e}");
        let e = parse_script_alias_options("WSGIScriptAlias", &["pass-authorization=maybe"]).unwrap_err();
        assert!(e.contains("pass-authorization"), "{e}");
        let e = parse_script_alias_options("WSGIScriptAlias", &["callable-object=a", "callable-object=b"]).unwrap_err();
        assert!(e.contains("twice"), "{e}");
    }

    #[test]
    fn process_group_option() {
        let o = parse_script_alias_options("WSGIScriptAlias", &["process-group=shop"]).unwrap();
        assert_eq!(o.process_group, Some(ProcessGroup::Named("shop".into())));
        let o = parse_script_alias_options("WSGIScriptAlias", &["process-group=%{GLOBAL}"]).unwrap();
        assert_eq!(o.process_group, Some(ProcessGroup::Embedded));
    }
}
