//! Trusted proxies: address/network parsing, the peer trust check, the X-Forwarded-For walk,
//! each category's rewrite and the stripping of synonyms (CVE-2022-2255 class).
use std::net::IpAddr;

use super::proxy::{HeaderSet, PROXY_HEADERS, apply};
use super::subnet::{Subnet, parse_ip};
use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn nets(list: &[&str]) -> Vec<Subnet> {
    list.iter().map(|s| Subnet::parse(s).unwrap()).collect()
}

fn set(names: &[&str]) -> HeaderSet {
    let mut h = HeaderSet::default();
    for n in names {
        h.add(n).unwrap();
    }
    h
}

/// The environ of a request from `peer` with `headers`.
fn env_from<'a>(peer: &'a str, headers: &'a [(&'a str, &'a str)]) -> Environ<'a> {
    let f = RequestFacts {
        method: b"GET",
        protocol: b"HTTP/1.1",
        request_uri: b"/app/x",
        uri: b"/app/x",
        path_info: b"/x",
        server_name: b"backend",
        server_port: 8080,
        remote_addr: peer.as_bytes(),
        ..Default::default()
    };
    build(&f, headers.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())), Vec::new())
}

fn get(e: &Environ<'_>, k: &str) -> Option<String> {
    e.get(k).map(|v| String::from_utf8_lossy(v).into_owned())
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

/// Every header of every category, with a spoofed value each.
const ALL: &[(&str, &str)] = &[
    ("X-Forwarded-For", "6.6.6.6"),
    ("X-Client-IP", "6.6.6.7"),
    ("X-Real-IP", "6.6.6.8"),
    ("X-Forwarded-Host", "evil.example"),
    ("X-Host", "evil2.example"),
    ("X-Forwarded-Server", "evil-server"),
    ("X-Forwarded-Port", "6666"),
    ("X-Script-Name", "/evil"),
    ("X-Forwarded-Script-Name", "/evil2"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Scheme", "https"),
    ("X-Scheme", "https"),
    ("X-Forwarded-HTTPS", "on"),
    ("X-Forwarded-SSL", "on"),
    ("X-HTTPS", "1"),
    ("Host", "backend:8080"),
];

#[test]
fn subnet_forms() {
    let n = Subnet::parse("10.0.0.5").unwrap();
    assert!(n.contains(ip("10.0.0.5")) && !n.contains(ip("10.0.0.6")));
    let n = Subnet::parse("192.168.0.0/16").unwrap();
    assert!(n.contains(ip("192.168.200.1")) && !n.contains(ip("192.169.0.1")));
    // The address is masked: 10.1.2.3/8 is 10.0.0.0/8.
    assert!(Subnet::parse("10.1.2.3/8").unwrap().contains(ip("10.200.0.1")));
    assert!(Subnet::parse("10.0.0.0/255.0.0.0").unwrap().contains(ip("10.9.9.9")));
    assert!(Subnet::parse("1.2.3.4/32").unwrap().contains(ip("1.2.3.4")));
    assert!(!Subnet::parse("1.2.3.4/31").unwrap().contains(ip("1.2.3.6")));
    assert!(Subnet::parse("1.2.3.4/31").unwrap().contains(ip("1.2.3.5")));
    // Partial IPv4 networks (APR, as mod_authz_host's `Require ip 10.1`).
    assert!(Subnet::parse("10").unwrap().contains(ip("10.255.0.1")));
    assert!(Subnet::parse("10.1").unwrap().contains(ip("10.1.7.7")));
    assert!(!Subnet::parse("10.1").unwrap().contains(ip("10.2.0.1")));
    assert!(Subnet::parse("172.16.5").unwrap().contains(ip("172.16.5.200")));
    // IPv6, any case.
    assert!(Subnet::parse("::1").unwrap().contains(ip("::1")));
    assert!(Subnet::parse("2001:DB8::/32").unwrap().contains(ip("2001:db8:ffff::1")));
    assert!(!Subnet::parse("2001:db8::/32").unwrap().contains(ip("2001:db9::1")));
    assert!(Subnet::parse("fe80::/10").unwrap().contains(ip("febf::1")));
    assert!(Subnet::parse("::/1").unwrap().contains(ip("::2")));
    assert!(Subnet::parse("2001:db8::1/128").unwrap().contains(ip("2001:db8::1")));
}

#[test]
fn subnet_families() {
    // An IPv4-mapped IPv6 peer (dual-stack listener) matches IPv4 networks, never IPv6 ones.
    let v4 = Subnet::parse("127.0.0.0/8").unwrap();
    assert!(v4.contains(ip("::ffff:127.0.0.1")));
    assert!(!Subnet::parse("::ffff:0:0/96").unwrap().contains(ip("::ffff:127.0.0.1")));
    assert!(!v4.contains(ip("::1")));
    assert!(!Subnet::parse("::1").unwrap().contains(ip("127.0.0.1")));
    // ::7f00:1 (IPv4-compatible, not mapped) is an IPv6 address.
    assert!(!v4.contains(ip("::7f00:1")));
    assert!(!Subnet::parse("0.0.0.1").unwrap().contains(ip("::1")));
    // Same bits, other family: never a match.
    assert!(!Subnet::parse("0.0.0.0/8").unwrap().contains(ip("::1")));
    assert!(!Subnet::parse("::/1").unwrap().contains(ip("1.2.3.4")));
    assert!(Subnet::parse("0.0.0.0/1").unwrap().contains(ip("1.2.3.4")));
}

#[test]
fn subnet_errors() {
    for bad in [
        "",
        "abc",
        "proxy.example.com",
        "10.0.0.0/0",
        "::/0",
        "10.0.0.0/33",
        "::/129",
        "1.2.3.4/",
        "1.2.3.4/abc",
        "1.2.3.4/-8",
        "1.2.3.4/+8",
        "::1/255.255.0.0",
        "1.2.3.4.5",
        "256.1.1.1",
        "10.",
        "10..1",
        "1.2.3.4/255.255.0.0.0",
        "1.2.3.4/8/8",
        "[::1]",
        "::1%lo",
        "1.2.3.4:80",
        "10/8",
        "1000",
    ] {
        let e = Subnet::parse(bad).expect_err(bad);
        assert!(e.contains("WSGITrustedProxies") && e.contains(bad), "{bad}: {e}");
    }
}

#[test]
fn addresses_from_requests() {
    assert_eq!(parse_ip(b"1.2.3.4"), Some(ip("1.2.3.4")));
    assert_eq!(parse_ip(b"2001:db8::1"), Some(ip("2001:db8::1")));
    assert_eq!(parse_ip(b"fe80::1%eth0"), Some(ip("fe80::1")));
    for bad in [&b""[..], b"[::1]", b"[::1]:80", b"1.2.3.4:80", b"localhost", b" 1.2.3.4", b"1.2.3", b"\xff"] {
        assert_eq!(parse_ip(bad), None, "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn header_names() {
    let mut h = HeaderSet::default();
    for p in &PROXY_HEADERS {
        h.add(&p.name.to_ascii_lowercase()).unwrap();
    }
    assert_eq!(h.headers().count(), 15);
    let e = HeaderSet::default().add("X-Forwarded-Bogus").unwrap_err();
    assert!(e.contains("WSGITrustedProxyHeaders") && e.contains("X-Forwarded-Bogus") && e.contains("X-Forwarded-For"));
    // mod_wsgi names headers, not CGI variables.
    assert!(HeaderSet::default().add("HTTP_X_FORWARDED_FOR").is_err());
    assert!(HeaderSet::default().add("X_Forwarded_For").is_err());
    // A repeat keeps one entry, at its last position.
    let h = set(&["X-Real-IP", "X-Forwarded-For", "x-real-ip"]);
    let names: Vec<&str> = h.headers().map(|p| p.name).collect();
    assert_eq!(names, ["X-Forwarded-For", "X-Real-IP"]);
}

#[test]
fn untrusted_peer_strips_every_synonym_of_configured_categories() {
    let proxies = nets(&["10.0.0.0/8"]);
    // One header of each category configured; the peer is not a trusted proxy.
    let h = set(&[
        "X-Forwarded-For",
        "X-Forwarded-Host",
        "X-Forwarded-Server",
        "X-Forwarded-Port",
        "X-Script-Name",
        "X-Forwarded-Proto",
    ]);
    let mut e = env_from("192.0.2.7", ALL);
    assert_eq!(apply(&mut e, &h, Some(&proxies), false), None);
    for p in &PROXY_HEADERS {
        assert_eq!(get(&e, p.var), None, "{} kept from an untrusted peer", p.var);
    }
    assert_eq!(get(&e, "REMOTE_ADDR"), s("192.0.2.7"));
    assert_eq!(get(&e, "HTTP_HOST"), s("backend:8080"));
    assert_eq!(get(&e, "SERVER_NAME"), s("backend"));
    assert_eq!(get(&e, "SERVER_PORT"), s("8080"));
    assert_eq!(get(&e, "SCRIPT_NAME"), s("/app"));
    assert_eq!(get(&e, "mod_wsgi.mount_point"), None);
}

#[test]
fn only_configured_categories_are_touched() {
    // X-Client-IP configured (CVE-2022-2255: it was the one not stripped); the host headers
    // belong to no configured category and pass as ordinary headers.
    let proxies = nets(&["10.0.0.1"]);
    let h = set(&["X-Client-IP"]);
    let mut e = env_from("192.0.2.7", ALL);
    apply(&mut e, &h, Some(&proxies), false);
    for v in ["HTTP_X_FORWARDED_FOR", "HTTP_X_CLIENT_IP", "HTTP_X_REAL_IP"] {
        assert_eq!(get(&e, v), None, "{v}");
    }
    assert_eq!(get(&e, "HTTP_X_FORWARDED_HOST"), s("evil.example"));
    assert_eq!(get(&e, "HTTP_X_FORWARDED_PROTO"), s("https"));
    assert_eq!(get(&e, "REMOTE_ADDR"), s("192.0.2.7"));
}

#[test]
fn trusted_peer_each_category() {
    let proxies = nets(&["10.0.0.1"]);
    let cases: &[(&str, &str, &str)] = &[
        ("X-Client-IP", "REMOTE_ADDR", "6.6.6.7"),
        ("X-Real-IP", "REMOTE_ADDR", "6.6.6.8"),
        ("X-Forwarded-For", "REMOTE_ADDR", "6.6.6.6"),
        ("X-Forwarded-Host", "HTTP_HOST", "evil.example"),
        ("X-Host", "HTTP_HOST", "evil2.example"),
        ("X-Forwarded-Server", "SERVER_NAME", "evil-server"),
        ("X-Forwarded-Port", "SERVER_PORT", "6666"),
        ("X-Script-Name", "SCRIPT_NAME", "/evil"),
        ("X-Forwarded-Script-Name", "SCRIPT_NAME", "/evil2"),
    ];
    for (name, var, want) in cases {
        let mut e = env_from("10.0.0.1", ALL);
        let h = set(&[name]);
        assert_eq!(apply(&mut e, &h, Some(&proxies), false), None, "{name}");
        assert_eq!(get(&e, var).as_deref(), Some(*want), "{name}");
        let chosen = PROXY_HEADERS.iter().find(|p| p.name == *name).unwrap();
        // The chosen header stays (it documents where the value came from); its synonyms go;
        // other categories are untouched.
        for p in &PROXY_HEADERS {
            let value = get(&e, p.var);
            if p.var == chosen.var || p.category != chosen.category {
                assert!(value.is_some(), "{name}: {} dropped", p.var);
            } else {
                assert_eq!(value, None, "{name}: synonym {} kept", p.var);
            }
        }
    }
}

#[test]
fn script_name_keeps_the_original() {
    let proxies = nets(&["10.0.0.1"]);
    let mut e = env_from("10.0.0.1", &[("X-Script-Name", "/mount"), ("X-Forwarded-Script-Name", "/other")]);
    apply(&mut e, &set(&["X-Script-Name", "X-Forwarded-Script-Name"]), Some(&proxies), false);
    // Both configured (mod_wsgi: indeterminate, in fact the last applied wins and is kept).
    assert_eq!(get(&e, "SCRIPT_NAME"), s("/other"));
    assert_eq!(get(&e, "mod_wsgi.mount_point"), s("/other"));
    assert_eq!(get(&e, "mod_wsgi.script_name"), s("/app"));
    assert_eq!(get(&e, "PATH_INFO"), s("/x"));
    assert_eq!(get(&e, "HTTP_X_SCRIPT_NAME"), None);
    assert_eq!(get(&e, "HTTP_X_FORWARDED_SCRIPT_NAME"), s("/other"));
}

#[test]
fn scheme_headers() {
    let proxies = nets(&["10.0.0.1"]);
    let word = ["X-Forwarded-Proto", "X-Forwarded-Scheme", "X-Scheme"];
    let flag = ["X-Forwarded-HTTPS", "X-Forwarded-SSL", "X-HTTPS"];
    // (value, scheme before, result): unknown values leave the scheme as it was, but still
    // count as applied (the connection's TLS is then not consulted, mod_wsgi 6.0).
    let word_cases = [
        ("https", false, true),
        ("HTTPS", false, true),
        ("http", true, false),
        ("Http", true, false),
        ("ftp", true, true),
        ("", false, false),
        (" https", false, false),
    ];
    let flag_cases = [
        ("on", false, true),
        ("ON", false, true),
        ("true", false, true),
        ("1", false, true),
        ("off", true, false),
        ("False", true, false),
        ("0", true, false),
        ("yes", false, false),
        ("yes", true, true),
        ("https", false, false),
    ];
    for (names, cases) in [(&word[..], &word_cases[..]), (&flag[..], &flag_cases[..])] {
        for name in names {
            for (value, before, want) in cases {
                let hdrs = [(*name, *value)];
                let mut e = env_from("10.0.0.1", &hdrs);
                assert_eq!(apply(&mut e, &set(&[name]), Some(&proxies), *before), Some(*want), "{name}: {value:?}");
                assert_eq!(
                    get(&e, &format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_"))).as_deref(),
                    Some(*value)
                );
            }
        }
    }
    // Untrusted, or configured but absent: not applied.
    let hdrs = [("X-Forwarded-Proto", "https")];
    let mut e = env_from("10.0.0.2", &hdrs);
    assert_eq!(apply(&mut e, &set(&["X-Forwarded-Proto"]), Some(&proxies), false), None);
    assert_eq!(get(&e, "HTTP_X_FORWARDED_PROTO"), None);
    let hdrs = [("X-Forwarded-SSL", "on")];
    let mut e = env_from("10.0.0.1", &hdrs);
    assert_eq!(apply(&mut e, &set(&["X-Forwarded-Proto"]), Some(&proxies), true), None);
    assert_eq!(get(&e, "HTTP_X_FORWARDED_SSL"), None, "a synonym of the configured header");
}

fn xff(peer: &str, value: &str, proxies: Option<&[&str]>) -> (Option<String>, Option<String>) {
    let hdrs = [("X-Forwarded-For", value)];
    let mut e = env_from(peer, &hdrs);
    let n = proxies.map(nets);
    apply(&mut e, &set(&["X-Forwarded-For"]), n.as_deref(), false);
    (get(&e, "REMOTE_ADDR"), get(&e, "HTTP_X_FORWARDED_FOR"))
}

#[test]
fn forwarded_for_walk() {
    let p = Some(&["10.0.0.0/8", "192.168.1.1"][..]);
    // client, then two trusted hops: the client.
    assert_eq!(
        xff("10.0.0.1", "203.0.113.9, 192.168.1.1, 10.2.3.4", p),
        (s("203.0.113.9"), s("203.0.113.9, 192.168.1.1, 10.2.3.4"))
    );
    // Spoofed entries left of the first untrusted address are dropped from the header.
    assert_eq!(
        xff("10.0.0.1", "1.1.1.1, 6.6.6.6, 203.0.113.9, 10.2.3.4", p),
        (s("203.0.113.9"), s("203.0.113.9, 10.2.3.4"))
    );
    // The rightmost entry is what the trusted proxy saw: untrusted, it is the client.
    assert_eq!(xff("10.0.0.1", "6.6.6.6, 203.0.113.9", p), (s("203.0.113.9"), s("203.0.113.9")));
    // Every hop trusted: the leftmost.
    assert_eq!(xff("10.0.0.1", "10.1.1.1, 10.2.2.2", p), (s("10.1.1.1"), s("10.1.1.1, 10.2.2.2")));
    // Not an address: the walk stops there, and that element is REMOTE_ADDR (as mod_wsgi).
    assert_eq!(xff("10.0.0.1", "1.2.3.4, unknown, 10.2.2.2", p), (s("unknown"), s("unknown, 10.2.2.2")));
    assert_eq!(xff("10.0.0.1", "1.2.3.4, 10.2.2.2:8080", p), (s("10.2.2.2:8080"), s("10.2.2.2:8080")));
    // Empty elements and blanks (RFC 9110 §5.6.1, mod_wsgi 6.0).
    assert_eq!(xff("10.0.0.1", " , 203.0.113.9 ,,\t10.2.3.4 , ", p), (s("203.0.113.9"), s("203.0.113.9, 10.2.3.4")));
    // Nothing but separators: nothing changes.
    assert_eq!(xff("10.0.0.1", " , ,", p), (s("10.0.0.1"), s(" , ,")));
    assert_eq!(xff("10.0.0.1", "", p), (s("10.0.0.1"), s("")));
    // IPv6 hops and client.
    let p6 = Some(&["2001:db8::/32", "::1"][..]);
    assert_eq!(xff("::1", "2001:db9::5, 2001:db8::7", p6), (s("2001:db9::5"), s("2001:db9::5, 2001:db8::7")));
    assert_eq!(xff("::1", "198.51.100.1, 2001:db8::7", p6), (s("198.51.100.1"), s("198.51.100.1, 2001:db8::7")));
    // An untrusted peer's header is dropped and REMOTE_ADDR stays the peer.
    assert_eq!(xff("::2", "2001:db9::5, 2001:db8::7", p6), (s("::2"), None));
    assert_eq!(xff("11.0.0.1", "1.2.3.4", p), (s("11.0.0.1"), None));
}

#[test]
fn forwarded_for_without_trusted_proxies() {
    // No WSGITrustedProxies: every peer is trusted and the first element is the client; the
    // header is passed as sent.
    assert_eq!(xff("192.0.2.1", "203.0.113.9, 10.0.0.1", None), (s("203.0.113.9"), s("203.0.113.9, 10.0.0.1")));
    assert_eq!(xff("192.0.2.1", " ,, 203.0.113.9 , x", None), (s("203.0.113.9"), s(" ,, 203.0.113.9 , x")));
    assert_eq!(xff("192.0.2.1", ",", None), (s("192.0.2.1"), s(",")));
}

#[test]
fn peer_address_rules() {
    let proxies = nets(&["127.0.0.0/8"]);
    let h = set(&["X-Real-IP"]);
    let hdrs = [("X-Real-IP", "6.6.6.6")];
    // An IPv4-mapped peer on a dual-stack listener is its IPv4 address.
    let mut e = env_from("::ffff:127.0.0.1", &hdrs);
    apply(&mut e, &h, Some(&proxies), false);
    assert_eq!(get(&e, "REMOTE_ADDR"), s("6.6.6.6"));
    // A peer address that does not parse is untrusted.
    for peer in ["", "localhost", "127.0.0.1:80"] {
        let mut e = env_from(peer, &hdrs);
        apply(&mut e, &h, Some(&proxies), false);
        assert_eq!(get(&e, "REMOTE_ADDR").as_deref(), Some(peer));
        assert_eq!(get(&e, "HTTP_X_REAL_IP"), None);
    }
}

#[test]
fn client_ip_values_verbatim_and_last_applied_wins() {
    let proxies = nets(&["10.0.0.1"]);
    // mod_wsgi copies X-Real-IP / X-Client-IP as sent (no validation), even empty.
    let hdrs = [("X-Real-IP", "not an ip")];
    let mut e = env_from("10.0.0.1", &hdrs);
    apply(&mut e, &set(&["X-Real-IP"]), Some(&proxies), false);
    assert_eq!(get(&e, "REMOTE_ADDR"), s("not an ip"));
    // Two of one category configured and sent: applied in configuration order, the last one
    // wins and is the one kept.
    let hdrs = [("X-Real-IP", "1.1.1.1"), ("X-Forwarded-For", "2.2.2.2")];
    let mut e = env_from("10.0.0.1", &hdrs);
    apply(&mut e, &set(&["X-Real-IP", "X-Forwarded-For"]), Some(&proxies), false);
    assert_eq!(get(&e, "REMOTE_ADDR"), s("2.2.2.2"));
    assert_eq!((get(&e, "HTTP_X_REAL_IP"), get(&e, "HTTP_X_FORWARDED_FOR")), (None, s("2.2.2.2")));
    // Only the first one sent: it wins and is kept.
    let hdrs = [("X-Real-IP", "1.1.1.1")];
    let mut e = env_from("10.0.0.1", &hdrs);
    apply(&mut e, &set(&["X-Real-IP", "X-Forwarded-For"]), Some(&proxies), false);
    assert_eq!((get(&e, "REMOTE_ADDR"), get(&e, "HTTP_X_REAL_IP")), (s("1.1.1.1"), s("1.1.1.1")));
}

#[test]
fn set_env_spoofs_are_stripped_too() {
    // A synonym set as a request variable (SetEnv) is stripped like a header (mod_wsgi works on
    // r->subprocess_env, which holds both).
    let f = RequestFacts { remote_addr: b"192.0.2.1", ..Default::default() };
    let mut e = build(&f, Vec::new(), vec![(&b"HTTP_X_REAL_IP"[..], &b"6.6.6.6"[..])]);
    apply(&mut e, &set(&["X-Forwarded-For"]), Some(&nets(&["10.0.0.1"])), false);
    assert_eq!(get(&e, "HTTP_X_REAL_IP"), None);
}
