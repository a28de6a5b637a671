//! The CGI part of the WSGI environ, built from a neutral description of the request.
//!
//! Both execution modes use this one builder: embedded mode fills [`RequestFacts`] straight from
//! `request_rec` (no Apache CGI helpers, see DESIGN §6), daemon mode will serialise the result.
//! Values are bytes; the WSGI layer decodes them as latin-1 (PEP 3333).
mod headers;
mod paths;
pub mod proxy;
pub mod subnet;

use std::borrow::Cow;

pub use headers::{HeaderKey, header_key};
pub use paths::{collapse_slashes, split_script_name};

/// What the host knows about a request. Byte slices borrow from the host's request memory.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts<'a> {
    pub method: &'a [u8],
    pub protocol: &'a [u8],
    /// The request target as the client sent it (REQUEST_URI), before any rewrite.
    pub request_uri: &'a [u8],
    pub query_string: &'a [u8],
    /// The %-decoded path of the request (`r->uri`).
    pub uri: &'a [u8],
    /// The %-decoded path info (`r->path_info`), empty if none.
    pub path_info: &'a [u8],
    pub server_name: &'a [u8],
    pub server_port: u16,
    pub server_addr: &'a [u8],
    pub server_software: &'a [u8],
    pub server_admin: &'a [u8],
    pub remote_addr: &'a [u8],
    pub remote_port: u16,
    pub https: bool,
    pub document_root: &'a [u8],
    pub context_prefix: &'a [u8],
    pub context_document_root: &'a [u8],
    pub script_filename: &'a [u8],
    pub remote_user: Option<&'a [u8]>,
    pub auth_type: Option<&'a [u8]>,
    /// The URI before an internal redirect (REDIRECT_URL).
    pub redirect_url: Option<&'a [u8]>,
    /// `WSGIPassAuthorization` (or the alias option) is on: expose `Authorization`.
    pub pass_authorization: bool,
    /// Apache's `CGIPassAuth On` applies: expose `Authorization` and `Proxy-Authorization`.
    pub cgi_pass_auth: bool,
}

/// An environ key: a fixed CGI name or a name derived from a header or the host's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key<'a> {
    Static(&'static str),
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl Key<'_> {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Static(s) => s.as_bytes(),
            Key::Borrowed(b) => b,
            Key::Owned(v) => v,
        }
    }
}

/// The CGI variables of one request, in insertion order; a later entry with the same key
/// replaces an earlier one when turned into a dict.
#[derive(Debug, Default)]
pub struct Environ<'a> {
    pub vars: Vec<(Key<'a>, Cow<'a, [u8]>)>,
    /// The host environment's `HTTPS` variable (SetEnv, SetEnvIf, mod_ssl) says https: `On`
    /// in any case or `1`, as mod_wsgi reads it. The variable itself is not passed on.
    pub https_var: bool,
}

thread_local! {
    /// The emptied `vars` of the last environ dropped on this thread, for the next one: a new
    /// 40-entry vector is over 1 KiB, and every such `malloc` makes glibc consolidate its heap.
    static SPARE: std::cell::Cell<Vars<'static>> = const { std::cell::Cell::new(Vec::new()) };
}

type Vars<'a> = Vec<(Key<'a>, Cow<'a, [u8]>)>;

/// Largest vector kept for the next environ (a request with hundreds of headers frees its own).
const SPARE_MAX: usize = 128;

/// An empty vector for an environ's `vars`: this thread's spare one when there is one.
pub fn spare_vars<'a>() -> Vars<'a> {
    let v = SPARE.try_with(|s| s.take()).unwrap_or_default();
    if v.capacity() == 0 {
        return Vec::with_capacity(40);
    }
    relabel(v)
}

/// The same empty vector for another lifetime: the layout is the same for any lifetime, so
/// this collect keeps the allocation (std's in-place collect; `filter_map` because `filter`
/// cannot change the element type).
#[allow(clippy::unnecessary_filter_map)]
fn relabel<'b>(v: Vars<'_>) -> Vars<'b> {
    debug_assert!(v.is_empty());
    v.into_iter().filter_map(|_| None).collect()
}

impl Drop for Environ<'_> {
    fn drop(&mut self) {
        let mut v = std::mem::take(&mut self.vars);
        if v.capacity() == 0 || v.capacity() > SPARE_MAX {
            return;
        }
        v.clear();
        let v: Vars<'static> = relabel(v);
        // (During thread exit the slot may be gone: the vector is then just freed.)
        let _ = SPARE.try_with(|s| s.set(v));
    }
}

