//! What the auth hooks need of Apache: the authn/authz provider records and their registration,
//! the access-checker hook registration, the request facts an auth phase reads or sets (remote
//! host, `r->user`), and mod_ssl's optional functions (`ssl_is_https`, `ssl_var_lookup`).
use std::ffi::{CString, c_char, c_int};
use std::ptr::null;

use crate::apache::request::Request;
use crate::apache::strings::{bytes, pstrdup};
use crate::ffi;

/// `check_password(r, user, password)` of an authn provider.
pub type CheckPassword = unsafe extern "C" fn(*mut ffi::request_rec, *const c_char, *const c_char) -> ffi::authn_status;
/// `get_realm_hash(r, user, realm, &hash)` of an authn provider.
pub type GetRealmHash =
    unsafe extern "C" fn(*mut ffi::request_rec, *const c_char, *const c_char, *mut *mut c_char) -> ffi::authn_status;
/// `check_authorization(r, require_args, parsed)` of an authz provider.
pub type CheckAuthz =
    unsafe extern "C" fn(*mut ffi::request_rec, *const c_char, *const std::ffi::c_void) -> ffi::authz_status;
/// An `access_checker` hook.
pub type AccessChecker = unsafe extern "C" fn(*mut ffi::request_rec) -> c_int;

/// A NULL-terminated list of module names for hook ordering; static, read by Apache when it
/// sorts the hooks (after the configuration is read).
struct Names([*const c_char; 2]);
// SAFETY: pointers to static C string literals, never written.
unsafe impl Sync for Names {}

static BEFORE_US: Names = Names([c"mod_ssl.c".as_ptr(), null()]);
static AFTER_US: Names = Names([c"mod_authz_host.c".as_ptr(), null()]);

/// The provider records live in a pool-independent static: Apache keeps the pointers (in
/// `pconf`'s provider hash) for the generation; the functions are this module's, and the module
/// is only unloaded after `pconf` is cleared.
struct Providers {
    authn: ffi::authn_provider,
    authz: ffi::authz_provider,
}
// SAFETY: plain function pointers, written once at compile time.
unsafe impl Sync for Providers {}

/// Registers authn provider `wsgi`, authz provider `wsgi-group` and the access checker, with
/// Apache's 2.4 auth API (`AP_AUTH_INTERNAL_PER_CONF`: an internal request with the same
/// per-directory configuration reuses the main request's result, as for mod_authn_file).
///
/// # Safety
/// Called from `register_hooks` with its pool (`pconf`).
pub unsafe fn register(
    p: *mut ffi::apr_pool_t,
    check_password: CheckPassword,
    get_realm_hash: GetRealmHash,
    check_authz: CheckAuthz,
    access: AccessChecker,
) {
    // A static per (function set): there is exactly one set, this module's.
    static PROVIDERS: std::sync::OnceLock<Providers> = std::sync::OnceLock::new();
    let prov = PROVIDERS.get_or_init(|| Providers {
        authn: ffi::authn_provider { check_password: Some(check_password), get_realm_hash: Some(get_realm_hash) },
        authz: ffi::authz_provider { check_authorization: Some(check_authz), parse_require_line: None },
    });
    let per_conf = ffi::AP_AUTH_INTERNAL_PER_CONF as c_int;
    // SAFETY: `p` is register_hooks' pool; names, versions and provider records are static.
    unsafe {
        ffi::ap_register_auth_provider(
            p,
            ffi::AUTHN_PROVIDER_GROUP.as_ptr() as *const c_char,
            c"wsgi".as_ptr(),
            ffi::AUTHN_PROVIDER_VERSION.as_ptr() as *const c_char,
            &prov.authn as *const _ as *const std::ffi::c_void,
            per_conf,
        );
        ffi::ap_register_auth_provider(
            p,
            ffi::AUTHZ_PROVIDER_GROUP.as_ptr() as *const c_char,
            c"wsgi-group".as_ptr(),
            ffi::AUTHZ_PROVIDER_VERSION.as_ptr() as *const c_char,
            &prov.authz as *const _ as *const std::ffi::c_void,
            per_conf,
        );
        // As mod_wsgi: after mod_ssl's checks, before mod_access_compat's host rules.
        ffi::ap_hook_check_access(
            Some(access),
            BEFORE_US.0.as_ptr(),
            AFTER_US.0.as_ptr(),
            ffi::APR_HOOK_MIDDLE as c_int,
            per_conf,
        );
    }
}

