//! Auth scripts run in the Apache child (`WSGIAccessScript`, `WSGIAuthUserScript`,
//! `WSGIAuthGroupScript`): load the script in its application group, call `allow_access`,
//! `check_password`, `get_realm_hash` or `groups_for_user` with mod_wsgi's cut-down environ,
//! and turn what it returns into an [`AuthAnswer`]. Anything unexpected (the script cannot be
//! loaded, lacks the function, raises, returns the wrong type) is logged and is
//! [`AuthAnswer::Error`]: the host never grants on it.
use std::path::Path;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyString};

use super::context::RequestCtx;
use super::environ_dict::{cgi_dict, latin1_str};
use super::interp::{format_exception, prime_thread};
use super::io::{LogLevel, RequestIo, ResponseHead};
use super::log::{LogStream, log_lines};
use super::scripts::load_module;
use crate::environ::Environ;

/// What the host offers an auth script while it runs: logging about the request and mod_ssl's
/// look-ups. Called without Python code running under our lock, from one thread at a time.
pub trait AuthHost: Send {
    fn log(&self, level: LogLevel, msg: &str);
    /// mod_ssl's `ssl_is_https` for the connection (false without mod_ssl).
    fn ssl_is_https(&self) -> bool;
    /// mod_ssl's `ssl_var_lookup` (`None` without mod_ssl, or no such variable).
    fn ssl_var_lookup(&self, name: &[u8]) -> Option<Vec<u8>>;
}

/// Which function of the script to call, with its arguments.
#[derive(Debug, Clone, Copy)]
pub enum AuthCall<'a> {
    /// `allow_access(environ, host)`.
    Access { host: &'a [u8] },
    /// `check_password(environ, user, password)` (Basic).
    Password { user: &'a [u8], password: &'a [u8] },
    /// `get_realm_hash(environ, user, realm)` (Digest).
    RealmHash { user: &'a [u8], realm: &'a [u8] },
    /// `groups_for_user(environ, user)`.
    Groups { user: &'a [u8] },
}

impl AuthCall<'_> {
    fn function(&self) -> &'static str {
        match self {
            AuthCall::Access { .. } => "allow_access",
            AuthCall::Password { .. } => "check_password",
            AuthCall::RealmHash { .. } => "get_realm_hash",
            AuthCall::Groups { .. } => "groups_for_user",
        }
    }
}

/// What the script said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthAnswer {
    /// `True`; for `check_password` a `str` too (`Some`: the user name to use instead); for
    /// `get_realm_hash` the hash (`Some`).
    Yes(Option<Vec<u8>>),
    /// `False`.
    No,
    /// `None`: no opinion (access) or no such user (password, realm hash).
    Unknown,
    /// What `groups_for_user` returned, as bytes (a `str` encoded as latin-1).
    Groups(Vec<Vec<u8>>),
    /// The script failed (logged, code and traceback): never a grant.
    Error,
}

/// Which script, where it runs.
pub struct AuthScript<'a> {
    pub script: &'a Path,
    /// The directive, for log lines (`WSGIAccessScript`, …).
    pub directive: &'a str,
    /// The application group, resolved (`""`: the main interpreter).
    pub group: &'a str,
    pub reload: bool,
}

/// The host behind `mod_ssl.*` and `wsgi.errors`; `None` once the call is over, so objects a
/// script keeps fail cleanly instead of reaching a finished request.
struct AuthCtx(Mutex<Option<Box<dyn AuthHost>>>);

impl AuthCtx {
    fn with<T>(&self, f: impl FnOnce(&dyn AuthHost) -> T) -> Option<T> {
        let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        g.as_deref().map(f)
    }
}

/// `wsgi.errors` of the auth environ goes through a [`RequestCtx`] like an application's; its
/// transport only logs (there is no body to read or response to send here).
struct LogOnly(Arc<AuthCtx>);

