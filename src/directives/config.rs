//! The module's configuration records and their create/merge callbacks.
//!
//! - [`ServerConfig`]: per (virtual) server, a Rust value in a `Box` owned by the config pool
//!   (freed by a pool cleanup). Python-wide settings are only read from the main server's.
//! - [`DirConfig`]: per directory/location, plain `Copy` data in the pool: Apache merges it on
//!   every request (`r->pool`), so merging must not allocate Rust memory.
//!
//! The create/merge callbacks are Apache's entry points; their bodies are typed constructors
//! and merges run by `apache::config`.
use std::ffi::{CString, c_char, c_void};

use wsgi_rs_core::config::{MapHead, ScriptAliasOptions};

use crate::apache::config;
use crate::apache::record::{DirRecord, ServerRecord};
use crate::apache::regex::Regex;
use crate::apache::request::Request;
use crate::apache::server::Server;
use crate::apache::strings::PoolStr;
use crate::ffi;

/// One `WSGIScriptAlias` or `WSGIScriptAliasMatch`.
#[derive(Clone)]
pub struct ScriptAlias {
    /// URL prefix (plain alias) or the source of the regular expression.
    pub url: Vec<u8>,
    /// File or directory target; for a regex, may hold `$1`…`$9`.
    pub target: CString,
    /// `WSGIScriptAliasMatch`: compiled with Apache's own PCRE; lives in the config pool.
    pub regex: Option<Regex>,
    pub options: ScriptAliasOptions,
}

#[derive(Default)]
pub struct ServerConfig {
    pub aliases: Vec<ScriptAlias>,
    pub python_home: Option<String>,
    pub python_path: Vec<String>,
    pub optimize: Option<u8>,
    pub restrict_stdout: Option<bool>,
    pub restrict_signal: Option<bool>,
    pub restrict_embedded: Option<bool>,
    pub restrict_stdin: Option<bool>,
    pub dont_write_bytecode: Option<bool>,
    pub destroy_interpreter: Option<bool>,
    /// `WSGIServerMetrics`: `mod_wsgi.server_metrics()` may read the scoreboard (embedded).
    pub server_metrics: Option<bool>,
    pub python_eggs: Option<String>,
    /// `WSGIPythonHashSeed`: None unset or `random`.
    pub hash_seed: Option<u64>,
    pub python_warnings: Vec<String>,
    pub switch_interval: Option<f64>,
}

/// Tri-state flag: -1 unset (inherit), 0 off, 1 on.
pub type Tri = i8;
pub const UNSET: Tri = -1;

#[derive(Clone, Copy)]
pub struct DirConfig {
    /// `WSGICallableObject`, `None` when unset.
    pub callable_object: Option<PoolStr>,
    pub pass_authorization: Tri,
    pub script_reloading: Tri,
    pub chunked_request: Tri,
    /// `WSGIMapHEADToGET`: -1 unset, 0 Off, 1 On, 2 Auto.
    pub map_head: Tri,
    /// `WSGIProcessGroup` as written (validated at configuration time), `None` when unset.
    pub process_group: Option<PoolStr>,
    /// `WSGIApplicationGroup` as written (validated at configuration time), `None` when unset.
    pub application_group: Option<PoolStr>,
    /// `WSGIRestrictProcess`: space-separated allowed groups, `None` when unset.
    pub restrict_process: Option<PoolStr>,
    /// `WSGIEnableSendfile` (default Off, as mod_wsgi).
    pub enable_sendfile: Tri,
    /// `WSGIDispatchScript` path, `None` when unset.
    pub dispatch_script: Option<PoolStr>,
    /// Its `application-group=` (a literal name, `""` the main interpreter), set with it.
    pub dispatch_group: Option<PoolStr>,
    /// `WSGICGIScript` (default Off): the scripts are legacy CGI scripts run by the adapter.
    pub cgi_script: Tri,
}

// SAFETY: create_dir_config/merge_dir_config below make every per-directory record of this
// module, through apache::config::{create_dir, merge_dir} for DirConfig.
unsafe impl DirRecord for DirConfig {}
// SAFETY: create_server_config/merge_server_config below make every server record of this
// module, through apache::config::{create_server, merge_server} for ServerConfig.
unsafe impl ServerRecord for ServerConfig {}

impl Default for DirConfig {
    fn default() -> DirConfig {
        DirConfig {
            callable_object: None,
            pass_authorization: UNSET,
            script_reloading: UNSET,
            chunked_request: UNSET,
            map_head: UNSET,
            process_group: None,
            application_group: None,
            restrict_process: None,
            enable_sendfile: UNSET,
            dispatch_script: None,
            dispatch_group: None,
            cgi_script: UNSET,
        }
    }
}

impl DirConfig {
    /// The merged per-directory config of `r`.
    pub fn of(r: &Request) -> &DirConfig {
        r.dir_config()
    }

    /// `WSGICallableObject`, `None` when unset.
    pub fn callable_object_bytes(&self) -> Option<&[u8]> {
        self.callable_object.as_ref().map(PoolStr::as_bytes)
    }

    /// `WSGIProcessGroup` as written, `None` when unset.
    pub fn process_group_bytes(&self) -> Option<&[u8]> {
        self.process_group.as_ref().map(PoolStr::as_bytes)
    }

