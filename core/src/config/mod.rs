//! Directive values with mod_wsgi's meaning. Every parser returns `Err(message)` where the message
//! is what `apachectl configtest` prints (Apache prefixes the file and line).
mod alias;
mod daemon;
mod options;
mod script_owner;
mod values;
mod words;

pub use alias::alias_match;
pub use daemon::{DaemonOptions, REFUSED, ScriptOwner, display_title, parse_daemon_process};
pub use options::{ScriptAliasOptions, parse_script_alias_options};
pub use script_owner::{Owned, OwnerRule, script_owner_violation};
pub use values::{
    AppGroup, GroupFacts, MapHead, ProcessGroup, parse_app_group, parse_map_head, parse_on_off, parse_optimize,
    parse_process_group,
};
pub use words::conf_words;
