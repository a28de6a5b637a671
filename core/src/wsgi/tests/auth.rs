//! Auth scripts without Apache: mod_wsgi's return conventions of `allow_access`,
//! `check_password`, `get_realm_hash` and `groups_for_user`, failures never granting, and the
//! `mod_ssl.*` callables failing cleanly once the call is over.
use std::sync::{Arc, Mutex};

use super::{python, temp_path};
use crate::environ::{self, RequestFacts};
use crate::wsgi::auth::{AuthAnswer, AuthCall, AuthHost, AuthScript, run_auth};
use crate::wsgi::io::LogLevel;

#[derive(Clone, Default)]
struct Host(Arc<Mutex<Vec<String>>>);

impl AuthHost for Host {
    fn log(&self, _level: LogLevel, msg: &str) {
        self.0.lock().unwrap().push(msg.to_string());
    }
    fn ssl_is_https(&self) -> bool {
        true
    }
    fn ssl_var_lookup(&self, name: &[u8]) -> Option<Vec<u8>> {
        (name == b"SSL_PROTOCOL").then(|| b"TLSv1.3".to_vec())
    }
}

const SCRIPT: &str = r#"
KEPT = []
def allow_access(environ, host):
    return {"yes": True, "no": False, "none": None}.get(host, host)
def check_password(environ, user, password):
    if user == "raise":
        raise KeyError("nope")
    if user == "ssl":
        KEPT.append(environ["mod_ssl.is_https"])
        return environ["mod_ssl.is_https"]() == 1 and environ["mod_ssl.var_lookup"]("SSL_PROTOCOL") == "TLSv1.3"
    if user == "late":
        try:
            KEPT[0]()
        except RuntimeError as e:
            return str(e) == "request object has expired"
        return False
    return {"t": True, "f": False, "n": None, "s": "Canon", "e": "", "i": 1}[password]
def get_realm_hash(environ, user, realm):
    return {"s": "abc", "b": b"def", "n": None, "x": "\u0394", "e": b""}[user]
def groups_for_user(environ, user):
    return {"l": ["a", b"b"], "e": [], "i": [1], "n": None}[user]
"#;

fn ask(call: AuthCall<'_>) -> (AuthAnswer, Vec<String>) {
    python();
    static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let path = PATH.get_or_init(|| {
        let p = temp_path("auth.py");
        std::fs::write(&p, SCRIPT).unwrap();
        p
    });
    let facts = RequestFacts { method: b"GET", uri: b"/x", ..Default::default() };
    let env = environ::build(&facts, std::iter::empty(), std::iter::empty());
    let host = Host::default();
    let spec = AuthScript { script: path, directive: "WSGIAuthUserScript", group: "", reload: false };
    let a = run_auth(&spec, &env, (2, 4, 0), call, Box::new(host.clone()));
    let log = host.0.lock().unwrap().clone();
    (a, log)
}

fn pw(user: &str, password: &str) -> AuthAnswer {
    ask(AuthCall::Password { user: user.as_bytes(), password: password.as_bytes() }).0
}

#[test]
fn access_conventions() {
    let acc = |h: &str| ask(AuthCall::Access { host: h.as_bytes() });
    assert_eq!(acc("yes").0, AuthAnswer::Yes(None));
    assert_eq!(acc("no").0, AuthAnswer::No);
    assert_eq!(acc("none").0, AuthAnswer::Unknown);
    let (a, log) = acc("a string");
    assert_eq!(a, AuthAnswer::Error);
    assert!(log.iter().any(|l| l.starts_with("RWSGI0133") && l.contains("'str'")), "{log:?}");
}

#[test]
fn password_conventions() {
    assert_eq!(pw("u", "t"), AuthAnswer::Yes(None));
    assert_eq!(pw("u", "f"), AuthAnswer::No);
    assert_eq!(pw("u", "n"), AuthAnswer::Unknown);
    assert_eq!(pw("u", "s"), AuthAnswer::Yes(Some(b"Canon".to_vec())));
    // An empty name and a plain int (not a bool) are errors, never grants.
    assert_eq!(pw("u", "e"), AuthAnswer::Error);
    assert_eq!(pw("u", "i"), AuthAnswer::Error);
    let (a, log) = ask(AuthCall::Password { user: b"raise", password: b"x" });
    assert_eq!(a, AuthAnswer::Error);
    assert!(log.iter().any(|l| l.starts_with("RWSGI0132")), "{log:?}");
    assert!(log.iter().any(|l| l.starts_with("RWSGI0021") && l.contains("KeyError")), "{log:?}");
}

#[test]
fn ssl_callables_and_expiry() {
    assert_eq!(pw("ssl", "x"), AuthAnswer::Yes(None));
    // A callable kept from an earlier call raises instead of reaching a finished request.
    assert_eq!(pw("late", "x"), AuthAnswer::Yes(None));
}

#[test]
fn realm_hash_conventions() {
    let h = |u: &str| ask(AuthCall::RealmHash { user: u.as_bytes(), realm: b"r" }).0;
    assert_eq!(h("s"), AuthAnswer::Yes(Some(b"abc".to_vec())));
    assert_eq!(h("b"), AuthAnswer::Yes(Some(b"def".to_vec())));
    assert_eq!(h("n"), AuthAnswer::Unknown);
    assert_eq!(h("x"), AuthAnswer::Error);
    assert_eq!(h("e"), AuthAnswer::Error);
}

#[test]
fn groups_conventions() {
    let g = |u: &str| ask(AuthCall::Groups { user: u.as_bytes() }).0;
    assert_eq!(g("l"), AuthAnswer::Groups(vec![b"a".to_vec(), b"b".to_vec()]));
    assert_eq!(g("e"), AuthAnswer::Groups(vec![]));
    assert_eq!(g("i"), AuthAnswer::Error);
    assert_eq!(g("n"), AuthAnswer::Error);
}

#[test]
fn missing_function_is_an_error() {
    python();
    let p = temp_path("nofunc.py");
    std::fs::write(&p, "X = 1\n").unwrap();
    let env = environ::build(&RequestFacts::default(), std::iter::empty(), std::iter::empty());
    let host = Host::default();
    let spec = AuthScript { script: &p, directive: "WSGIAccessScript", group: "", reload: false };
    let a = run_auth(&spec, &env, (2, 4, 0), AuthCall::Access { host: b"h" }, Box::new(host.clone()));
    assert_eq!(a, AuthAnswer::Error);
    assert!(host.0.lock().unwrap().iter().any(|l| l.starts_with("RWSGI0131") && l.contains("allow_access")));
}