    /// `WSGIApplicationGroup` as written, `None` when unset.
    pub fn application_group_bytes(&self) -> Option<&[u8]> {
        self.application_group.as_ref().map(PoolStr::as_bytes)
    }

    /// `WSGIDispatchScript`: the script and its application group (`""`: main interpreter).
    pub fn dispatch(&self) -> Option<(&[u8], &[u8])> {
        let script = self.dispatch_script.as_ref()?.as_bytes();
        Some((script, self.dispatch_group.as_ref().map(PoolStr::as_bytes).unwrap_or(b"")))
    }

    /// `WSGIRestrictProcess`, `None` when unset.
    pub fn restrict_process_bytes(&self) -> Option<&[u8]> {
        self.restrict_process.as_ref().map(PoolStr::as_bytes)
    }

    pub fn map_head(&self) -> MapHead {
        match self.map_head {
            0 => MapHead::Off,
            1 => MapHead::On,
            _ => MapHead::Auto,
        }
    }

    /// `add` over `base`: what `add` sets wins.
    fn merge(base: &DirConfig, add: &DirConfig) -> DirConfig {
        let pick = |x: Tri, y: Tri| if x != UNSET { x } else { y };
        DirConfig {
            callable_object: add.callable_object.or(base.callable_object),
            pass_authorization: pick(add.pass_authorization, base.pass_authorization),
            script_reloading: pick(add.script_reloading, base.script_reloading),
            chunked_request: pick(add.chunked_request, base.chunked_request),
            map_head: pick(add.map_head, base.map_head),
            process_group: add.process_group.or(base.process_group),
            application_group: add.application_group.or(base.application_group),
            restrict_process: add.restrict_process.or(base.restrict_process),
            enable_sendfile: pick(add.enable_sendfile, base.enable_sendfile),
            // The script and its group go together.
            dispatch_script: add.dispatch_script.or(base.dispatch_script),
            dispatch_group: if add.dispatch_script.is_some() { add.dispatch_group } else { base.dispatch_group },
            cgi_script: pick(add.cgi_script, base.cgi_script),
        }
    }
}

impl ServerConfig {
    /// A virtual host (`add`) over the main server (`base`): Python-wide settings come from the
    /// main server only; the virtual host's own aliases first, then the main server's (as
    /// mod_alias).
    fn merge(b: &ServerConfig, a: &ServerConfig) -> ServerConfig {
        let mut m = ServerConfig {
            aliases: Vec::with_capacity(a.aliases.len() + b.aliases.len()),
            python_home: b.python_home.clone(),
            python_path: b.python_path.clone(),
            optimize: b.optimize,
            restrict_stdout: b.restrict_stdout,
            restrict_signal: b.restrict_signal,
            restrict_embedded: b.restrict_embedded,
            restrict_stdin: b.restrict_stdin,
            dont_write_bytecode: b.dont_write_bytecode,
            destroy_interpreter: b.destroy_interpreter,
            server_metrics: b.server_metrics,
            python_eggs: b.python_eggs.clone(),
            hash_seed: b.hash_seed,
            python_warnings: b.python_warnings.clone(),
            switch_interval: b.switch_interval,
        };
        m.aliases.extend(a.aliases.iter().chain(b.aliases.iter()).cloned());
        m
    }
}

pub fn tri(v: Tri, default: bool) -> bool {
    if v == UNSET { default } else { v != 0 }
}

/// # Safety
/// Called by Apache only, with a live pool and config records made by these callbacks.
pub unsafe extern "C" fn create_server_config(p: *mut ffi::apr_pool_t, _s: *mut ffi::server_rec) -> *mut c_void {
    // SAFETY: Apache's arguments (contract above).
    unsafe { config::create_server(p, ServerConfig::default) }
}

/// # Safety
/// Called by Apache only, with a live pool and config records made by these callbacks.
pub unsafe extern "C" fn merge_server_config(
    p: *mut ffi::apr_pool_t,
    base: *mut c_void,
    add: *mut c_void,
) -> *mut c_void {
    // SAFETY: Apache's arguments (contract above).
    unsafe { config::merge_server(p, base, add, ServerConfig::merge) }
}

/// # Safety
/// Called by Apache only, with a live pool and config records made by these callbacks.
pub unsafe extern "C" fn create_dir_config(p: *mut ffi::apr_pool_t, _dir: *mut c_char) -> *mut c_void {
    // SAFETY: Apache's arguments (contract above).
    unsafe { config::create_dir(p, DirConfig::default) }
}

/// # Safety
/// Called by Apache only, with a live pool and config records made by these callbacks.
pub unsafe extern "C" fn merge_dir_config(p: *mut ffi::apr_pool_t, base: *mut c_void, add: *mut c_void) -> *mut c_void {
    // SAFETY: Apache's arguments (contract above).
    unsafe { config::merge_dir(p, base, add, DirConfig::merge) }
}

/// The server config of `r`'s (virtual) server.
pub fn request_server_config(r: &Request) -> &ServerConfig {
    r.server_config()
}

/// The server config of `s`.
///
/// # Safety
/// `s` is configured (our create/merge_server_config ran), its generation outlives `'a`, and
/// configuration is over.
pub unsafe fn server_config<'a>(s: Server) -> &'a ServerConfig {
    // SAFETY: per the contract above.
    unsafe { s.config() }
}