impl RequestIo for LogOnly {
    fn read(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
        Ok(0)
    }
    fn send_head(&mut self, _head: &ResponseHead) -> std::io::Result<()> {
        Err(std::io::Error::other("no response from an auth script"))
    }
    fn write(&mut self, _data: &[u8]) -> std::io::Result<()> {
        Err(std::io::Error::other("no response from an auth script"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn send_file(&mut self, _fd: std::os::fd::RawFd, _offset: u64, _len: u64) -> std::io::Result<bool> {
        Ok(false)
    }
    fn log(&self, level: LogLevel, msg: &str) {
        if self.0.with(|h| h.log(level, msg)).is_none() {
            crate::hostlog::host_log(level, msg);
        }
    }
}

/// `environ['mod_ssl.is_https']` and `environ['mod_ssl.var_lookup']` are its bound methods.
#[pyclass(module = "mod_wsgi")]
struct AuthSsl {
    ctx: Arc<AuthCtx>,
}

#[pymethods]
impl AuthSsl {
    /// 1 over TLS, else 0 (an int, as mod_wsgi).
    fn is_https(&self) -> PyResult<i32> {
        self.ctx
            .with(|h| h.ssl_is_https() as i32)
            .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("request object has expired"))
    }

    /// The mod_ssl variable `name` (str or bytes) as a str, or None.
    fn var_lookup<'py>(&self, py: Python<'py>, name: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyString>>> {
        let name: Vec<u8> = if let Ok(s) = name.cast::<PyString>() {
            let s = s.to_cow()?;
            s.chars().map(|c| u8::try_from(c as u32)).collect::<Result<_, _>>().map_err(|_| {
                pyo3::exceptions::PyTypeError::new_err(
                    "byte string value expected, value containing non 'latin-1' characters found",
                )
            })?
        } else if let Ok(b) = name.cast::<PyBytes>() {
            b.as_bytes().to_vec()
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "byte string value expected, value of type {} found",
                name.get_type().name()?
            )));
        };
        let v = self
            .ctx
            .with(|h| h.ssl_var_lookup(&name))
            .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("request object has expired"))?;
        Ok(v.map(|v| latin1_str(py, &v)))
    }
}

/// Runs the script's function for one request phase. Call without the GIL; `env` is the CGI
/// part of the environ (no `SetEnv` variables, no `Authorization`), built by the host.
pub fn run_auth(
    spec: &AuthScript<'_>,
    env: &Environ<'_>,
    apache_version: (u32, u32, u32),
    call: AuthCall<'_>,
    host: Box<dyn AuthHost>,
) -> AuthAnswer {
    prime_thread();
    let ctx = Arc::new(AuthCtx(Mutex::new(Some(host))));
    let req = RequestCtx::new(Box::new(LogOnly(ctx.clone())));
    let log = |level: LogLevel, msg: &str| req.log(level, msg);
    let answer = Python::attach(|py| {
        let r = super::groups::run_in(py, spec.group, |py| attached(py, spec, env, apache_version, call, &ctx, &req));
        r.unwrap_or_else(|e| {
            log(
                LogLevel::Error,
                &crate::coded!(
                    "RWSGI0130",
                    "{} '{}' cannot run: application group '{}' failed: {e}",
                    spec.directive,
                    spec.script.display(),
                    spec.group
                ),
            );
            AuthAnswer::Error
        })
    });
    // Objects the script kept (the environ, its callables) must not reach the request after.
    req.finish();
    *ctx.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    answer
}

fn attached(
    py: Python<'_>,
    spec: &AuthScript<'_>,
    env: &Environ<'_>,
    apache_version: (u32, u32, u32),
    call: AuthCall<'_>,
    ctx: &Arc<AuthCtx>,
    req: &Arc<RequestCtx>,
) -> AuthAnswer {
    let log = |level: LogLevel, msg: &str| req.log(level, msg);
    let traceback = |e: &PyErr| log_lines(&log, LogLevel::Error, "RWSGI0021", &format_exception(py, e));
    let (shown, directive) = (spec.script.display().to_string(), spec.directive);
    let module = match load_module(py, spec.script, spec.reload, None) {
        Ok((m, loaded)) => {
            if loaded {
                let place = if spec.group.is_empty() {
                    "the main interpreter".to_string()
                } else {
                    format!("application group '{}'", spec.group)
                };
                log(LogLevel::Info, &crate::coded!("RWSGI0050", "Loaded {directive} '{shown}' into {place}."));
            }
            m
        }
        Err(e) => {
            log(LogLevel::Error, &crate::coded!("RWSGI0130", "Failed to load {directive} '{shown}'."));
            traceback(&e);
            return AuthAnswer::Error;
        }
    };
    let name = call.function();
    let Ok(f) = module.getattr(name) else {
        log(
            LogLevel::Error,
            &crate::coded!("RWSGI0131", "{directive} '{shown}' does not provide a '{name}' function."),
        );
        return AuthAnswer::Error;
    };
    let environ = match environ(py, env, apache_version, spec.group, ctx, req) {
        Ok(d) => d,
        Err(e) => {
            log(LogLevel::Error, &crate::coded!("RWSGI0132", "{directive} '{shown}': no environ for {name}()."));
            traceback(&e);
            return AuthAnswer::Error;
        }
    };
    let result = match call {
        AuthCall::Access { host } => f.call1((environ, latin1_str(py, host))),
        AuthCall::Password { user, password } => f.call1((environ, latin1_str(py, user), latin1_str(py, password))),
        AuthCall::RealmHash { user, realm } => f.call1((environ, latin1_str(py, user), latin1_str(py, realm))),
        AuthCall::Groups { user } => f.call1((environ, latin1_str(py, user))),
    };
    let value = match result {
        Ok(v) => v,
        Err(e) => {
            log(LogLevel::Error, &crate::coded!("RWSGI0132", "Exception in {name}() of {directive} '{shown}'."));
            traceback(&e);
            return AuthAnswer::Error;
        }
    };
    match convert(&value, call) {
        Ok(a) => a,
        Err(why) => {
            log(LogLevel::Error, &crate::coded!("RWSGI0133", "{name}() of {directive} '{shown}' {why}."));
            AuthAnswer::Error
        }
    }
}

