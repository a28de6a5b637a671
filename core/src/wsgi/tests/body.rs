//! The body: Content-Length cut and short bodies, bad items, `close()`, the client going away.
use super::*;

fn truncated_line(r: &Run, written: u64, declared: u64) -> String {
    format!(
        "RWSGI0027: Response body of WSGI script '{}' ended after {written} of the {declared} bytes its Content-Length declares; connection closed.",
        r.script
    )
}

#[test]
fn output_beyond_content_length_is_dropped() {
    let r = run(
        r#"
def application(environ, start_response):
    start_response('200 OK', [('Content-Length', '5')])
    return [b'Hel', b'lo world', b'!!']
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.head().content_length, Some(5));
    assert_eq!(r.rec.events, vec![Ev::Head(200), w("Hel"), w("lo")]);
    assert_eq!(r.log(), vec![]);

    // Streamed: a chunk cut to nothing still flushes.
    let r = run(
        r#"
def application(environ, start_response):
    write = start_response('200 OK', [('Content-Length', ' 5 ')])
    write(b'Hello')
    write(b' world')
    yield b'more'
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.rec.events, vec![Ev::Head(200), w("Hello"), Ev::Flush, Ev::Flush, Ev::Flush]);
    assert_eq!(r.log(), vec![]);
}

#[test]
fn short_body_is_truncated() {
    let r = run(
        r#"
def application(environ, start_response):
    start_response('200 OK', [('Content-Length', '10')])
    return [b'short']
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::Truncated);
    assert_eq!(r.rec.events, vec![Ev::Head(200), w("short")]);
    assert_eq!(r.log(), vec![(LogLevel::Error, truncated_line(&r, 5, 10).as_str())]);

    // Nothing at all of a declared body.
    let r = run(
        r#"
def application(environ, start_response):
    start_response('404 Not Found', [('Content-Length', '3')])
    return []
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::Truncated);
    assert_eq!(r.rec.events, vec![Ev::Head(404)]);
    assert_eq!(r.log(), vec![(LogLevel::Error, truncated_line(&r, 0, 3).as_str())]);
}

#[test]
fn no_body_expected_is_not_truncated() {
    let src = |status: &str| {
        format!(
            "def application(environ, start_response):\n    start_response('{status}', [('Content-Length', '10')])\n    return []\n"
        )
    };
    let head = Req { method: "HEAD", headers: vec![] };
    let r = run_req(&src("200 OK"), MemIo::new(), &head);
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.rec.events, vec![Ev::Head(200)]);
    assert_eq!(r.log(), vec![]);
    for status in ["204 No Content", "304 Not Modified"] {
        let r = run(&src(status), MemIo::new());
        assert_eq!(r.outcome, Outcome::Done, "{status}");
        assert_eq!(r.log(), vec![], "{status}");
    }
    // A GET with the same head is short.
    let r = run(&src("200 OK"), MemIo::new());
    assert_eq!(r.outcome, Outcome::Truncated);
}

#[test]
fn bad_item_in_a_list_is_a_clean_500() {
    for ret in ["[b'ok', 'bad']", "(b'ok', 'bad')", "[b'ok', None]"] {
        let src =
            format!("def application(environ, start_response):\n    start_response('200 OK', [])\n    return {ret}\n");
        let r = run(&src, MemIo::new());
        assert_eq!(r.outcome, Outcome::ErrorBeforeHeaders, "{ret}");
        assert_eq!(r.rec.events, vec![], "{ret}: nothing may be written");
        let t = if ret.contains("None") { "NoneType" } else { "str" };
        let log = r.log();
        assert_eq!(log[0].1, format!("RWSGI0023: Exception occurred processing WSGI script '{}'.", r.script));
        assert_eq!(
            log.last().unwrap().1,
            format!("RWSGI0021: TypeError: sequence of byte string values expected, value of type {t} found")
        );
    }
}

#[test]
fn bad_item_after_a_streamed_chunk_aborts() {
    let r = run(
        r#"
def application(environ, start_response):
    start_response('200 OK', [])
    yield b'ok'
    yield 'bad'
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::ErrorAfterHeaders);
    assert_eq!(r.rec.events, vec![Ev::Head(200), w("ok"), Ev::Flush]);
    let log = r.log();
    assert_eq!(
        log[0].1,
        format!(
            "RWSGI0024: Exception occurred after the response headers of WSGI script '{}' were sent; connection aborted.",
            r.script
        )
    );
    assert_eq!(
        log.last().unwrap().1,
        "RWSGI0021: TypeError: sequence of byte string values expected, value of type str found"
    );
}

/// An iterable class recording `close()` calls; `items` are yielded, an exception instance is
/// raised instead.
const CLOSING: &str = r#"
class Body:
    def __init__(self, items, close_raises=False):
        self.items = iter(items)
        self.close_raises = close_raises
    def __iter__(self):
        return self
    def __next__(self):
        item = next(self.items)
        if isinstance(item, Exception):
            raise item
        return item
    def close(self):
        RECORD.append('close')
        if self.close_raises:
            raise RuntimeError('close failed')

class ClosingList(list):
    def close(self):
        RECORD.append('close')
"#;

fn closing(app: &str) -> String {
    format!("{CLOSING}\ndef application(environ, start_response):\n{app}")
}

