//! `WSGITrustedProxyHeaders` / `WSGITrustedProxies`: the environ rewrite mod_wsgi 6 makes from
//! the headers a front-end proxy sends (its `wsgi_process_proxy_headers`).
//!
//! Contract, per request, when trusted headers are configured (nothing runs otherwise):
//! - The peer is trusted when no `WSGITrustedProxies` is configured, or when `REMOTE_ADDR` is
//!   an address in one of its networks (an address that does not parse is untrusted).
//! - Each configured header, in configuration order, marks its category. From a trusted peer,
//!   a configured header that is present rewrites its target variable and becomes its
//!   category's kept header (the last one applied, if several of one category are configured).
//! - Then, for every marked category, every synonym header of that category is removed from the
//!   environ except the kept one: all of them when the peer is untrusted (CVE-2022-2255).
//!   Categories no configured header belongs to are left alone.
//! - The scheme headers decide `wsgi.url_scheme` when one was applied, over the connection's
//!   TLS (mod_wsgi 6.0); otherwise the connection and `HTTPS` (SetEnv) decide.
use std::net::IpAddr;

use super::subnet::{Subnet, parse_ip, trusted};
use super::{Environ, Key};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// REMOTE_ADDR.
    Client,
    /// HTTP_HOST.
    Host,
    /// SERVER_NAME.
    Server,
    /// SERVER_PORT.
    Port,
    /// SCRIPT_NAME (and `mod_wsgi.mount_point`).
    ScriptName,
    /// `wsgi.url_scheme`.
    Scheme,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rewrite {
    /// A list walked through trusted hops (or its first element if every peer is trusted).
    ForwardedFor,
    /// The value as is, into this variable.
    Verbatim(&'static str),
    ScriptName,
    /// `http` / `https`.
    SchemeWord,
    /// `On`/`true`/`1` or `Off`/`false`/`0`.
    SchemeFlag,
}

/// A header mod_wsgi knows: its name, its CGI variable, what it rewrites.
#[derive(Debug)]
pub struct ProxyHeader {
    pub name: &'static str,
    pub var: &'static str,
    pub category: Category,
    rewrite: Rewrite,
}

const fn h(name: &'static str, var: &'static str, category: Category, rewrite: Rewrite) -> ProxyHeader {
    ProxyHeader { name, var, category, rewrite }
}

/// Every header of every category (mod_wsgi 6's registry).
pub const PROXY_HEADERS: [ProxyHeader; 15] = [
    h("X-Forwarded-For", "HTTP_X_FORWARDED_FOR", Category::Client, Rewrite::ForwardedFor),
    h("X-Client-IP", "HTTP_X_CLIENT_IP", Category::Client, Rewrite::Verbatim("REMOTE_ADDR")),
    h("X-Real-IP", "HTTP_X_REAL_IP", Category::Client, Rewrite::Verbatim("REMOTE_ADDR")),
    h("X-Forwarded-Host", "HTTP_X_FORWARDED_HOST", Category::Host, Rewrite::Verbatim("HTTP_HOST")),
    h("X-Host", "HTTP_X_HOST", Category::Host, Rewrite::Verbatim("HTTP_HOST")),
    h("X-Forwarded-Server", "HTTP_X_FORWARDED_SERVER", Category::Server, Rewrite::Verbatim("SERVER_NAME")),
    h("X-Forwarded-Port", "HTTP_X_FORWARDED_PORT", Category::Port, Rewrite::Verbatim("SERVER_PORT")),
    h("X-Script-Name", "HTTP_X_SCRIPT_NAME", Category::ScriptName, Rewrite::ScriptName),
    h("X-Forwarded-Script-Name", "HTTP_X_FORWARDED_SCRIPT_NAME", Category::ScriptName, Rewrite::ScriptName),
    h("X-Forwarded-Proto", "HTTP_X_FORWARDED_PROTO", Category::Scheme, Rewrite::SchemeWord),
    h("X-Forwarded-Scheme", "HTTP_X_FORWARDED_SCHEME", Category::Scheme, Rewrite::SchemeWord),
    h("X-Scheme", "HTTP_X_SCHEME", Category::Scheme, Rewrite::SchemeWord),
    h("X-Forwarded-HTTPS", "HTTP_X_FORWARDED_HTTPS", Category::Scheme, Rewrite::SchemeFlag),
    h("X-Forwarded-SSL", "HTTP_X_FORWARDED_SSL", Category::Scheme, Rewrite::SchemeFlag),
    h("X-HTTPS", "HTTP_X_HTTPS", Category::Scheme, Rewrite::SchemeFlag),
];

/// The configured trusted headers, as indexes into [`PROXY_HEADERS`] in configuration order.
/// `Copy` and allocation-free: it lives in Apache's per-directory configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeaderSet {
    idx: [u8; 15],
    len: u8,
}

impl HeaderSet {
    /// Adds the header called `name` (case-insensitive). A header given twice keeps its last
    /// position (mod_wsgi would apply it twice; the result is the same). `Err`: the message.
    pub fn add(&mut self, name: &str) -> Result<(), String> {
        let Some(i) = PROXY_HEADERS.iter().position(|p| p.name.eq_ignore_ascii_case(name)) else {
            let known: Vec<&str> = PROXY_HEADERS.iter().map(|p| p.name).collect();
            return Err(format!("WSGITrustedProxyHeaders: unknown header '{name}' (known: {})", known.join(", ")));
        };
        self.remove(i as u8);
        self.idx[self.len as usize] = i as u8;
        self.len += 1;
        Ok(())
    }

