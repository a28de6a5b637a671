//! The module's configuration records and their create/merge callbacks.
//!
//! - [`ServerConfig`]: per (virtual) server, a Rust value in a `Box` owned by the config pool
//!   (freed by a pool cleanup). Python-wide settings are only read from the main server's.
//! - [`DirConfig`]: per directory/location, plain `#[repr(C)]` data in the pool: Apache merges it
//!   on every request (`r->pool`), so merging must not allocate Rust memory.
// The config callbacks here are Apache's (create/merge_*_config): their one contract is
// Apache's, live pools and records.
use std::ffi::{CString, c_char, c_void};
use std::ptr;

use wsgi_rs_core::config::{MapHead, ScriptAliasOptions};

use crate::apache::guard::guard;
use crate::apache::request::Request;
use crate::apache::server::Server;
use crate::ffi;

/// One `WSGIScriptAlias` or `WSGIScriptAliasMatch`.
pub struct ScriptAlias {
    /// URL prefix (plain alias) or the source of the regular expression.
    pub url: Vec<u8>,
    /// File or directory target; for a regex, may hold `$1`…`$9`.
    pub target: CString,
    /// Compiled with Apache's own PCRE (`ap_pregcomp`); lives in the config pool.
    pub regex: *mut ffi::ap_regex_t,
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
    pub python_eggs: Option<String>,
    /// `WSGIPythonHashSeed`: None unset or `random`.
    pub hash_seed: Option<u64>,
    pub python_warnings: Vec<String>,
    pub switch_interval: Option<f64>,
}

/// Tri-state flag: -1 unset (inherit), 0 off, 1 on.
pub type Tri = i8;
pub const UNSET: Tri = -1;

#[repr(C)]
pub struct DirConfig {
    /// `WSGICallableObject`, a pool string, NULL when unset.
    pub callable_object: *const c_char,
    pub pass_authorization: Tri,
    pub script_reloading: Tri,
    pub chunked_request: Tri,
    /// `WSGIMapHEADToGET`: -1 unset, 0 Off, 1 On, 2 Auto.
    pub map_head: Tri,
    /// `WSGIProcessGroup` as written (validated at configuration time), NULL when unset.
    pub process_group: *const c_char,
    /// `WSGIRestrictProcess`: space-separated allowed groups, NULL when unset.
    pub restrict_process: *const c_char,
    /// `WSGIEnableSendfile` (default Off, as mod_wsgi).
    pub enable_sendfile: Tri,
}

impl DirConfig {
    /// The merged per-directory config of `r`.
    pub fn of(r: &Request) -> &DirConfig {
        // SAFETY: the per-dir config vector of a live request holds our DirConfig
        // (create/merge_dir_config), in a pool outliving the request.
        unsafe { &*module_config::<DirConfig>(r.per_dir_config()) }
    }

    fn string(&self, p: *const c_char) -> Option<&[u8]> {
        // SAFETY: the string fields are NULL or pool strings of the configuration.
        unsafe { crate::apache::strings::opt_bytes(p) }
    }

    /// `WSGICallableObject`, `None` when unset.
    pub fn callable_object_bytes(&self) -> Option<&[u8]> {
        self.string(self.callable_object)
    }

    /// `WSGIProcessGroup` as written, `None` when unset.
    pub fn process_group_bytes(&self) -> Option<&[u8]> {
        self.string(self.process_group)
    }

    /// `WSGIRestrictProcess`, `None` when unset.
    pub fn restrict_process_bytes(&self) -> Option<&[u8]> {
        self.string(self.restrict_process)
    }

    pub fn map_head(&self) -> MapHead {
        match self.map_head {
            0 => MapHead::Off,
            1 => MapHead::On,
            _ => MapHead::Auto,
        }
    }
}

pub fn tri(v: Tri, default: bool) -> bool {
    if v == UNSET { default } else { v != 0 }
}

unsafe extern "C" fn drop_box<T>(p: *mut c_void) -> ffi::apr_status_t {
    guard("config cleanup", (), || {
        // SAFETY: `p` came from Box::into_raw in `pool_box` and this cleanup runs once.
        drop(unsafe { Box::from_raw(p as *mut T) });
    });
    0
}

/// Moves `v` to the heap, owned by `pool`: freed when the pool is cleared.
///
/// # Safety
/// `pool` is a live pool.
pub unsafe fn pool_box<T>(pool: *mut ffi::apr_pool_t, v: T) -> *mut T {
    let p = Box::into_raw(Box::new(v));
    // SAFETY: registering a cleanup on a live pool; `drop_box::<T>` matches the allocation.
    unsafe {
        ffi::apr_pool_cleanup_register(pool, p as *const c_void, Some(drop_box::<T>), Some(ffi::apr_pool_cleanup_null))
    };
    p
}