impl Request {
    /// The client's host name when Apache resolved it (`HostnameLookups`), else its IP
    /// address: the `host` mod_wsgi gives `allow_access`.
    pub fn remote_host_or_ip(&self) -> &[u8] {
        let r = self.as_ptr();
        // SAFETY: live request; ap_get_remote_host returns NULL or a string of the connection's
        // pool, which outlives the request.
        let h = unsafe {
            ffi::ap_get_remote_host(
                (*r).connection,
                (*r).per_dir_config as *mut std::ffi::c_void,
                ffi::REMOTE_HOST as c_int,
                std::ptr::null_mut(),
            )
        };
        if h.is_null() {
            self.useragent_ip()
        } else {
            // SAFETY: as above.
            unsafe { bytes(h) }
        }
    }

    /// Sets `r->user` (copied into the request pool): the user name an authn provider
    /// established.
    pub fn set_user(self, name: &[u8]) {
        let r = self.as_ptr();
        // SAFETY: live request, written by the hook that runs it; a copy in r->pool.
        unsafe { (*r).user = pstrdup((*r).pool, name) };
    }

    /// A copy of `s` in the request pool, for results Apache reads after the hook returns.
    pub fn pool_copy(self, s: &[u8]) -> *mut c_char {
        self.pool().pstrdup(s)
    }

    /// mod_ssl's `ssl_is_https` for this connection; false when mod_ssl is not loaded.
    pub fn ssl_is_https(self) -> bool {
        type F = unsafe extern "C" fn(*mut ffi::conn_rec) -> c_int;
        // SAFETY: looks up a name in APR's optional function table (filled at start-up).
        let f = unsafe { ffi::apr_dynamic_fn_retrieve(c"ssl_is_https".as_ptr()) };
        let Some(f) = f else { return false };
        // SAFETY: mod_ssl registers `ssl_is_https` with this signature (mod_ssl.h).
        let f: F = unsafe { std::mem::transmute(f) };
        // SAFETY: the live request's connection.
        unsafe { f((*self.as_ptr()).connection) != 0 }
    }

    /// mod_ssl's `ssl_var_lookup(name)` for this request; `None` when mod_ssl is not loaded or
    /// the variable is unset.
    pub fn ssl_var_lookup(self, name: &[u8]) -> Option<Vec<u8>> {
        type F = unsafe extern "C" fn(
            *mut ffi::apr_pool_t,
            *mut ffi::server_rec,
            *mut ffi::conn_rec,
            *mut ffi::request_rec,
            *mut c_char,
        ) -> *mut c_char;
        let name = CString::new(name).ok()?;
        // SAFETY: as in ssl_is_https.
        let f = unsafe { ffi::apr_dynamic_fn_retrieve(c"ssl_var_lookup".as_ptr()) }?;
        // SAFETY: mod_ssl registers `ssl_var_lookup` with this signature (mod_ssl.h).
        let f: F = unsafe { std::mem::transmute(f) };
        let r = self.as_ptr();
        // SAFETY: the live request, its pool, server and connection; mod_ssl only reads the
        // name (a copy in the request pool, as mod_ssl's signature is not const).
        let v = unsafe { f((*r).pool, (*r).server, (*r).connection, r, self.pool_copy(name.as_bytes())) };
        if v.is_null() {
            None
        } else {
            // SAFETY: a string in the request pool (or static).
            Some(unsafe { bytes(v) }.to_vec())
        }
    }
}
