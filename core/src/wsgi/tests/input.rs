//! `wsgi.input` over a body the host delivers a few bytes at a time.
use super::*;

const BODY: &[u8] = b"line1\nline2\nlast";

/// Runs an app that evaluates `expr` (with `inp` = `wsgi.input`) and returns its repr.
fn eval(expr: &str, io: MemIo) -> Run {
    let src = format!(
        "def application(environ, start_response):\n    inp = environ['wsgi.input']\n    out = {expr}\n    start_response('200 OK', [])\n    return [repr(out).encode()]\n"
    );
    let r = run(&src, io);
    assert_eq!(r.outcome, Outcome::Done, "{r:#?}");
    r
}

#[test]
fn read_and_readline_mixed() {
    for chunk in [1, 3, 64] {
        let r = eval(
            "[inp.read(4), inp.readline(), inp.readline(3), inp.read(0), inp.read(), inp.read(), inp.readline()]",
            MemIo::new().body(BODY, chunk),
        );
        assert_eq!(r.body(), r"[b'line', b'1\n', b'lin', b'', b'e2\nlast', b'', b'']", "chunk {chunk}");
    }
}

#[test]
fn read_sizes_and_none() {
    let r = eval("[inp.read(7), inp.read(None)]", MemIo::new().body(BODY, 2));
    assert_eq!(r.body(), r"[b'line1\nl', b'ine2\nlast']");
    let r = eval("[inp.read(-1), inp.read(1)]", MemIo::new().body(BODY, 5));
    assert_eq!(r.body(), r"[b'line1\nline2\nlast', b'']");
    let r = eval("[inp.read(100), inp.read(1)]", MemIo::new().body(BODY, 5));
    assert_eq!(r.body(), r"[b'line1\nline2\nlast', b'']");
    let r = eval("[inp.readline(None), inp.readline(-1), inp.readline(100)]", MemIo::new().body(BODY, 4));
    assert_eq!(r.body(), r"[b'line1\n', b'line2\n', b'last']");
}

#[test]
fn readlines_with_and_without_hint() {
    let r = eval("inp.readlines()", MemIo::new().body(BODY, 3));
    assert_eq!(r.body(), r"[b'line1\n', b'line2\n', b'last']");
    // The hint stops once the lines read reach it (whole lines only).
    let r = eval("[inp.readlines(7), inp.read()]", MemIo::new().body(BODY, 3));
    assert_eq!(r.body(), r"[[b'line1\n', b'line2\n'], b'last']");
    let r = eval("[inp.readlines(6), inp.readlines(0)]", MemIo::new().body(BODY, 3));
    assert_eq!(r.body(), r"[[b'line1\n'], [b'line2\n', b'last']]");
    let r = eval("inp.readlines()", MemIo::new().body(b"", 3));
    assert_eq!(r.body(), "[]");
}

#[test]
fn iteration_yields_lines() {
    let r = eval("[line for line in inp]", MemIo::new().body(BODY, 1));
    assert_eq!(r.body(), r"[b'line1\n', b'line2\n', b'last']");
    let r = eval("list(inp)", MemIo::new().body(b"\n\nx\n", 1));
    assert_eq!(r.body(), r"[b'\n', b'\n', b'x\n']");
}

#[test]
fn large_body_in_many_reads() {
    let body: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i * 7 % 26) as u8).collect();
    let src = r#"
def application(environ, start_response):
    inp = environ['wsgi.input']
    head = inp.read(10)
    rest = b''.join(iter(lambda: inp.read(7777), b''))
    start_response('200 OK', [])
    return [head, rest]
"#;
    let r = run(src, MemIo::new().body(&body, 1000));
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.rec.body, body);
    assert!(r.rec.reads >= 200, "{} reads", r.rec.reads);
}

#[test]
fn read_error_sticks() {
    let r = run(
        r#"
def application(environ, start_response):
    inp = environ['wsgi.input']
    for _ in range(2):
        try:
            inp.read()
        except OSError as e:
            RECORD.append(str(e))
    start_response('200 OK', [])
    return []
"#,
        MemIo::new().body(BODY, 3).fail(Fail::ReadAfter(5)),
    );
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(
        r.calls,
        vec![
            "mod_wsgi_rs request data read error: connection was terminated: peer reset",
            "mod_wsgi_rs input is already in error state: connection was terminated: peer reset",
        ]
    );
    // Two successful reads, then the failing one; the second read() did not reach the host.
    assert_eq!(r.rec.reads, 3);
}

#[test]
fn objects_kept_past_their_request_fail_cleanly() {
    python();
    let script = temp_path("wsgi");
    std::fs::write(
        &script,
        r#"
KEPT = []

def application(environ, start_response):
    write = start_response('200 OK', [])
    if not KEPT:
        KEPT.extend([environ['wsgi.input'], write])
        return [b'first']
    out = []
    for f in (KEPT[0].read, lambda: KEPT[1](b'x')):
        try:
            f()
        except OSError as e:
            out.append(str(e))
    return ['|'.join(out).encode()]
"#,
    )
    .unwrap();
    let (o, rec) = run_script(&script, MemIo::new().body(b"abc", 1), &GET);
    assert_eq!((o, rec.body.as_slice()), (Outcome::Done, &b"first"[..]));
    let (o, rec) = run_script(&script, MemIo::new(), &GET);
    std::fs::remove_file(&script).unwrap();
    assert_eq!(o, Outcome::Done);
    assert_eq!(
        String::from_utf8(rec.body).unwrap(),
        "mod_wsgi_rs request data read error: request has already completed|request has already completed"
    );
}
