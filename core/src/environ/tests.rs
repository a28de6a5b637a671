use super::*;

fn facts<'a>(uri: &'a [u8], pi: &'a [u8]) -> RequestFacts<'a> {
    RequestFacts {
        method: b"GET",
        protocol: b"HTTP/1.1",
        request_uri: b"/app/x?y=1",
        query_string: b"y=1",
        uri,
        path_info: pi,
        server_name: b"localhost",
        server_port: 8000,
        remote_addr: b"127.0.0.1",
        remote_port: 40000,
        ..Default::default()
    }
}

#[test]
fn script_name_split() {
    assert_eq!(split_script_name(b"/app/x/y", b"/x/y"), (b"/app".to_vec(), b"/x/y".to_vec()));
    assert_eq!(split_script_name(b"/app", b""), (b"/app".to_vec(), b"".to_vec()));
    // mount at "/": SCRIPT_NAME is empty
    assert_eq!(split_script_name(b"/", b"/"), (b"".to_vec(), b"/".to_vec()));
    assert_eq!(split_script_name(b"/foo", b"/foo"), (b"".to_vec(), b"/foo".to_vec()));
    // duplicate slashes collapse in both
    assert_eq!(split_script_name(b"/sub/env/x//y", b"/env/x//y"), (b"/sub".to_vec(), b"/env/x/y".to_vec()));
    assert_eq!(split_script_name(b"/app/", b""), (b"/app".to_vec(), b"/".to_vec()));
    // Path info that is not the end of the URI (an internal redirect, mod_rewrite): the URI is
    // SCRIPT_NAME whole, never cut by the path info's length (nor a panic when it is longer).
    assert_eq!(split_script_name(b"/app/x", b"/other"), (b"/app/x".to_vec(), b"/other".to_vec()));
    assert_eq!(split_script_name(b"/a", b"/much/longer"), (b"/a".to_vec(), b"/much/longer".to_vec()));
    // A trailing `/` of SCRIPT_NAME moves to path info without a leading one, and only then.
    assert_eq!(split_script_name(b"/app/x", b"x"), (b"/app".to_vec(), b"/x".to_vec()));
    assert_eq!(split_script_name(b"/app//x", b"/x"), (b"/app".to_vec(), b"/x".to_vec()));
}

#[test]
fn header_rules() {
    assert_eq!(header_key(b"X-Foo", false, false), HeaderKey::Http(b"HTTP_X_FOO".to_vec()));
    assert_eq!(header_key(b"X_Foo", false, false), HeaderKey::Dropped);
    assert_eq!(header_key(b"Proxy", true, true), HeaderKey::Dropped);
    assert_eq!(header_key(b"Authorization", false, false), HeaderKey::Dropped);
    assert_eq!(header_key(b"Proxy-Authorization", false, false), HeaderKey::Dropped);
    assert_eq!(header_key(b"authorization", true, false), HeaderKey::Http(b"HTTP_AUTHORIZATION".to_vec()));
    // WSGIPassAuthorization passes Authorization only; CGIPassAuth both (as mod_wsgi).
    assert_eq!(header_key(b"Proxy-Authorization", true, false), HeaderKey::Dropped);
    assert_eq!(header_key(b"Authorization", false, true), HeaderKey::Http(b"HTTP_AUTHORIZATION".to_vec()));
    assert_eq!(header_key(b"Proxy-Authorization", false, true), HeaderKey::Http(b"HTTP_PROXY_AUTHORIZATION".to_vec()));
    assert_eq!(header_key(b"Content-Type", false, false), HeaderKey::ContentType);
    assert_eq!(header_key(b"content-length", false, false), HeaderKey::ContentLength);
    assert_eq!(header_key(b"", false, false), HeaderKey::Dropped);
    assert_eq!(header_key(b"X Y", false, false), HeaderKey::Dropped);
}

