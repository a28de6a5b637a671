//! `wsgi.file_wrapper`: the host's `send_file` for regular files, iteration otherwise.
use super::*;

/// A 10-byte data file and an app returning it through the file wrapper from offset 3, with
/// `headers` and `before` run after start_response. The file object records its close().
fn app(headers: &str, before: &str) -> (String, PathBuf) {
    let data = temp_path("data");
    std::fs::write(&data, b"0123456789").unwrap();
    let src = format!(
        r#"
import io

class File(io.FileIO):
    def close(self):
        if not self.closed:
            RECORD.append('closed')
        super().close()

def application(environ, start_response):
    f = File({path:?}, 'rb')
    f.seek(3)
    write = start_response('200 OK', {headers})
{before}
    return environ['wsgi.file_wrapper'](f, 4)
"#,
        path = data.display().to_string(),
    );
    (src, data)
}

fn run_file(headers: &str, before: &str, io: MemIo) -> Run {
    let (src, data) = app(headers, before);
    let r = run(&src, io);
    std::fs::remove_file(data).unwrap();
    r
}

#[test]
fn regular_file_goes_through_send_file() {
    let r = run_file("[('Content-Type', 'text/plain')]", "", MemIo::new());
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.rec.events, vec![Ev::Head(200), Ev::SendFile(3, 7, true)]);
    assert_eq!(r.body(), "3456789");
    // The length is declared for the app (it gave none).
    assert_eq!(
        r.headers(),
        vec![("Content-Type".to_string(), "text/plain".to_string()), ("Content-Length".to_string(), "7".to_string())]
    );
    assert_eq!(r.head().content_length, Some(7));
    assert_eq!(r.calls, vec!["closed"]);
    assert_eq!(r.log(), vec![]);
}

#[test]
fn send_file_respects_the_apps_content_length() {
    let r = run_file("[('Content-Length', '2')]", "", MemIo::new());
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.rec.events, vec![Ev::Head(200), Ev::SendFile(3, 2, true)]);
    assert_eq!(r.body(), "34");
    assert_eq!(r.headers(), vec![("Content-Length".to_string(), "2".to_string())]);

    // A longer declared length than the file holds: the file is sent, the body is short.
    let r = run_file("[('Content-Length', '20')]", "", MemIo::new());
    assert_eq!(r.outcome, Outcome::Truncated);
    assert_eq!(r.rec.events, vec![Ev::Head(200), Ev::SendFile(3, 7, true)]);
    assert_eq!(r.lines("RWSGI0027").len(), 1);
}

#[test]
fn host_without_send_file_falls_back_to_iteration() {
    let r = run_file("[]", "", MemIo::new().no_send_file());
    assert_eq!(r.outcome, Outcome::Done);
    // From the same offset, in blksize chunks, flushed like any streamed iterable.
    assert_eq!(r.rec.events, vec![Ev::Head(200), Ev::SendFile(3, 7, false), w("3456"), Ev::Flush, w("789"), Ev::Flush]);
    assert_eq!(r.headers(), vec![("Content-Length".to_string(), "7".to_string())]);
    assert_eq!(r.calls, vec!["closed"]);
}

#[test]
fn output_already_written_means_iteration() {
    let r = run_file("[]", "    write(b'x')", MemIo::new());
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.rec.events, vec![Ev::Head(200), w("x"), Ev::Flush, w("3456"), Ev::Flush, w("789"), Ev::Flush]);
    assert_eq!(r.headers(), vec![]);
}

#[test]
fn not_a_regular_file_means_iteration() {
    let r = run(
        r#"
import io, mod_wsgi

def application(environ, start_response):
    RECORD.append(str(environ['wsgi.file_wrapper'] is mod_wsgi.FileWrapper))
    start_response('200 OK', [])
    return environ['wsgi.file_wrapper'](io.BytesIO(b'abcdefgh'), 3)
"#,
        MemIo::new(),
    );
    assert_eq!(r.outcome, Outcome::Done);
    assert_eq!(r.rec.events, vec![Ev::Head(200), w("abc"), Ev::Flush, w("def"), Ev::Flush, w("gh"), Ev::Flush]);
    assert_eq!(r.headers(), vec![]);
    assert_eq!(r.calls, vec!["True"]);
}

#[test]
fn client_gone_during_send_file() {
    let r = run_file("[]", "", MemIo::new().fail(Fail::SendFile));
    assert_eq!(r.outcome, Outcome::ClientGone);
    assert_eq!(r.rec.events, vec![Ev::Head(200)]);
    assert_eq!(r.calls, vec!["closed"]);
    assert_eq!(r.log().len(), 1);
    assert!(r.log()[0].1.starts_with("RWSGI0041: "), "{:?}", r.log());
}
