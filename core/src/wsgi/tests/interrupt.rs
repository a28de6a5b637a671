//! `mod_wsgi.RequestTimeout` (interrupt-timeout) reaching the adapter: 504 before the head, a
//! cut after it, never a 500 or a traceback; other exceptions keep their meaning.
use super::*;

#[test]
fn request_timeout_before_the_head_is_a_504_without_traceback() {
    let r = run(
        r#"
import mod_wsgi
assert issubclass(mod_wsgi.RequestTimeout, BaseException)
assert not issubclass(mod_wsgi.RequestTimeout, Exception)
def application(environ, start_response):
    try:
        raise mod_wsgi.RequestTimeout()
    except Exception:
        return [b'swallowed by except Exception']
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::TimedOut, "{:?}", r.log());
    assert_eq!(r.lines("RWSGI0162").len(), 1, "{:?}", r.log());
    assert!(r.lines("RWSGI0162")[0].contains("answering 504"), "{:?}", r.log());
    assert!(r.lines("RWSGI0023").is_empty() && r.lines("RWSGI0021").is_empty(), "{:?}", r.log());
}

#[test]
fn request_timeout_while_iterating_after_the_head_cuts_the_response() {
    let r = run(
        r#"
import mod_wsgi
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    yield b'partial'
    raise mod_wsgi.RequestTimeout()
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::ErrorAfterHeaders, "{:?}", r.log());
    assert!(r.lines("RWSGI0162")[0].contains("after its response headers were sent"), "{:?}", r.log());
    assert!(r.lines("RWSGI0024").is_empty(), "{:?}", r.log());
}

#[test]
fn request_timeout_in_close_is_not_a_close_error() {
    let r = run(
        r#"
import mod_wsgi
class Body:
    def __iter__(self):
        return iter([b'ok'])
    def close(self):
        raise mod_wsgi.RequestTimeout()
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return Body()
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::Done, "{:?}", r.log());
    assert!(r.lines("RWSGI0026").is_empty(), "{:?}", r.log());
}

#[test]
fn other_base_exceptions_stay_500() {
    let r = run(
        r#"
def application(environ, start_response):
    raise KeyboardInterrupt()
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::ErrorBeforeHeaders);
    assert_eq!(r.lines("RWSGI0023").len(), 1);
}

#[test]
fn an_injection_left_from_an_interrupted_request_is_dropped_by_the_next() {
    python();
    let app = "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n";
    // On a thread of its own: the note is per thread.
    std::thread::spawn(move || {
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() } as u64;
        // Not noted: the pending injection lands in the next request of the thread.
        assert_eq!(crate::wsgi::inject_request_timeout("", me, || true), Ok(true));
        let r = run(app, MemIo::new());
        assert_ne!(r.outcome, Outcome::Done, "{:?}", r.log());
        assert!(r.traceback_has("RequestTimeout"), "{:?}", r.log());
        // Noted for the interpreter the next request runs in: dropped before its first bytecode.
        assert_eq!(crate::wsgi::inject_request_timeout("", me, || true), Ok(true));
        crate::wsgi::note_interrupted("");
        let r = run(app, MemIo::new());
        assert_eq!((r.outcome, r.body()), (Outcome::Done, "ok"), "{:?}", r.log());
        // Noted for another application group: this one is not touched (still pending).
        assert_eq!(crate::wsgi::inject_request_timeout("", me, || true), Ok(true));
        crate::wsgi::note_interrupted("elsewhere");
        let r = run(app, MemIo::new());
        assert_ne!(r.outcome, Outcome::Done, "{:?}", r.log());
        // Nothing pending any more, nothing noted: an ordinary request.
        let r = run(app, MemIo::new());
        assert_eq!(r.outcome, Outcome::Done, "{:?}", r.log());
        // `still` says the request is over: nothing is injected.
        assert_eq!(crate::wsgi::inject_request_timeout("", me, || false), Ok(false));
        assert_eq!(run(app, MemIo::new()).outcome, Outcome::Done);
    })
    .join()
    .unwrap();
}
