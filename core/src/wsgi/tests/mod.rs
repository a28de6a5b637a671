//! WSGI-core tests without Apache: real applications (Python source written to a temporary
//! `.wsgi` file) run through [`run_request`] against [`MemIo`], an in-memory [`RequestIo`] that
//! records the head, every body write, flush and `send_file` call, and the request's log lines.
//!
//! Python is started once per test binary ([`python`]) with the crate's own
//! [`interp::initialize`]. Tests run on cargo's parallel test threads and call `run_request`
//! concurrently, without a mutex: that is the host contract (Apache worker threads do the same)
//! and `concurrent_requests_on_many_threads` checks it. Nothing shared is mutated by the tests
//! except `_coretests.calls`, keyed per request.
mod auth;
mod body;
mod file_wrapper;
mod input;
mod interrupt;
mod response;
mod stdio;

use std::io;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};

use pyo3::prelude::*;
use pyo3::types::PyModule;

use super::interp::{self, InitOptions};
use super::io::{LogLevel, RequestIo, ResponseHead};
use super::run::{AppSpec, Outcome, WsgiExtras, run_request};
use crate::environ::{self, RequestFacts};

/// One thing the runtime asked the host to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ev {
    Head(u16),
    Write(String),
    Flush,
    /// offset, len, whether the host took it.
    SendFile(u64, u64, bool),
}

pub(super) fn w(s: &str) -> Ev {
    Ev::Write(s.to_string())
}

/// What the host saw of one request.
#[derive(Debug, Default)]
pub(super) struct Rec {
    pub head: Option<ResponseHead>,
    pub events: Vec<Ev>,
    /// Body bytes as the client would get them (writes and files sent).
    pub body: Vec<u8>,
    pub log: Vec<(LogLevel, String)>,
    pub reads: usize,
}

/// Where the transport fails as if the client had gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fail {
    None,
    Head,
    /// The n-th call (from 0) to `write`.
    Write(usize),
    SendFile,
    /// Reading the request body fails after this many bytes.
    ReadAfter(usize),
}

pub(super) struct MemIo {
    body: Vec<u8>,
    pos: usize,
    /// At most this many body bytes per `read` (to exercise multi-chunk bodies).
    read_chunk: usize,
    /// `false`: `send_file` answers `Ok(false)` (the caller iterates instead).
    send_file: bool,
    head_committed: bool,
    fail: Fail,
    writes: usize,
    /// Set by the first injected failure: a client that went away stays away.
    gone: bool,
    rec: Arc<Mutex<Rec>>,
}

impl MemIo {
    pub fn new() -> Self {
        MemIo {
            body: Vec::new(),
            pos: 0,
            read_chunk: usize::MAX,
            send_file: true,
            head_committed: true,
            fail: Fail::None,
            writes: 0,
            gone: false,
            rec: Arc::default(),
        }
    }

    pub fn body(mut self, body: &[u8], read_chunk: usize) -> Self {
        self.body = body.to_vec();
        self.read_chunk = read_chunk;
        self
    }

    pub fn no_send_file(mut self) -> Self {
        self.send_file = false;
        self
    }

    pub fn buffered_head(mut self) -> Self {
        self.head_committed = false;
        self
    }

    pub fn fail(mut self, f: Fail) -> Self {
        self.fail = f;
        self
    }

    fn rec(&self) -> std::sync::MutexGuard<'_, Rec> {
        self.rec.lock().unwrap()
    }
}

impl MemIo {
    fn gone(&mut self) -> io::Error {
        self.gone = true;
        io::Error::new(io::ErrorKind::BrokenPipe, "client gone")
    }
}

