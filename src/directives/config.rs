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
use wsgi_rs_core::environ::proxy::HeaderSet;
use wsgi_rs_core::environ::subnet::Subnet;

use crate::apache::config;
use crate::apache::pool::{Pool, PoolRef};
use crate::apache::record::{DirRecord, ServerRecord};
use crate::apache::regex::Regex;
use crate::apache::request::Request;
use crate::apache::server::Server;
use crate::apache::strings::{PoolSlice, PoolStr};
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

/// One `WSGIHandlerScript name path [options]`, a node of the per-directory list (plain data
/// in the configuration pool, or in a request pool once merged; see `chain`).
#[derive(Clone, Copy)]
pub struct HandlerScript {
    /// The handler name (`AddHandler name .ext`, `SetHandler name`).
    pub name: PoolStr,
    /// The script whose `handle_request` runs.
    pub script: PoolStr,
    /// `process-group=` as written (validated at configuration time), `None` when not given.
    pub process_group: Option<PoolStr>,
    /// `application-group=` as written (validated at configuration time), `None` when not given.
    pub application_group: Option<PoolStr>,
    /// `pass-authorization=` (-1 not given).
    pub pass_authorization: Tri,
    /// The definitions further out (or earlier in the same section): searched after this one.
    pub next: Option<PoolRef<HandlerScript>>,
}

/// `add`'s handler scripts in front of `base`'s (the inner section wins, as mod_wsgi's
/// `apr_hash_overlay`). Copies `add`'s nodes into `pool` only when both have some.
fn chain(
    pool: Pool,
    add: Option<PoolRef<HandlerScript>>,
    base: Option<PoolRef<HandlerScript>>,
) -> Option<PoolRef<HandlerScript>> {
    match (add, base) {
        (None, b) => b,
        (a, None) => a,
        (Some(a), b) => {
            let h = *a.get();
            Some(pool.alloc_ref(HandlerScript { next: chain(pool, h.next, b), ..h }))
        }
    }
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
    /// `WSGITrustedProxyHeaders` (all lines of one context), `None` when unset.
    pub trusted_proxy_headers: Option<HeaderSet>,
    /// `WSGITrustedProxies` (all lines of one context, in the configuration pool), `None` when
    /// unset (then every peer may send the trusted headers, as in mod_wsgi).
    pub trusted_proxies: Option<PoolSlice<Subnet>>,
    /// `WSGIAccessScript`, `WSGIAuthUserScript`, `WSGIAuthGroupScript`, indexed by
    /// [`AuthKind`].
    pub auth: [Option<AuthScriptConf>; 3],
    /// `WSGIGroupAuthoritative`: accepted and kept; Apache 2.4's authz providers have no use
    /// for it (as in mod_wsgi 4+ on 2.4).
    pub group_authoritative: Tri,
    /// `WSGIErrorOverride` (default Off; daemon mode): a 4xx/5xx from the app gets Apache's
    /// error document instead of the app's body.
    pub error_override: Tri,
    /// `WSGIPassApacheRequest` (default Off; embedded mode): `apache.request_rec` in the environ.
    pub pass_apache_request: Tri,
    /// `WSGIIgnoreActivity` (default Off): these requests do not reset inactivity-timeout.
    pub ignore_activity: Tri,
    /// `WSGIHandlerScript` definitions visible here, innermost first.
    pub handler_scripts: Option<PoolRef<HandlerScript>>,
}

/// Which auth script directive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    Access = 0,
    User = 1,
    Group = 2,
}

impl AuthKind {
    pub fn directive(self) -> &'static str {
        match self {
            AuthKind::Access => "WSGIAccessScript",
            AuthKind::User => "WSGIAuthUserScript",
            AuthKind::Group => "WSGIAuthGroupScript",
        }
    }
}

/// One auth script: its path and its `application-group=` as written (validated; `""`: the
/// main interpreter), resolved per request like `WSGIApplicationGroup`.
#[derive(Clone, Copy)]
pub struct AuthScriptConf {
    pub script: PoolStr,
    pub group: PoolStr,
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
            trusted_proxy_headers: None,
            trusted_proxies: None,
            auth: [None; 3],
            group_authoritative: UNSET,
            error_override: UNSET,
            pass_apache_request: UNSET,
            ignore_activity: UNSET,
            handler_scripts: None,
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

    /// The auth script of `kind` that applies here, if any.
    pub fn auth_script(&self, kind: AuthKind) -> Option<&AuthScriptConf> {
        self.auth[kind as usize].as_ref()
    }

    /// `WSGIRestrictProcess`, `None` when unset.
    pub fn restrict_process_bytes(&self) -> Option<&[u8]> {
        self.restrict_process.as_ref().map(PoolStr::as_bytes)
    }

    /// The trusted proxy headers and proxies of this context, `None` when no
    /// `WSGITrustedProxyHeaders` applies (nothing to do for the request then).
    pub fn proxy_rules(&self) -> Option<(&HeaderSet, Option<&[Subnet]>)> {
        let headers = self.trusted_proxy_headers.as_ref().filter(|h| !h.is_empty())?;
        Some((headers, self.trusted_proxies.as_ref().map(PoolSlice::as_slice)))
    }

    /// The `WSGIHandlerScript` named `handler` (an Apache handler name), if one is defined here.
    /// Case-insensitive: `AddHandler` and `SetHandler` lower-case the names they set.
    pub fn handler_script(&self, handler: &[u8]) -> Option<&HandlerScript> {
        let mut at = self.handler_scripts.as_ref();
        while let Some(n) = at {
            let h = n.get();
            if h.name.as_bytes().eq_ignore_ascii_case(handler) {
                return Some(h);
            }
            at = h.next.as_ref();
        }
        None
    }

    pub fn map_head(&self) -> MapHead {
        match self.map_head {
            0 => MapHead::Off,
            1 => MapHead::On,
            _ => MapHead::Auto,
        }
    }

    /// `add` over `base`: what `add` sets wins. `pool`: where the merged record lives.
    fn merge(pool: Pool, base: &DirConfig, add: &DirConfig) -> DirConfig {
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
            // mod_wsgi: the innermost context that sets a list replaces the outer one.
            trusted_proxy_headers: add.trusted_proxy_headers.or(base.trusted_proxy_headers),
            trusted_proxies: add.trusted_proxies.or(base.trusted_proxies),
            auth: [0, 1, 2].map(|i| add.auth[i].or(base.auth[i])),
            group_authoritative: pick(add.group_authoritative, base.group_authoritative),
            error_override: pick(add.error_override, base.error_override),
            pass_apache_request: pick(add.pass_apache_request, base.pass_apache_request),
            ignore_activity: pick(add.ignore_activity, base.ignore_activity),
            handler_scripts: chain(pool, add.handler_scripts, base.handler_scripts),
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
