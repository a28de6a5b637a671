//! The auth phases mod_wsgi offers, run in this Apache child whatever serves the request
//! (embedded or a daemon group): the access checker (`WSGIAccessScript`), authn provider `wsgi`
//! (`WSGIAuthUserScript`: Basic and Digest) and authz provider `wsgi-group`
//! (`WSGIAuthGroupScript`). Each loads its script in the script's application group and maps
//! its answer to Apache's; a failing script never grants.
use std::ffi::{c_char, c_int, c_void};

use wsgi_rs_core::config::{conf_words, parse_app_group};
use wsgi_rs_core::environ;
use wsgi_rs_core::wsgi::{AuthAnswer, AuthCall, AuthScript, LogLevel, interp, run_auth};

use crate::apache::guard::guard;
use crate::apache::mpm::mpm;
use crate::apache::request::Request;
use crate::apache::status::Status;
use crate::directives::config::{AuthKind, DirConfig, tri};
use crate::ffi;
use crate::module::dispatch::with_group_facts;
use crate::request::auth_host::ApacheAuthHost;
use crate::request::facts::request_facts;

/// Runs the `kind` script of `r`'s configuration. `None`: none applies here although its
/// provider was asked, or Python is not available (logged as RWSGI0136).
fn run(r: Request, kind: AuthKind, call: AuthCall<'_>) -> Option<AuthAnswer> {
    let dir = DirConfig::of(&r);
    let d = kind.directive();
    let Some(conf) = dir.auth_script(kind) else {
        r.log(
            LogLevel::Error,
            &wsgi_rs_core::coded!(
                "RWSGI0136",
                "No {d} applies to '{}', but its provider is required here.",
                String::from_utf8_lossy(r.uri())
            ),
        );
        return None;
    };
    let script = String::from_utf8_lossy(conf.script.as_bytes()).into_owned();
    if !interp::is_initialized() {
        r.log(
            LogLevel::Error,
            &wsgi_rs_core::coded!(
                "RWSGI0136",
                "Python is not available in this Apache child (see RWSGI0002); cannot run {d} {script}"
            ),
        );
        return None;
    }
    // mod_wsgi's auth environ: no SetEnv variables (.htaccess could set them), no Authorization.
    let facts = request_facts(&r, false);
    let headers = r.headers_in();
    let env = environ::build(&facts, headers.entries(), std::iter::empty());
    let written = String::from_utf8_lossy(conf.group.as_bytes());
    let group = parse_app_group(d, &written)
        .map(|g| with_group_facts(&r, env.get("SCRIPT_NAME").unwrap_or_default(), |f| g.resolve(f)))
        .unwrap_or_default();
    let spec = AuthScript {
        script: std::path::Path::new(&script),
        directive: d,
        group: &group,
        reload: tri(dir.script_reloading, true),
    };
    Some(run_auth(&spec, &env, mpm().version, call, Box::new(ApacheAuthHost::new(r))))
}

/// The access checker (`WSGIAccessScript`): `allow_access()` True → OK, None → DECLINED, False
/// or a failure → 403.
///
/// # Safety
/// Called by Apache only, with a live request for the duration of the call.
pub unsafe extern "C" fn access_checker(r: *mut ffi::request_rec) -> c_int {
    guard("access checker", Status::FORBIDDEN.raw(), || {
        // SAFETY: Apache calls the hook with a live request, used only within this call.
        let r = unsafe { Request::from_raw(r) };
        if DirConfig::of(&r).auth_script(AuthKind::Access).is_none() {
            return Status::DECLINED.raw();
        }
        let host = r.remote_host_or_ip().to_vec();
        match run(r, AuthKind::Access, AuthCall::Access { host: &host }) {
            Some(AuthAnswer::Yes(_)) => Status::OK.raw(),
            Some(AuthAnswer::Unknown) => Status::DECLINED.raw(),
            Some(AuthAnswer::No) => {
                r.log(
                    LogLevel::Error,
                    &wsgi_rs_core::coded!(
                        "RWSGI0134",
                        "Client denied by server configuration (WSGIAccessScript): '{}'.",
                        String::from_utf8_lossy(r.filename())
                    ),
                );
                Status::FORBIDDEN.raw()
            }
            _ => Status::FORBIDDEN.raw(),
        }
    })
}

/// A provider's C string argument. NULL reads as empty.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string live for the hook's call.
unsafe fn arg<'a>(p: *const c_char) -> &'a [u8] {
    // SAFETY: per the contract above.
    unsafe { crate::apache::strings::bytes(p) }
}