/// A `str` as latin-1 bytes (`None`: a code point above 255).
fn latin1_bytes(s: &Bound<'_, PyString>) -> PyResult<Option<Vec<u8>>> {
    Ok(s.to_cow()?.chars().map(|c| u8::try_from(c as u32).ok()).collect())
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// mod_wsgi's return conventions. `Err`: what is wrong with the value (for the log line).
fn convert(v: &Bound<'_, PyAny>, call: AuthCall<'_>) -> Result<AuthAnswer, String> {
    let is_bool = v.is_instance_of::<PyBool>();
    match call {
        AuthCall::Access { .. } => {
            if v.is_none() {
                Ok(AuthAnswer::Unknown)
            } else if is_bool {
                Ok(if v.is_truthy().unwrap_or(false) { AuthAnswer::Yes(None) } else { AuthAnswer::No })
            } else {
                Err(format!("returned a '{}' object, expected True, False or None", type_name(v)))
            }
        }
        AuthCall::Password { .. } => {
            if v.is_none() {
                Ok(AuthAnswer::Unknown)
            } else if is_bool {
                Ok(if v.is_truthy().unwrap_or(false) { AuthAnswer::Yes(None) } else { AuthAnswer::No })
            } else if let Ok(s) = v.cast::<PyString>() {
                // The user name to use instead of the one the client gave (as mod_wsgi: UTF-8).
                let s = s.to_cow().map_err(|_| "returned a str that cannot be encoded".to_string())?;
                if s.is_empty() || s.contains('\0') {
                    return Err("returned an empty user name (or one with NUL)".into());
                }
                Ok(AuthAnswer::Yes(Some(s.as_bytes().to_vec())))
            } else {
                Err(format!("returned a '{}' object, expected True, False, None or a user name", type_name(v)))
            }
        }
        AuthCall::RealmHash { .. } => {
            let hash = if v.is_none() {
                return Ok(AuthAnswer::Unknown);
            } else if let Ok(b) = v.cast::<PyBytes>() {
                b.as_bytes().to_vec()
            } else if let Ok(s) = v.cast::<PyString>() {
                latin1_bytes(s)
                    .ok()
                    .flatten()
                    .ok_or_else(|| "returned a str with characters outside latin-1".to_string())?
            } else {
                return Err(format!("returned a '{}' object, expected a str, bytes or None", type_name(v)));
            };
            if hash.is_empty() || hash.contains(&0) {
                return Err("returned an empty realm hash (or one with NUL)".into());
            }
            Ok(AuthAnswer::Yes(Some(hash)))
        }
        AuthCall::Groups { .. } => {
            let iter = v
                .try_iter()
                .map_err(|_| format!("returned a '{}' object, expected an iterable of str or bytes", type_name(v)))?;
            let mut out = Vec::new();
            for item in iter {
                let item = item.map_err(|e| format!("returned an iterable that raised {e}"))?;
                let name = if let Ok(b) = item.cast::<PyBytes>() {
                    b.as_bytes().to_vec()
                } else if let Ok(s) = item.cast::<PyString>() {
                    latin1_bytes(s)
                        .ok()
                        .flatten()
                        .ok_or_else(|| "returned a group name with characters outside latin-1".to_string())?
                } else {
                    return Err(format!("returned a '{}' item, expected str or bytes", type_name(&item)));
                };
                out.push(name);
            }
            Ok(AuthAnswer::Groups(out))
        }
    }
}

/// mod_wsgi's auth environ: the CGI variables, `wsgi.errors`, `mod_wsgi.*`, `apache.version`
/// and the `mod_ssl.*` callables; no `wsgi.input` (the body is not read here).
fn environ<'py>(
    py: Python<'py>,
    env: &Environ<'_>,
    apache_version: (u32, u32, u32),
    group: &str,
    ctx: &Arc<AuthCtx>,
    req: &Arc<RequestCtx>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = cgi_dict(py, env)?;
    d.set_item("wsgi.errors", Py::new(py, LogStream::request(req.clone()))?)?;
    d.set_item("mod_wsgi.version", (6, 1, 1))?;
    d.set_item("mod_wsgi.process_group", "")?;
    d.set_item("mod_wsgi.application_group", group)?;
    d.set_item("apache.version", apache_version)?;
    let ssl = Bound::new(py, AuthSsl { ctx: ctx.clone() })?;
    d.set_item("mod_ssl.is_https", ssl.getattr("is_https")?)?;
    d.set_item("mod_ssl.var_lookup", ssl.getattr("var_lookup")?)?;
    Ok(d)
}
