//! `start_response`, the `write()` callable, head validation, script loading, `wsgi.errors`.
use super::*;

/// Headers as `(name, value)` string pairs.
fn hv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn exc_before_headers(r: &Run) -> String {
    format!("RWSGI0023: Exception occurred processing WSGI script '{}'.", r.script)
}

fn exc_after_headers(r: &Run) -> String {
    format!(
        "RWSGI0024: Exception occurred after the response headers of WSGI script '{}' were sent; connection aborted.",
        r.script
    )
}

/// The request failed before its head: nothing reached the host, the first log line is
/// RWSGI0023 and the traceback ends with `last`.
#[track_caller]
fn assert_error_before_headers(r: &Run, last: &str) {
    assert_eq!(r.outcome, Outcome::ErrorBeforeHeaders, "{r:#?}");
    assert!(r.rec.head.is_none(), "{r:#?}");
    assert_eq!(r.rec.events, vec![]);
    let log = r.log();
    assert_eq!(log[0], (LogLevel::Error, exc_before_headers(r).as_str()));
    assert!(log[1..].iter().all(|(lvl, l)| *lvl == LogLevel::Error && l.starts_with("RWSGI0021: ")), "{log:#?}");
    assert_eq!(log.last().unwrap().1, format!("RWSGI0021: {last}"), "{log:#?}");
}

#[test]
fn list_is_written_unflushed_in_order() {
    let r = run(
        r#"
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Two', 'a\tb')])
    return [b'Hello ', b'', b'world']
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.head().status, b"200 OK");
    assert_eq!(r.head().code, 200);
    assert_eq!(r.head().content_length, None);
    assert_eq!(r.headers(), hv(&[("Content-Type", "text/plain"), ("X-Two", "a\tb")]));
    // One write per non-empty item, no flush at all: Apache batches a list.
    assert_eq!(r.rec.events, vec![Ev::Head(200), w("Hello "), w("world")]);
    assert_eq!(r.log(), vec![]);
    assert_eq!(
        r.lines("RWSGI0050"),
        vec![format!("RWSGI0050: Loaded WSGI script '{}' into the main interpreter.", r.script)]
    );
}

#[test]
fn tuple_is_written_unflushed() {
    let r = run(
        r#"
def application(environ, start_response):
    start_response('201 Created', [])
    return (b'a', b'b')
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.rec.events, vec![Ev::Head(201), w("a"), w("b")]);
}

#[test]
fn generator_is_flushed_per_chunk() {
    let r = run(
        r#"
def application(environ, start_response):
    start_response('200 OK', [])
    yield b'one'
    yield b''
    yield b'two'
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::Done);
    // An empty chunk is skipped (no write, no flush).
    assert_eq!(r.rec.events, vec![Ev::Head(200), w("one"), Ev::Flush, w("two"), Ev::Flush]);
    assert_eq!(r.body(), "onetwo");
}

#[test]
fn empty_body_still_sends_the_head() {
    let r = run(
        r#"
def application(environ, start_response):
    start_response('204 No Content', [('X-A', '1')])
    return []
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.rec.events, vec![Ev::Head(204)]);
    assert_eq!(r.headers(), hv(&[("X-A", "1")]));
}

#[test]
fn write_callable_sends_and_flushes() {
    let r = run(
        r#"
def application(environ, start_response):
    write = start_response('200 OK', [('Content-Type', 'text/plain')])
    write(b'one')
    write(b'')
    write(b'two')
    return [b'three']
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::Done);
    // write(b'') still flushes; the returned list is then batched.
    assert_eq!(r.rec.events, vec![Ev::Head(200), w("one"), Ev::Flush, Ev::Flush, w("two"), Ev::Flush, w("three")]);
}

#[test]
fn write_callable_refuses_str() {
    let r = run(
        r#"
def application(environ, start_response):
    write = start_response('200 OK', [])
    write('text')
    return []
"#,
        MemIo::new(),
    );
    assert_error_before_headers(&r, "TypeError: write() argument must be bytes, not str");
}