/// Authn provider `wsgi`, Basic: `check_password()` True (or a user name, which becomes
/// `r->user`) → granted, False → denied, None → user not found, a failure → 500.
///
/// # Safety
/// Called by Apache only, with a live request and NUL-terminated strings for the call.
pub unsafe extern "C" fn check_password(
    r: *mut ffi::request_rec,
    user: *const c_char,
    password: *const c_char,
) -> ffi::authn_status {
    guard("authn provider wsgi", ffi::AUTH_GENERAL_ERROR, || {
        // SAFETY: Apache's live request and strings, used only within this call.
        let (r, user, password) = unsafe { (Request::from_raw(r), arg(user), arg(password)) };
        match run(r, AuthKind::User, AuthCall::Password { user, password }) {
            Some(AuthAnswer::Yes(name)) => {
                if let Some(name) = name {
                    r.set_user(&name);
                }
                ffi::AUTH_GRANTED
            }
            Some(AuthAnswer::No) => ffi::AUTH_DENIED,
            Some(AuthAnswer::Unknown) => ffi::AUTH_USER_NOT_FOUND,
            _ => ffi::AUTH_GENERAL_ERROR,
        }
    })
}

/// Authn provider `wsgi`, Digest: `get_realm_hash()` the hex MD5 of `user:realm:password` →
/// found, None → user not found, a failure → 500.
///
/// # Safety
/// Called by Apache only, with a live request, NUL-terminated strings and a writable result
/// pointer for the call.
pub unsafe extern "C" fn get_realm_hash(
    r: *mut ffi::request_rec,
    user: *const c_char,
    realm: *const c_char,
    rethash: *mut *mut c_char,
) -> ffi::authn_status {
    guard("authn provider wsgi", ffi::AUTH_GENERAL_ERROR, || {
        // SAFETY: Apache's live request and strings, used only within this call.
        let (r, user, realm) = unsafe { (Request::from_raw(r), arg(user), arg(realm)) };
        match run(r, AuthKind::User, AuthCall::RealmHash { user, realm }) {
            Some(AuthAnswer::Yes(Some(hash))) if !rethash.is_null() => {
                // SAFETY: Apache's result slot; the hash is copied into the request pool.
                unsafe { *rethash = r.pool_copy(&hash) };
                ffi::AUTH_USER_FOUND
            }
            Some(AuthAnswer::Unknown) => ffi::AUTH_USER_NOT_FOUND,
            _ => ffi::AUTH_GENERAL_ERROR,
        }
    })
}

/// Authz provider `wsgi-group` (`Require wsgi-group g1 g2 …`): granted when
/// `groups_for_user()` names one of the groups; otherwise, or on a failure, denied (Apache then
/// answers 401). `WSGIGroupAuthoritative` has no say: Apache 2.4 combines providers itself.
///
/// # Safety
/// Called by Apache only, with a live request and the `Require` line's arguments.
pub unsafe extern "C" fn check_authorization(
    r: *mut ffi::request_rec,
    require_args: *const c_char,
    _parsed: *const c_void,
) -> ffi::authz_status {
    guard("authz provider wsgi-group", ffi::AUTHZ_DENIED, || {
        // SAFETY: Apache's live request and argument string, used only within this call.
        let (r, args) = unsafe { (Request::from_raw(r), arg(require_args)) };
        let Some(user) = r.user().map(<[u8]>::to_vec) else {
            return ffi::AUTHZ_DENIED_NO_USER;
        };
        let groups = match run(r, AuthKind::Group, AuthCall::Groups { user: &user }) {
            Some(AuthAnswer::Groups(g)) => g,
            _ => return ffi::AUTHZ_DENIED,
        };
        let wanted = conf_words(args);
        if groups.iter().any(|g| wanted.contains(g)) {
            return ffi::AUTHZ_GRANTED;
        }
        let why = if groups.is_empty() { "any groups" } else { "the designated groups" };
        r.log(
            LogLevel::Error,
            &wsgi_rs_core::coded!(
                "RWSGI0135",
                "Authorization of user '{}' to access '{}' failed: not a member of {why} (Require wsgi-group {}).",
                String::from_utf8_lossy(&user),
                String::from_utf8_lossy(r.uri()),
                String::from_utf8_lossy(args)
            ),
        );
        ffi::AUTHZ_DENIED
    })
}