#[test]
fn build_environ() {
    let mut f = facts(b"/app/x", b"/x");
    f.https = true;
    let headers: Vec<(&[u8], &[u8])> = vec![
        (b"Host", b"localhost:8000"),
        (b"Proxy", b"evil"),
        (b"Content-Type", b"text/plain"),
        (b"X-A", b"1"),
        (b"x-a", b"2"),
    ];
    let env: Vec<(&[u8], &[u8])> = vec![(b"HTTPS", b"on"), (b"MY_VAR", b"v"), (b"SCRIPT_NAME", b"spoof")];
    let e = build(&f, headers, env);
    assert_eq!(e.get("HTTP_HOST"), Some(&b"localhost:8000"[..]));
    assert_eq!(e.get("HTTP_PROXY"), None);
    assert_eq!(e.get("HTTPS"), None);
    assert!(e.https_var);
    assert_eq!(e.get("CONTENT_TYPE"), Some(&b"text/plain"[..]));
    assert_eq!(e.get("HTTP_X_A"), Some(&b"1, 2"[..]));
    assert_eq!(e.get("MY_VAR"), Some(&b"v"[..]));
    assert_eq!(e.get("SCRIPT_NAME"), Some(&b"/app"[..]));
    assert_eq!(e.get("PATH_INFO"), Some(&b"/x"[..]));
    assert_eq!(e.get("REQUEST_SCHEME"), Some(&b"https"[..]));
    assert_eq!(e.get("SERVER_PORT"), Some(&b"8000"[..]));
    assert_eq!(e.get("REMOTE_PORT"), Some(&b"40000"[..]));
    assert_eq!(e.get("QUERY_STRING"), Some(&b"y=1"[..]));
    assert_eq!(e.get("REMOTE_USER"), None);
}

#[test]
fn https_variable_reading() {
    // mod_wsgi: On in any case, or exactly 1.
    for (v, on) in [(&b"on"[..], true), (b"ON", true), (b"On", true), (b"1", true), (b"off", false), (b"yes", false)] {
        assert_eq!(https_on(v), on, "{}", String::from_utf8_lossy(v));
    }
    for (v, on) in [(&b"0"[..], false), (b"true", false), (b"", false), (b" on", false), (b"01", false)] {
        assert_eq!(https_on(v), on, "{}", String::from_utf8_lossy(v));
    }
    let f = facts(b"/app", b"");
    let e = build(&f, Vec::new(), vec![(&b"HTTPS"[..], &b"0"[..])]);
    assert!(!e.https_var && e.get("HTTPS").is_none());
}

#[test]
fn a_threads_environs_share_one_vector() {
    // A thread of its own: its spare slot starts empty.
    std::thread::spawn(|| {
        let f = facts(b"/app/x", b"/x");
        let first = build(&f, vec![(&b"Host"[..], &b"h"[..])], Vec::new());
        let (ptr, cap) = (first.vars.as_ptr() as usize, first.vars.capacity());
        let n = first.vars.len();
        drop(first);
        // Different borrowed data, same allocation, emptied before reuse.
        let host = b"other".to_vec();
        let second = build(&f, vec![(&b"Host"[..], &host[..])], Vec::new());
        assert_eq!((second.vars.as_ptr() as usize, second.vars.capacity()), (ptr, cap));
        assert_eq!(second.vars.len(), n);
        assert_eq!(second.get("HTTP_HOST"), Some(&b"other"[..]));
        // A huge environ's vector is not kept.
        let many: Vec<(Vec<u8>, Vec<u8>)> = (0..200).map(|i| (format!("X-{i}").into_bytes(), b"v".to_vec())).collect();
        drop(second);
        let big = build(&f, many.iter().map(|(k, v)| (&k[..], &v[..])), Vec::new());
        assert!(big.vars.capacity() > SPARE_MAX);
        drop(big);
        let next = build(&f, Vec::new(), Vec::new());
        assert!(next.vars.capacity() < SPARE_MAX);
    })
    .join()
    .unwrap();
}