impl RequestIo for MemIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.rec().reads += 1;
        if let Fail::ReadAfter(n) = self.fail
            && self.pos >= n
        {
            return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "peer reset"));
        }
        let n = buf.len().min(self.read_chunk).min(self.body.len() - self.pos);
        buf[..n].copy_from_slice(&self.body[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }

    fn send_head(&mut self, head: &ResponseHead) -> io::Result<()> {
        if self.gone || self.fail == Fail::Head {
            return Err(self.gone());
        }
        let mut r = self.rec();
        assert!(r.head.is_none(), "send_head called twice");
        r.head = Some(head.clone());
        r.events.push(Ev::Head(head.code));
        Ok(())
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        assert!(!data.is_empty(), "empty write reached the host");
        let n = self.writes;
        self.writes += 1;
        if self.gone || self.fail == Fail::Write(n) {
            return Err(self.gone());
        }
        let mut r = self.rec();
        assert!(r.head.is_some(), "body before head");
        r.body.extend_from_slice(data);
        r.events.push(Ev::Write(String::from_utf8_lossy(data).into_owned()));
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.gone {
            return Err(self.gone());
        }
        self.rec().events.push(Ev::Flush);
        Ok(())
    }

    fn send_file(&mut self, fd: RawFd, offset: u64, len: u64) -> io::Result<bool> {
        if self.gone || self.fail == Fail::SendFile {
            return Err(self.gone());
        }
        let mut r = self.rec();
        r.events.push(Ev::SendFile(offset, len, self.send_file));
        if !self.send_file {
            return Ok(false);
        }
        use std::os::fd::FromRawFd;
        use std::os::unix::fs::FileExt;
        // SAFETY: `fd` is open for the duration of the call (the caller owns it); ManuallyDrop
        // keeps us from closing it.
        let f = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
        let mut buf = vec![0; len as usize];
        f.read_exact_at(&mut buf, offset)?;
        r.body.extend_from_slice(&buf);
        Ok(true)
    }

    fn head_committed(&self) -> bool {
        self.head_committed
    }

    fn log(&self, level: LogLevel, msg: &str) {
        self.rec().log.push((level, msg.to_string()));
    }
}

/// Helpers shared by the scripts: `RECORD` (a list the test reads back as `Run::calls`).
const PRELUDE_MODULE: &str = r#"
calls = {}

def recorder(key):
    return calls.setdefault(key, [])
"#;

/// Lines logged to the process log (`host_log`) by this test binary, in order.
pub(super) static HOST_LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record_host_log(_level: LogLevel, msg: &str) {
    HOST_LOG.lock().unwrap_or_else(|e| e.into_inner()).push(msg.to_string());
}

/// Starts Python once for the whole test binary (from whichever test thread comes first).
pub(super) fn python() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        crate::hostlog::set_host_logger(record_host_log);
        let opts = InitOptions {
            python_executable: "/usr/bin/python3".into(),
            dont_write_bytecode: true,
            maximum_processes: 1,
            threads_per_process: 16,
            ..Default::default()
        };
        interp::initialize(&opts).expect("Python starts");
        Python::attach(|py| {
            let code = std::ffi::CString::new(PRELUDE_MODULE).unwrap();
            let m = PyModule::from_code(py, &code, c"_coretests.py", c"_coretests").unwrap();
            py.import("sys").unwrap().getattr("modules").unwrap().set_item("_coretests", m).unwrap();
        });
    });
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A fresh path under this test binary's temporary directory.
pub(super) fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wsgi_rs_core_tests.{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{}.{name}", NEXT.fetch_add(1, Ordering::Relaxed)))
}

/// One finished request.
#[derive(Debug)]
pub(super) struct Run {
    pub outcome: Outcome,
    pub rec: Rec,
    pub script: String,
    /// What the app appended to `RECORD`.
    pub calls: Vec<String>,
}

impl Run {
    pub fn body(&self) -> &str {
        std::str::from_utf8(&self.rec.body).unwrap()
    }

    pub fn head(&self) -> &ResponseHead {
        self.rec.head.as_ref().expect("a head was sent")
    }

    pub fn headers(&self) -> Vec<(String, String)> {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        self.head().headers.iter().map(|(k, v)| (s(k), s(v))).collect()
    }