impl<'a> Environ<'a> {
    fn put_static(&mut self, k: &'static str, v: impl Into<Cow<'a, [u8]>>) {
        self.vars.push((Key::Static(k), v.into()));
    }

    /// The last value given for `key`, if any (tests and the daemon client use it).
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.vars.iter().rev().find(|(k, _)| k.as_bytes() == key.as_bytes()).map(|(_, v)| v.as_ref())
    }
}

/// Variables of the host environment (SetEnv, SetEnvIf, mod_ssl…) that are never passed on:
/// HTTPS becomes `wsgi.url_scheme`; the others are CGI-isms mod_wsgi 6 dropped.
const DROPPED_ENV: &[&[u8]] = &[
    b"HTTPS",
    b"PATH",
    b"PATH_TRANSLATED",
    b"GATEWAY_INTERFACE",
    b"SERVER_SIGNATURE",
    b"REMOTE_HOST",
    b"REMOTE_IDENT",
];

/// mod_wsgi's reading of the `HTTPS` variable: `On` (any case) or `1`.
pub fn https_on(v: &[u8]) -> bool {
    v.eq_ignore_ascii_case(b"on") || v == b"1"
}

fn port_bytes(p: u16) -> Cow<'static, [u8]> {
    Cow::Owned(p.to_string().into_bytes())
}

/// Builds the CGI variables: host environment first, then headers, then the CGI variables proper
/// (which therefore win over a SetEnv of the same name, as in mod_wsgi).
pub fn build<'a>(
    f: &RequestFacts<'a>,
    headers: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    host_env: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> Environ<'a> {
    let mut e = Environ { vars: spare_vars(), https_var: false };
    for (k, v) in host_env {
        if !DROPPED_ENV.contains(&k) {
            e.vars.push((Key::Borrowed(k), Cow::Borrowed(v)));
        } else if k == b"HTTPS" {
            e.https_var = https_on(v);
        }
    }
    for (name, value) in headers {
        match header_key(name, f.pass_authorization, f.cgi_pass_auth) {
            HeaderKey::ContentType => e.put_static("CONTENT_TYPE", value),
            HeaderKey::ContentLength => e.put_static("CONTENT_LENGTH", value),
            HeaderKey::Http(k) => {
                // Apache merges repeated request headers into one table entry already; should a
                // module have added a second entry, join them as HTTP does.
                if let Some(prev) = e.vars.iter_mut().find(|(ek, _)| ek.as_bytes() == k.as_slice()) {
                    let mut joined = prev.1.to_vec();
                    joined.extend_from_slice(b", ");
                    joined.extend_from_slice(value);
                    prev.1 = Cow::Owned(joined);
                } else {
                    e.vars.push((Key::Owned(k), Cow::Borrowed(value)));
                }
            }
            HeaderKey::Dropped => {}
        }
    }
    let (script_name, path_info) = split_script_name(f.uri, f.path_info);
    e.put_static("REQUEST_METHOD", f.method);
    e.put_static("REQUEST_URI", f.request_uri);
    e.put_static("QUERY_STRING", f.query_string);
    e.put_static("SCRIPT_NAME", script_name);
    e.put_static("PATH_INFO", path_info);
    e.put_static("SERVER_PROTOCOL", f.protocol);
    e.put_static("SERVER_NAME", f.server_name);
    e.put_static("SERVER_PORT", port_bytes(f.server_port));
    e.put_static("SERVER_ADDR", f.server_addr);
    e.put_static("SERVER_SOFTWARE", f.server_software);
    e.put_static("SERVER_ADMIN", f.server_admin);
    e.put_static("REMOTE_ADDR", f.remote_addr);
    e.put_static("REMOTE_PORT", port_bytes(f.remote_port));
    e.put_static("REQUEST_SCHEME", if f.https { &b"https"[..] } else { &b"http"[..] });
    e.put_static("DOCUMENT_ROOT", f.document_root);
    e.put_static("CONTEXT_PREFIX", f.context_prefix);
    e.put_static("CONTEXT_DOCUMENT_ROOT", f.context_document_root);
    e.put_static("SCRIPT_FILENAME", f.script_filename);
    if let Some(u) = f.remote_user {
        e.put_static("REMOTE_USER", u);
    }
    if let Some(a) = f.auth_type {
        e.put_static("AUTH_TYPE", a);
    }
    if let Some(u) = f.redirect_url {
        e.put_static("REDIRECT_URL", u);
    }
    e
}

#[cfg(test)]
mod proxy_tests;
#[cfg(test)]
mod tests;