/// # Safety
/// Called by Apache only, with a live pool and config records made by these callbacks.
pub unsafe extern "C" fn create_server_config(p: *mut ffi::apr_pool_t, _s: *mut ffi::server_rec) -> *mut c_void {
    // SAFETY: `p` is the config pool Apache passes.
    guard("create_server_config", ptr::null_mut(), || unsafe { pool_box(p, ServerConfig::default()) as *mut c_void })
}

/// # Safety
/// Called by Apache only, with a live pool and config records made by these callbacks.
pub unsafe extern "C" fn merge_server_config(
    p: *mut ffi::apr_pool_t,
    base: *mut c_void,
    add: *mut c_void,
) -> *mut c_void {
    guard("merge_server_config", add, || {
        // SAFETY: both are ServerConfig records made by create_server_config.
        let (b, a) = unsafe { (&*(base as *const ServerConfig), &*(add as *const ServerConfig)) };
        let mut m = ServerConfig {
            // A virtual host's own aliases first, then the main server's (as mod_alias).
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
            python_eggs: b.python_eggs.clone(),
            hash_seed: b.hash_seed,
            python_warnings: b.python_warnings.clone(),
            switch_interval: b.switch_interval,
        };
        for al in a.aliases.iter().chain(b.aliases.iter()) {
            m.aliases.push(ScriptAlias {
                url: al.url.clone(),
                target: al.target.clone(),
                regex: al.regex,
                options: al.options.clone(),
            });
        }
        // SAFETY: `p` is the config pool.
        unsafe { pool_box(p, m) as *mut c_void }
    })
}

/// # Safety
/// Called by Apache only, with a live pool and config records made by these callbacks.
pub unsafe extern "C" fn create_dir_config(p: *mut ffi::apr_pool_t, _dir: *mut c_char) -> *mut c_void {
    guard("create_dir_config", ptr::null_mut(), || {
        // SAFETY: palloc from the pool Apache passes; every field is written before use.
        unsafe {
            let d = ffi::apr_palloc(p, std::mem::size_of::<DirConfig>()) as *mut DirConfig;
            d.write(DirConfig {
                callable_object: ptr::null(),
                pass_authorization: UNSET,
                script_reloading: UNSET,
                chunked_request: UNSET,
                map_head: UNSET,
                process_group: ptr::null(),
                restrict_process: ptr::null(),
                enable_sendfile: UNSET,
            });
            d as *mut c_void
        }
    })
}

/// # Safety
/// Called by Apache only, with a live pool and config records made by these callbacks.
pub unsafe extern "C" fn merge_dir_config(p: *mut ffi::apr_pool_t, base: *mut c_void, add: *mut c_void) -> *mut c_void {
    guard("merge_dir_config", add, || {
        // SAFETY: both are DirConfig records; the result is plain data in `p`.
        unsafe {
            let (b, a) = (&*(base as *const DirConfig), &*(add as *const DirConfig));
            let pick = |x: Tri, y: Tri| if x != UNSET { x } else { y };
            let d = ffi::apr_palloc(p, std::mem::size_of::<DirConfig>()) as *mut DirConfig;
            d.write(DirConfig {
                callable_object: if a.callable_object.is_null() { b.callable_object } else { a.callable_object },
                pass_authorization: pick(a.pass_authorization, b.pass_authorization),
                script_reloading: pick(a.script_reloading, b.script_reloading),
                chunked_request: pick(a.chunked_request, b.chunked_request),
                map_head: pick(a.map_head, b.map_head),
                process_group: if a.process_group.is_null() { b.process_group } else { a.process_group },
                restrict_process: if a.restrict_process.is_null() { b.restrict_process } else { a.restrict_process },
                enable_sendfile: pick(a.enable_sendfile, b.enable_sendfile),
            });
            d as *mut c_void
        }
    })
}

/// `ap_get_module_config(vector, &wsgi_rs_module)`.
///
/// # Safety
/// `vector` is a module config vector (server or per-dir) of a live server or request.
pub unsafe fn module_config<T>(vector: *mut ffi::ap_conf_vector_t) -> *mut T {
    // SAFETY: config vectors are arrays of void* indexed by module_index.
    unsafe { *(vector as *mut *mut c_void).add(crate::module_index() as usize) as *mut T }
}

/// The server config of `r`'s (virtual) server.
pub fn request_server_config(r: &Request) -> &ServerConfig {
    // SAFETY: the server of a live request, configured by our create/merge_server_config; its
    // config lives as long as the request's generation.
    unsafe { server_config(Server::from_raw(r.server())) }
}

/// The server config of `s`.
///
/// # Safety
/// `s` is configured (our create/merge_server_config ran) and its generation outlives `'a`.
pub unsafe fn server_config<'a>(s: Server) -> &'a ServerConfig {
    // SAFETY: our create_server_config made it; lives as long as the config pool.
    unsafe { &*s.module_config::<ServerConfig>() }
}
