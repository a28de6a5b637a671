//! `sys.stdout`/`sys.stderr` while a request runs: the request thread's lines go to the request's
//! log (as `wsgi.errors` lines do), other threads' to the process log.
use super::*;

/// The process-log lines containing `needle`.
fn host_lines(needle: &str) -> Vec<String> {
    HOST_LOG.lock().unwrap().iter().filter(|l| l.contains(needle)).cloned().collect()
}

#[test]
fn request_thread_output_goes_to_the_request_log() {
    let r = run(
        r#"
import sys
print('at import')

class Body:
    def __iter__(self):
        print('iterating')
        yield b'ok'
    def close(self):
        sys.stderr.write('closing\n')
        sys.stdout.write('no newline at the end')

def application(environ, start_response):
    print('to stdout')
    print('to', 'stderr', file=sys.stderr)
    sys.stdout.write('partial ')
    sys.stdout.write('line\nnext')
    sys.stdout.flush()
    sys.stdout.writelines(['a\n', 'b\n'])
    start_response('200 OK', [])
    return Body()
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.body(), "ok");
    let e = LogLevel::Error;
    assert_eq!(
        r.log(),
        vec![
            (e, "RWSGI0031: at import"),
            (e, "RWSGI0031: to stdout"),
            (e, "RWSGI0030: to stderr"),
            (e, "RWSGI0031: partial line"),
            (e, "RWSGI0031: next"),
            (e, "RWSGI0031: a"),
            (e, "RWSGI0031: b"),
            (e, "RWSGI0031: iterating"),
            (e, "RWSGI0030: closing"),
            (e, "RWSGI0031: no newline at the end"),
        ]
    );
    assert!(host_lines("no newline at the end").is_empty());
}

#[test]
fn other_threads_output_goes_to_the_process_log() {
    let tag = format!("bg-{}", std::process::id());
    let r = run(
        &format!(
            r#"
import threading

def application(environ, start_response):
    t = threading.Thread(target=lambda: print('from a thread {tag}'))
    t.start()
    t.join()
    print('from the request {tag}')
    start_response('200 OK', [])
    return [b'']
"#
        ),
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.log(), vec![(LogLevel::Error, format!("RWSGI0031: from the request {tag}").as_str())]);
    assert_eq!(host_lines(&format!("from a thread {tag}")), vec![format!("RWSGI0031: from a thread {tag}")]);
    assert!(host_lines(&format!("from the request {tag}")).is_empty());
}

#[test]
fn after_the_request_the_thread_logs_to_the_process_log() {
    // The same thread, once run_request returned: no request any more.
    let r = run(
        r#"
def application(environ, start_response):
    print('inside')
    start_response('200 OK', [])
    return [b'']
"#,
        MemIo::new(),
    );
    assert_eq!(r.log(), vec![(LogLevel::Error, "RWSGI0031: inside")]);
    let tag = format!("after-{:?}", std::thread::current().id());
    Python::attach(|py| {
        let code =
            std::ffi::CString::new(format!("import sys\nprint('{tag}')\nprint('{tag} err', file=sys.stderr)")).unwrap();
        py.run(&code, None, None).unwrap();
    });
    assert_eq!(host_lines(&tag), vec![format!("RWSGI0031: {tag}"), format!("RWSGI0030: {tag} err")]);
}

#[test]
fn sub_interpreter_output_goes_to_the_request_log() {
    let script = temp_path("wsgi");
    std::fs::write(
        &script,
        r#"
import sys
print('imported in', __name__ != '__main__')

def application(environ, start_response):
    print('sub', environ['mod_wsgi.application_group'], file=sys.stderr)
    start_response('200 OK', [])
    return [b'']
"#,
    )
    .unwrap();
    let (outcome, rec) = run_script_in(&script, MemIo::new(), &GET, "stdio-sub");
    std::fs::remove_file(&script).unwrap();
    assert_eq!(outcome, Outcome::Done);
    let lines: Vec<&str> = rec.log.iter().map(|(_, l)| l.as_str()).filter(|l| !l.starts_with("RWSGI0050")).collect();
    assert_eq!(lines, vec!["RWSGI0031: imported in True", "RWSGI0030: sub stdio-sub"]);
}