    /// Log lines starting with `code`.
    pub fn lines(&self, code: &str) -> Vec<&str> {
        self.rec.log.iter().map(|(_, l)| l.as_str()).filter(|l| l.starts_with(code)).collect()
    }

    /// Log lines except the "script loaded" one every first run logs.
    pub fn log(&self) -> Vec<(LogLevel, &str)> {
        self.rec.log.iter().filter(|(_, l)| !l.starts_with("RWSGI0050")).map(|(v, l)| (*v, l.as_str())).collect()
    }

    /// The traceback lines (RWSGI0021) contain `text`.
    pub fn traceback_has(&self, text: &str) -> bool {
        self.lines("RWSGI0021").iter().any(|l| l.contains(text))
    }
}

/// A request to run.
pub(super) struct Req<'a> {
    pub method: &'a str,
    pub headers: Vec<(&'a str, &'a str)>,
}

pub(super) const GET: Req<'static> = Req { method: "GET", headers: Vec::new() };

/// Runs `src` (a script defining `application`; `RECORD` is predefined) for one request.
pub(super) fn run(src: &str, io: MemIo) -> Run {
    run_req(src, io, &GET)
}

pub(super) fn run_req(src: &str, io: MemIo, req: &Req<'_>) -> Run {
    python();
    let script = temp_path("wsgi");
    let key = script.display().to_string();
    let full = format!("import _coretests\nRECORD = _coretests.recorder({key:?})\n{src}");
    std::fs::write(&script, full).unwrap();
    let (outcome, rec) = run_script(&script, io, req);
    std::fs::remove_file(&script).unwrap();
    let calls = Python::attach(|py| -> PyResult<Vec<String>> {
        let calls = py.import("_coretests")?.getattr("calls")?;
        calls.call_method1("pop", (&key, pyo3::types::PyList::empty(py)))?.extract()
    })
    .unwrap();
    Run { outcome, rec, script: key, calls }
}

/// Runs an existing script file; returns the outcome and what the host saw.
pub(super) fn run_script(script: &std::path::Path, io: MemIo, req: &Req<'_>) -> (Outcome, Rec) {
    run_script_in(script, io, req, "")
}

/// Runs an existing script file in application group `group` (`""`: the main interpreter).
pub(super) fn run_script_in(script: &std::path::Path, io: MemIo, req: &Req<'_>, group: &str) -> (Outcome, Rec) {
    python();
    let rec = io.rec.clone();
    let facts = RequestFacts {
        method: req.method.as_bytes(),
        protocol: b"HTTP/1.1",
        request_uri: b"/app/x?y=1",
        query_string: b"y=1",
        uri: b"/app/x",
        path_info: b"/x",
        server_name: b"localhost",
        server_port: 8000,
        remote_addr: b"127.0.0.1",
        remote_port: 40000,
        ..Default::default()
    };
    let headers: Vec<(&[u8], &[u8])> = req.headers.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())).collect();
    let env = environ::build(&facts, headers, Vec::new());
    let x = WsgiExtras {
        https: false,
        multithread: true,
        multiprocess: false,
        process_group: "",
        application_group: group,
        listener_host: b"localhost",
        listener_port: 8000,
        server_pid: std::process::id(),
        request_id: b"test",
        connection_id: Some(1),
        request_start: 0.0,
        queue_start: 0.0,
        daemon_start: 0.0,
        apache_version: (2, 4, 0),
        request_handler: b"wsgi-script",
        handler_script: b"",
        apache_request: None,
    };
    let app = AppSpec { script, callable: "application", reload: false, group, cgi: false, stamp: None };
    let outcome = run_request(Box::new(io), &env, &x, &app);
    let rec = std::mem::take(&mut *rec.lock().unwrap());
    (outcome, rec)
}