    fn remove(&mut self, i: u8) {
        if let Some(p) = self.idx[..self.len as usize].iter().position(|x| *x == i) {
            self.idx.copy_within(p + 1..self.len as usize, p);
            self.len -= 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn headers(&self) -> impl Iterator<Item = &'static ProxyHeader> + '_ {
        self.idx[..self.len as usize].iter().map(|i| &PROXY_HEADERS[*i as usize])
    }
}

fn is_space(c: u8) -> bool {
    // apr_isspace: the C locale's white space.
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s
        && is_space(*first)
    {
        s = rest;
    }
    while let [rest @ .., last] = s
        && is_space(*last)
    {
        s = rest;
    }
    s
}

/// The non-empty elements of a comma-separated list, trimmed (RFC 9110 §5.6.1, mod_wsgi 6.0).
fn list_items(v: &[u8]) -> Vec<&[u8]> {
    v.split(|c| *c == b',').map(trim).filter(|s| !s.is_empty()).collect()
}

/// The `X-Forwarded-For` rewrite. With trusted proxies: walk from the right while the elements
/// are trusted proxies; REMOTE_ADDR becomes the element before the leftmost trusted one (the
/// first untrusted address, or the leftmost element if every one is trusted) and the header
/// keeps that element and those after it. If the rightmost element is not trusted (or not an
/// address) it is REMOTE_ADDR and all the header keeps. Without trusted proxies: REMOTE_ADDR is
/// the first element and the header stays as sent.
fn forwarded_for(env: &mut Environ<'_>, value: &[u8], proxies: Option<&[Subnet]>) {
    let items = list_items(value);
    let Some(last) = items.len().checked_sub(1) else {
        return;
    };
    let Some(proxies) = proxies else {
        let first = items[0].to_vec();
        env.set("REMOTE_ADDR", first);
        return;
    };
    let mut first_trusted = None;
    for i in (0..items.len()).rev() {
        match parse_ip(items[i]) {
            Some(ip) if trusted(proxies, ip) => first_trusted = Some(i),
            _ => break,
        }
    }
    let from = match first_trusted {
        Some(i) => i.saturating_sub(1),
        None => last,
    };
    let remote = items[from].to_vec();
    let kept = items[from..].join(&b", "[..]);
    env.set("REMOTE_ADDR", remote);
    env.set("HTTP_X_FORWARDED_FOR", kept);
}

/// Whether the peer (`REMOTE_ADDR`) may set proxy headers.
fn peer_trusted(env: &Environ<'_>, proxies: Option<&[Subnet]>) -> bool {
    let Some(proxies) = proxies else {
        return true;
    };
    let ip: Option<IpAddr> = env.get("REMOTE_ADDR").and_then(parse_ip);
    ip.is_some_and(|ip| trusted(proxies, ip))
}

/// Applies the trusted headers to `env` (see the module contract). `https` is the scheme before
/// the rewrite (the `HTTPS` variable); returns `Some(scheme is https)` when a scheme header was
/// applied, which then wins over the connection's TLS.
pub fn apply(env: &mut Environ<'_>, headers: &HeaderSet, proxies: Option<&[Subnet]>, https: bool) -> Option<bool> {
    let trusted_peer = peer_trusted(env, proxies);
    let mut https = https;
    let mut matched: Vec<Category> = Vec::with_capacity(6);
    let mut kept: Vec<(Category, &'static str)> = Vec::with_capacity(6);
    for p in headers.headers() {
        if !matched.contains(&p.category) {
            matched.push(p.category);
        }
        if !trusted_peer {
            continue;
        }
        let Some(value) = env.get(p.var).map(<[u8]>::to_vec) else {
            continue;
        };
        match p.rewrite {
            Rewrite::ForwardedFor => forwarded_for(env, &value, proxies),
            Rewrite::Verbatim(var) => env.set(var, value),
            Rewrite::ScriptName => {
                // mod_wsgi.script_name keeps the value before any rewrite.
                if env.get("mod_wsgi.script_name").is_none() {
                    let original = env.get("SCRIPT_NAME").unwrap_or_default().to_vec();
                    env.set("mod_wsgi.script_name", original);
                }
                env.set("mod_wsgi.mount_point", value.clone());
                env.set("SCRIPT_NAME", value);
            }
            Rewrite::SchemeWord => {
                if value.eq_ignore_ascii_case(b"https") {
                    https = true;
                } else if value.eq_ignore_ascii_case(b"http") {
                    https = false;
                }
            }
            Rewrite::SchemeFlag => {
                if [&b"on"[..], b"true", b"1"].iter().any(|w| value.eq_ignore_ascii_case(w)) {
                    https = true;
                } else if [&b"off"[..], b"false", b"0"].iter().any(|w| value.eq_ignore_ascii_case(w)) {
                    https = false;
                }
            }
        }
        kept.retain(|(c, _)| *c != p.category);
        kept.push((p.category, p.var));
    }
    let keep = |c: Category| kept.iter().find(|(k, _)| *k == c).map(|(_, v)| *v);
    env.vars.retain(|(k, _)| {
        // Every header of the registry is an `HTTP_X_…` variable: skip the rest cheaply.
        let k = k.as_bytes();
        !(k.starts_with(b"HTTP_X_")
            && PROXY_HEADERS
                .iter()
                .any(|p| p.var.as_bytes() == k && matched.contains(&p.category) && keep(p.category) != Some(p.var)))
    });
    keep(Category::Scheme).map(|_| https)
}

impl<'a> Environ<'a> {
    /// Sets `key` to `v`, replacing every earlier value.
    pub fn set(&mut self, key: &'static str, v: Vec<u8>) {
        self.vars.retain(|(k, _)| k.as_bytes() != key.as_bytes());
        self.vars.push((Key::Static(key), v.into()));
    }
}