#[test]
fn close_is_called_once_when_all_went_well() {
    let r = run(&closing("    start_response('200 OK', [])\n    return Body([b'a', b'b'])\n"), MemIo::new());
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.body(), "ab");
    assert_eq!(r.calls, vec!["close"]);

    let r = run(&closing("    start_response('200 OK', [])\n    return ClosingList([b'a', b'b'])\n"), MemIo::new());
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.rec.events, vec![Ev::Head(200), w("a"), w("b")], "a list subclass is still batched");
    assert_eq!(r.calls, vec!["close"]);
}

#[test]
fn close_is_called_once_on_errors() {
    // Raised while iterating, after a chunk went out.
    let r =
        run(&closing("    start_response('200 OK', [])\n    return Body([b'a', ValueError('mid')])\n"), MemIo::new());
    assert_eq!(r.outcome, Outcome::ErrorAfterHeaders);
    assert_eq!(r.calls, vec!["close"]);
    // A bad item in a list subclass: nothing sent.
    let r = run(&closing("    start_response('200 OK', [])\n    return ClosingList([b'a', 1])\n"), MemIo::new());
    assert_eq!(r.outcome, Outcome::ErrorBeforeHeaders);
    assert_eq!(r.rec.events, vec![]);
    assert_eq!(r.calls, vec!["close"]);
    // No start_response.
    let r = run(&closing("    return Body([b'a'])\n"), MemIo::new());
    assert_eq!(r.outcome, Outcome::ErrorBeforeHeaders);
    assert_eq!(r.calls, vec!["close"]);
    // The client went away.
    let r = run(
        &closing("    start_response('200 OK', [])\n    return Body([b'a', b'b', b'c'])\n"),
        MemIo::new().fail(Fail::Write(1)),
    );
    assert_eq!(r.outcome, Outcome::ClientGone);
    assert_eq!(r.calls, vec!["close"]);
    // A generator's `finally` runs once (close() of a generator).
    let r = run(
        r#"
def application(environ, start_response):
    start_response('200 OK', [])
    try:
        yield b'a'
        raise ValueError('x')
    finally:
        RECORD.append('finally')
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::ErrorAfterHeaders);
    assert_eq!(r.calls, vec!["finally"]);
}

#[test]
fn close_raising_is_logged() {
    let close_failed = |r: &Run| {
        format!("RWSGI0026: Exception raised by close() of the iterable returned by WSGI script '{}'.", r.script)
    };
    // After a complete response: logged, the response stands.
    let r =
        run(&closing("    start_response('200 OK', [])\n    return Body([b'a'], close_raises=True)\n"), MemIo::new());
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.calls, vec!["close"]);
    let log = r.log();
    assert_eq!(log[0].1, close_failed(&r));
    assert_eq!(log.last().unwrap().1, "RWSGI0021: RuntimeError: close failed");
    // Together with an application error (no start_response): both are logged, close() first.
    let r = run(&closing("    return Body([b'a'], close_raises=True)\n"), MemIo::new());
    assert_eq!(r.outcome, Outcome::ErrorBeforeHeaders);
    assert_eq!(r.calls, vec!["close"]);
    let log = r.log();
    assert_eq!(log[0].1, close_failed(&r));
    assert!(log.iter().any(|(_, l)| *l == "RWSGI0021: RuntimeError: close failed"), "{log:#?}");
    assert!(
        log.iter().any(|(_, l)| *l == format!("RWSGI0023: Exception occurred processing WSGI script '{}'.", r.script)),
        "{log:#?}"
    );
    assert_eq!(log.last().unwrap().1, "RWSGI0021: RuntimeError: response output before start_response() was called");
}

#[test]
fn client_gone_during_write() {
    let r = run(
        r#"
def application(environ, start_response):
    start_response('200 OK', [])
    yield b'a'
    yield b'b'
    RECORD.append('resumed')
    yield b'c'
"#,
        MemIo::new().fail(Fail::Write(1)),
    );
    assert_eq!(r.outcome, Outcome::ClientGone);
    assert_eq!(r.rec.events, vec![Ev::Head(200), w("a"), Ev::Flush]);
    assert_eq!(r.calls, Vec::<String>::new(), "the generator is not resumed after the failed write");
    assert_eq!(
        r.log(),
        vec![(
            LogLevel::Info,
            format!(
                "RWSGI0041: Client closed the connection while WSGI script '{}' was sending its response: mod_wsgi_rs client connection closed: client gone",
                r.script
            )
            .as_str()
        )]
    );
}

#[test]
fn client_gone_during_head_or_write_callable() {
    let r = run(
        "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'x']\n",
        MemIo::new().fail(Fail::Head),
    );
    assert_eq!(r.outcome, Outcome::ClientGone);
    assert_eq!(r.rec.events, vec![]);
    assert_eq!(r.log().len(), 1);
    assert!(r.log()[0].1.starts_with("RWSGI0041: "));

    // The app swallows the OSError of write(); later output still ends as ClientGone.
    let r = run(
        r#"
def application(environ, start_response):
    write = start_response('200 OK', [])
    try:
        write(b'x')
    except OSError as e:
        RECORD.append(str(e))
    return [b'y']
"#,
        MemIo::new().fail(Fail::Write(0)),
    );
    assert_eq!(r.calls, vec!["mod_wsgi_rs client connection closed: client gone"]);
    assert_eq!(r.outcome, Outcome::ClientGone);
}