#[test]
fn start_response_twice_without_exc_info_fails() {
    let r = run(
        r#"
def application(environ, start_response):
    start_response('200 OK', [])
    start_response('404 Not Found', [])
    return [b'x']
"#,
        MemIo::new(),
    );
    assert_error_before_headers(
        &r,
        "RuntimeError: headers have already been set (start_response called twice without exc_info)",
    );
    // exc_info=None is the same as no exc_info.
    let r = run(
        r#"
def application(environ, start_response):
    start_response('200 OK', [])
    start_response('404 Not Found', [], None)
    return [b'x']
"#,
        MemIo::new(),
    );
    assert_error_before_headers(
        &r,
        "RuntimeError: headers have already been set (start_response called twice without exc_info)",
    );
}

#[test]
fn exc_info_before_head_replaces_the_head() {
    let r = run(
        r#"
import sys

def application(environ, start_response):
    start_response('200 OK', [('X-First', '1')])
    try:
        raise ValueError('early')
    except ValueError:
        start_response('500 Internal Server Error', [('Content-Type', 'text/plain')], sys.exc_info())
    return [b'error page']
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.head().status, b"500 Internal Server Error");
    assert_eq!(r.headers(), hv(&[("Content-Type", "text/plain")]));
    assert_eq!(r.rec.events, vec![Ev::Head(500), w("error page")]);
    assert_eq!(r.log(), vec![]);
}

#[test]
fn exc_info_after_head_reraises() {
    let r = run(
        r#"
import sys

def application(environ, start_response):
    start_response('200 OK', [])
    yield b'part'
    try:
        raise ValueError('boom')
    except ValueError:
        start_response('500 Internal Server Error', [], sys.exc_info())
        RECORD.append('not re-raised')
    yield b'never'
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::ErrorAfterHeaders);
    assert_eq!(r.rec.events, vec![Ev::Head(200), w("part"), Ev::Flush]);
    assert_eq!(r.calls, Vec::<String>::new());
    let log = r.log();
    assert_eq!(log[0], (LogLevel::Error, exc_after_headers(&r).as_str()));
    assert_eq!(log.last().unwrap().1, "RWSGI0021: ValueError: boom");
}