#[test]
fn concurrent_requests_on_many_threads() {
    let src = r#"
import time

def application(environ, start_response):
    body = environ['wsgi.input'].read()
    time.sleep(0.01)  # lets the other threads in while this one waits
    start_response('200 OK', [('Content-Type', 'text/plain')])
    yield body.upper()
"#;
    let threads: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let body = format!("thread {i} body");
                let r = run(src, MemIo::new().body(body.as_bytes(), 3));
                (i, r)
            })
        })
        .collect();
    for t in threads {
        let (i, r) = t.join().unwrap();
        assert_eq!(r.outcome, Outcome::Done);
        assert_eq!(r.body(), format!("THREAD {i} BODY"));
        assert_eq!(r.rec.events, vec![Ev::Head(200), w(&format!("THREAD {i} BODY")), Ev::Flush]);
    }
}

/// Runs `script` for `n` requests at once, each on its own thread.
fn run_script_concurrently(script: &std::path::Path, n: usize) -> Vec<(Outcome, Rec)> {
    python();
    let barrier = Arc::new(std::sync::Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (script, barrier) = (script.to_path_buf(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                run_script(&script, MemIo::new(), &GET)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// A script whose module code appends a line to `counter`, sleeps (1 s: long enough for all the
/// concurrent requests to arrive while it imports, even on a loaded machine), then runs `tail`.
fn counting_script(counter: &std::path::Path, tail: &str) -> PathBuf {
    let script = temp_path("wsgi");
    let src = format!(
        "import time\nwith open({:?}, 'a') as f:\n    f.write('imported\\n')\ntime.sleep(1.0)\n{tail}\n\
         def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'once']\n",
        counter.display().to_string()
    );
    std::fs::write(&script, src).unwrap();
    script
}

fn count_lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).map(|s| s.lines().count()).unwrap_or(0)
}

#[test]
fn concurrent_first_requests_import_the_script_once() {
    let counter = temp_path("imports");
    let script = counting_script(&counter, "");
    let runs = run_script_concurrently(&script, 8);
    for (outcome, rec) in &runs {
        assert_eq!(*outcome, Outcome::Done);
        assert_eq!(rec.body, b"once");
    }
    let loaded = runs.iter().filter(|(_, rec)| rec.log.iter().any(|(_, l)| l.starts_with("RWSGI0050"))).count();
    assert_eq!(loaded, 1, "exactly one request imports the script");
    assert_eq!(count_lines(&counter), 1, "the module code ran once");
}

#[test]
fn a_failed_import_fails_its_waiters_and_the_next_request_retries() {
    let counter = temp_path("imports");
    let script = counting_script(&counter, "raise RuntimeError('import failed on purpose')");
    let runs = run_script_concurrently(&script, 8);
    for (outcome, rec) in &runs {
        assert_eq!(*outcome, Outcome::ErrorBeforeHeaders);
        assert!(rec.log.iter().any(|(_, l)| l.starts_with("RWSGI0020")), "{:?}", rec.log);
        assert!(rec.log.iter().any(|(_, l)| l.starts_with("RWSGI0021") && l.contains("import failed on purpose")));
    }
    assert_eq!(count_lines(&counter), 1, "the module code ran once for the concurrent requests");
    let (outcome, _) = run_script(&script, MemIo::new(), &GET);
    assert_eq!(outcome, Outcome::ErrorBeforeHeaders);
    assert_eq!(count_lines(&counter), 2, "the next request imports again");
}

#[test]
fn application_groups_get_their_own_interpreters() {
    let dir = std::env::temp_dir().join(format!("wsgi_rs_groups_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("groups.wsgi");
    std::fs::write(
        &script,
        r#"
import sys, uuid, mod_wsgi
MARK = uuid.uuid4().hex

def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [f"{MARK} {id(sys.modules)} {mod_wsgi.application_group}|{environ['mod_wsgi.application_group']}".encode()]
"#,
    )
    .unwrap();
    let body = |group: &'static str, script: PathBuf| {
        std::thread::spawn(move || {
            let (o, rec) = run_script_in(&script, MemIo::new(), &GET, group);
            assert_eq!(o, Outcome::Done);
            String::from_utf8(rec.body).unwrap()
        })
        .join()
        .unwrap()
    };
    let main = body("", script.clone());
    let g1 = body("core-g1", script.clone());
    let g1_again = body("core-g1", script.clone());
    let g2 = body("core-g2", script.clone());
    std::fs::remove_dir_all(&dir).unwrap();
    let parts = |b: &str| b.split(' ').map(str::to_string).collect::<Vec<_>>();
    let (m, a, a2, b) = (parts(&main), parts(&g1), parts(&g1_again), parts(&g2));
    assert_eq!(m[2], "|");
    assert_eq!(a[2], "core-g1|core-g1");
    assert_eq!(b[2], "core-g2|core-g2");
    // One interpreter per group, reused by another thread; each its own sys.modules and module.
    assert_eq!(a[..2], a2[..2]);
    assert!(m[0] != a[0] && a[0] != b[0] && m[0] != b[0]);
    assert!(m[1] != a[1] && a[1] != b[1] && m[1] != b[1]);
}

/// Runs the dispatch script `src` for a GET of `/app/x?y=1`: the result and the log lines.
fn dispatch(src: &str) -> (Option<super::Dispatch>, Vec<String>) {
    python();
    let script = temp_path("dispatch.py");
    std::fs::write(&script, src).unwrap();
    let facts = RequestFacts {
        method: b"GET",
        protocol: b"HTTP/1.1",
        request_uri: b"/app/x?y=1",
        query_string: b"y=1",
        uri: b"/app/x",
        server_name: b"localhost",
        server_port: 8000,
        remote_addr: b"127.0.0.1",
        remote_port: 40000,
        ..Default::default()
    };
    let env = environ::build(&facts, Vec::new(), Vec::new());
    let configured = super::Configured { process_group: "", application_group: "", callable_object: "application" };
    let lines = Mutex::new(Vec::new());
    let log = |_: LogLevel, l: &str| lines.lock().unwrap().push(l.to_string());
    let d = super::run_dispatch(&script, "", false, &env, &configured, &log);
    (d, lines.into_inner().unwrap())
}

#[test]
fn dispatch_script_values() {
    let (d, _) = dispatch(
        "def process_group(environ):\n    return 'g-' + environ['QUERY_STRING']\n\
         def application_group(environ):\n    return '%{GLOBAL}'\n\
         def callable_object(environ):\n    return environ['mod_wsgi.callable_object'] + '2'\n",
    );
    let d = d.expect("dispatch ran");
    assert_eq!(d.process_group.as_deref(), Some("g-y=1"));
    assert_eq!(d.application_group.as_deref(), Some(""), "%{{GLOBAL}} is the main interpreter");
    assert_eq!(d.callable_object.as_deref(), Some("application2"));
    let (d, _) = dispatch("def process_group(environ):\n    return None\n");
    assert_eq!(d, Some(super::Dispatch::default()), "None and missing functions keep the configured values");
    let (d, log) = dispatch("def application_group(environ):\n    return b'bytes'\n");
    assert!(d.is_none() && log.iter().any(|l| l.starts_with("RWSGI0054") && l.contains("'bytes'")), "{log:?}");
    let (d, log) = dispatch("def callable_object(environ):\n    return ''\n");
    assert!(d.is_none() && log.iter().any(|l| l.starts_with("RWSGI0054") && l.contains("empty")), "{log:?}");
    let (d, log) = dispatch("def process_group(environ):\n    raise KeyError('nope')\n");
    assert!(d.is_none() && log.iter().any(|l| l.starts_with("RWSGI0021") && l.contains("KeyError")), "{log:?}");
    let (d, log) = dispatch("this is not python\n");
    assert!(d.is_none() && log.iter().any(|l| l.starts_with("RWSGI0054") && l.contains("Failed to exec")), "{log:?}");
}