#[test]
fn invalid_heads_are_refused_before_anything_is_sent() {
    let cases = [
        ("'200OK'", "[]", r#"ValueError: invalid status line "200OK": expected 'NNN reason'"#),
        ("'abc'", "[]", r#"ValueError: invalid status line "abc": expected 'NNN reason'"#),
        (
            "'100 Continue'",
            "[]",
            r#"ValueError: status line "100 Continue" is informational (1xx), not a final status"#,
        ),
        ("'200 OK\\r\\nX: y'", "[]", r#"ValueError: status line "200 OK\r\nX: y" contains a control character"#),
        ("b'200 OK'", "[]", "TypeError: status line must be of type str, not bytes"),
        (
            "'200 OK'",
            "[('X-Inject', 'a\\r\\nSet-Cookie: x')]",
            r#"ValueError: header value for "X-Inject" contains a control character (CR/LF/NUL are not allowed)"#,
        ),
        (
            "'200 OK'",
            "[('X-Lf', 'a\\nb')]",
            r#"ValueError: header value for "X-Lf" contains a control character (CR/LF/NUL are not allowed)"#,
        ),
        ("'200 OK'", "[('X Bad', 'v')]", r#"ValueError: header name "X Bad" contains an invalid character"#),
        (
            "'200 OK'",
            "[('Connection', 'close')]",
            r#"ValueError: hop-by-hop header "Connection" is not allowed in a WSGI response (PEP 3333); Apache manages the connection"#,
        ),
        (
            "'200 OK'",
            "[('transfer-encoding', 'chunked')]",
            r#"ValueError: hop-by-hop header "transfer-encoding" is not allowed in a WSGI response (PEP 3333); Apache manages the connection"#,
        ),
        (
            "'200 OK'",
            "[('Content-Length', '12x')]",
            r#"ValueError: invalid Content-Length header value "12x": expected a decimal number of bytes"#,
        ),
        (
            "'200 OK'",
            "[('Content-Length', '-1')]",
            r#"ValueError: invalid Content-Length header value "-1": expected a decimal number of bytes"#,
        ),
        (
            "'200 OK'",
            "[('Content-Length', '5'), ('Content-Length', '6')]",
            "ValueError: two different Content-Length headers (5 and 6)",
        ),
        ("'200 OK'", "[('X-Bytes', b'v')]", "TypeError: header value must be of type str, not bytes"),
        ("'200 OK'", "(('A', 'b'),)", "TypeError: response headers must be a list, not tuple"),
        ("'200 OK'", "[['A', 'b']]", "TypeError: response header must be a tuple, not list"),
        ("'200 OK'", "[('A',)]", "ValueError: response header must be a (name, value) tuple, got 1 items"),
        ("'200 OK'", "[('X-U', '\\u20ac')]", r#"ValueError: header value "€" is not representable in latin-1"#),
    ];
    for (status, headers, last) in cases {
        let src = format!(
            "def application(environ, start_response):\n    start_response({status}, {headers})\n    return [b'body']\n"
        );
        let r = run(&src, MemIo::new());
        assert_error_before_headers(&r, last);
    }
}

#[test]
fn output_without_start_response_fails() {
    for ret in ["[b'x']", "[]", "iter([b'x'])"] {
        let src = format!("def application(environ, start_response):\n    return {ret}\n");
        let r = run(&src, MemIo::new());
        assert_error_before_headers(&r, "RuntimeError: response output before start_response() was called");
    }
}

#[test]
fn failure_while_the_host_still_buffers_the_head_is_a_500() {
    let r = run(
        r#"
def application(environ, start_response):
    start_response('200 OK', [])
    yield b'part'
    raise KeyError('late')
"#,
        MemIo::new().buffered_head(),
    );
    assert_eq!(r.outcome, Outcome::ErrorBeforeHeaders);
    assert_eq!(r.rec.events, vec![Ev::Head(200), w("part"), Ev::Flush]);
    assert_eq!(r.log()[0].1, exc_before_headers(&r));
    assert_eq!(r.log().last().unwrap().1, "RWSGI0021: KeyError: 'late'");
}

#[test]
fn script_that_fails_to_load() {
    let r = run("def application(environ, start_response)\n    return []\n", MemIo::new());
    assert_eq!(r.outcome, Outcome::ErrorBeforeHeaders);
    assert_eq!(r.rec.events, vec![]);
    let log = r.log();
    assert_eq!(
        log[0],
        (LogLevel::Error, format!("RWSGI0020: Failed to exec Python script file '{}'.", r.script).as_str())
    );
    assert!(r.traceback_has("SyntaxError: expected ':'"), "{log:#?}");

    let r = run("def app(environ, start_response):\n    return []\n", MemIo::new());
    assert_eq!(r.outcome, Outcome::ErrorBeforeHeaders);
    assert_eq!(
        r.log(),
        vec![(
            LogLevel::Error,
            format!("RWSGI0022: Target WSGI script '{}' does not contain WSGI application 'application'.", r.script)
                .as_str()
        )]
    );
}

#[test]
fn wsgi_errors_and_environ() {
    let r = run(
        r#"
def application(environ, start_response):
    print('to the log', file=environ['wsgi.errors'])
    environ['wsgi.errors'].write('partial ')
    environ['wsgi.errors'].write('line\nnext')
    environ['wsgi.errors'].flush()
    start_response('200 OK', [])
    keys = ['REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'wsgi.url_scheme',
            'wsgi.version', 'wsgi.input_terminated', 'wsgi.multithread', 'mod_wsgi.request_id',
            'mod_wsgi.callable_object']
    return [repr([environ[k] for k in keys]).encode()]
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.body(), "['GET', '/app', '/x', 'y=1', 'http', (1, 0), True, True, 'test', 'application']");
    assert_eq!(
        r.log(),
        vec![
            (LogLevel::Error, "RWSGI0030: to the log"),
            (LogLevel::Error, "RWSGI0030: partial line"),
            (LogLevel::Error, "RWSGI0030: next"),
        ]
    );
}
