//! Worker threads: take a request (a new connection, or the next head on an idle one, see
//! `conns`), authenticate the request head, run the request.
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::config::{DaemonConfig, ShutdownReason};
use super::conns::{Conns, Ready};
use super::meta::RequestMeta;
use super::monitor::monitor;
use super::socket_io::{PushedBody, SocketIo};
use super::state::{Event, State, now_us};
use crate::environ::{Environ, Key};
use crate::hostlog::host_log;
use crate::wire::{self, Buffered, Frame, FrameReader};
use crate::wsgi::{AppSpec, LogLevel, Outcome, WsgiExtras, run_request, stamp_from_us};

/// Serves until a recycling condition or a signal; returns why, once no request is running
/// (or the graceful time ran out). `listener` is the group's listening socket, inherited.
/// Returns the reason and whether every request finished (so Python may be finalised).
pub fn serve(listener: RawFd, cfg: DaemonConfig) -> (ShutdownReason, bool) {
    // SAFETY: setting O_NONBLOCK on the inherited listening socket: every process of the group
    // waits for it (epoll) before accepting, so a lost race gives EAGAIN instead of blocking.
    unsafe {
        let fl = libc::fcntl(listener, libc::F_GETFL);
        libc::fcntl(listener, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    let cfg = Arc::new(cfg);
    let (state, events) = State::new(cfg.threads.max(1) as usize);
    let conns = match Conns::new(listener) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            // No worker can wait for requests: recycle the process (as for a dead worker).
            host_log(
                LogLevel::Error,
                &crate::coded!(
                    "RWSGI0181",
                    "Daemon process '{}' (pid {}) could not watch its socket (epoll): {e}; recycling the process.",
                    cfg.group,
                    std::process::id()
                ),
            );
            state.internal_error.store(true, Ordering::Release);
            state.notify(Event::Recycle);
            return monitor(&cfg, &state, &events);
        }
    };
    let mut started = 0usize;
    for i in 0..cfg.threads.max(1) as usize {
        let (cfg, state, conns) = (cfg.clone(), state.clone(), conns.clone());
        let mut b = std::thread::Builder::new().name(format!("wsgi-{i}"));
        if let Some(s) = cfg.stack_size {
            b = b.stack_size(s);
        }
        let group = cfg.group.clone();
        match b.spawn(move || {
            // A panic must not silently shrink the pool: log it, and recycle the process.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker(listener, &conns, i, &cfg, &state)))
                .is_err()
            {
                host_log(
                    LogLevel::Error,
                    &crate::coded!(
                        "RWSGI0040",
                        "Internal error in a worker thread of daemon process '{}' (pid {}); recycling the process.",
                        cfg.group,
                        std::process::id()
                    ),
                );
                state.internal_error.store(true, Ordering::Release);
                state.notify(Event::Recycle);
            }
        }) {
            Ok(_) => started += 1,
            Err(e) => host_log(
                LogLevel::Error,
                &crate::coded!("RWSGI0105", "Daemon process '{group}' could not start worker thread {i}: {e}"),
            ),
        }
    }
    // SAFETY: getuid/getgid have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    host_log(
        LogLevel::Info,
        &crate::coded!(
            "RWSGI0100",
            "Daemon process '{}' #{} started (pid {}, uid {uid}, gid {gid}, {started} threads, socket '{}').",
            cfg.group,
            cfg.index,
            std::process::id(),
            cfg.socket_path
        ),
    );
    monitor(&cfg, &state, &events)
}

/// The worker loop. A request, once taken (a connection accepted, or an idle connection's
/// next head), is always served: the thread counts itself in `active` *before* taking it and
/// then checks `stopping`, while the monitor sets `stopping` and only then waits for `active`
/// to drop to 0 (both sequentially consistent). So either this thread sees `stopping` and
/// takes nothing, or the monitor sees it busy and waits for its request before announcing the
/// end or finalising Python. Connections not accepted stay queued in the group's shared backlog
/// for the other processes (and the replacement); idle connections are closed unread
/// (`Conns::close_idle`), so their Apache children send what they had sent on a new one.
///
/// Protocol v2: after a request the connection is parked in `conns` (watched for the next
/// head) instead of closed, unless the process is stopping.
fn worker(listener: RawFd, conns: &Conns, index: usize, cfg: &DaemonConfig, state: &State) {
    // SAFETY: pthread_self has no preconditions.
    let ident = unsafe { libc::pthread_self() } as u64;
    state.slots[index].ident.store(ident, Ordering::Release);
    while !state.stopping() {
        let ready = conns.wait(500);
        if matches!(ready, Ready::Nothing) {
            continue;
        }
        state.active.fetch_add(1, Ordering::SeqCst);
        if state.stopping() {
            release(state);
            break;
        }
        let (stream, id) = match ready {
            Ready::Listener => {
                // SAFETY: accept4 on the listening socket; the result is a new descriptor we own.
                let fd =
                    unsafe { libc::accept4(listener, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC) };
                if fd < 0 {
                    release(state);
                    continue; // another thread or process took it
                }
                widen_send_buffer(fd);
                // SAFETY: `fd` is a fresh connected socket owned by nobody else.
                (Arc::new(unsafe { UnixStream::from_raw_fd(fd) }), None)
            }
            Ready::Conn(id) => match conns.take(id) {
                Some(s) => (s, Some(id)),
                None => {
                    release(state);
                    continue;
                }
            },
            Ready::Nothing => unreachable!("handled above"),
        };
        let slot = &state.slots[index];
        let started = now_us();
        slot.start_us.store(started, Ordering::SeqCst);
        let board = super::status_board::my_slot();
        if let Some(b) = board {
            b.request_started(started);
        }
        let served_one = handle(&stream, id.is_none(), index, cfg, state);
        if let Some(b) = board {
            if served_one.keep.is_some() {
                b.request_finished(
                    if slot.abandoned.load(Ordering::Acquire) { 504 } else { served_one.code },
                    now_us(),
                );
            } else {
                b.request_not_taken();
            }
        }
        slot.start_us.store(0, Ordering::SeqCst);
        // Interrupted (interrupt-timeout)? The interrupter injects only while the slot still
        // shows the request, and the monitor notes the interruption before asking it: read
        // after the reset above, this cannot miss an injection that may still be pending.
        if slot.interrupted_start.load(Ordering::SeqCst) == started {
            crate::wsgi::note_interrupted(&slot.app_group.lock().unwrap_or_else(|e| e.into_inner()));
        }
        *slot.conn.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if served_one.activity {
            state.last_activity_us.store(now_us(), Ordering::Release);
        }
        if slot.abandoned.swap(false, Ordering::AcqRel) {
            // The monitor already answered for us and counts us as stuck: stop serving.
            return;
        }
        let Some(keep) = served_one.keep else {
            // Nothing was asked on it (the Apache child closed an idle connection).
            drop(stream);
            release(state);
            continue;
        };
        let served = state.served.fetch_add(1, Ordering::AcqRel) + 1;
        if cfg.maximum_requests > 0 && served >= cfg.maximum_requests {
            // Stop accepting in every thread now (requests already accepted finish); the
            // monitor, woken, announces the shutdown and waits for them.
            state.stopping.store(true, Ordering::SeqCst);
            state.notify(Event::Recycle);
        }
        if keep {
            conns.park(stream, id, || state.stopping());
        }
        release(state);
    }
    // Stopping: nothing is taken any more; idle connections are closed now rather than at exit
    // (graceful-timeout later), so their requests go elsewhere at once.
    conns.close_idle();
}

/// Asks for a 1 MiB send buffer (the kernel doubles it, within `net.core.wmem_max`: on a stock
/// Debian only twice its 208 KiB default) on a connection from an Apache child: a streamed
/// response then blocks this thread, and wakes the Apache child, less often (a 1 MiB response in
/// 16 chunks, where wmem_max allows the 2 MiB: 2.2 context switches in the Apache child instead
/// of 6.7, and 3-7% less CPU per response). The memory is the kernel's, used only while bytes
/// wait for the Apache child, which relays them to its client (whose own TCP buffer can hold
/// as much).
fn widen_send_buffer(fd: RawFd) {
    let want: libc::c_int = 1 << 20;
    // SAFETY: setsockopt on a socket we own, with a c_int option value; failure is harmless.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            &want as *const libc::c_int as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Ends a worker's claim on `active` (a request, or a reservation for `accept`); the monitor of
/// a stopping process is woken to see whether it was the last.
fn release(state: &State) {
    state.active.fetch_sub(1, Ordering::SeqCst);
    if state.stopping() {
        state.notify(Event::Finished);
    }
}

/// Sends one frame; `false` if it could not be written whole.
fn send(stream: &UnixStream, f: &Frame) -> bool {
    let mut buf = Vec::new();
    wire::encode(f, &mut buf);
    std::io::Write::write_all(&mut &*stream, &buf).is_ok()
}

thread_local! {
    static HEAD_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The read buffer of the head and its pushed frames (`handle`), one per worker thread.
    static HEAD_READ: std::cell::Cell<Box<[u8]>> = std::cell::Cell::new(Box::default());
}

/// The head reader's buffer: a typical request head (a browser's, with cookies) in one recv.
const HEAD_READ_CAP: usize = 8 * 1024;

/// Gives the head reader's buffer back to the thread when `handle` is done with it.
struct ReadBack<'a, 'b>(&'a mut FrameReader<Buffered<&'b UnixStream>>);

impl Drop for ReadBack<'_, '_> {
    fn drop(&mut self) {
        HEAD_READ.set(self.0.get_mut().take_buffer());
    }
}

/// A worker thread's request-head buffer, lent for one request and given back when dropped
/// (kept only if it did not grow past a typical head's size).
struct HeadBuf(Vec<u8>);

impl HeadBuf {
    fn lend() -> HeadBuf {
        HeadBuf(HEAD_BUF.with(|b| std::mem::take(&mut *b.borrow_mut())))
    }
}

impl Drop for HeadBuf {
    fn drop(&mut self) {
        if self.0.capacity() <= 64 * 1024 {
            let b = std::mem::take(&mut self.0);
            HEAD_BUF.with(|h| *h.borrow_mut() = b);
        }
    }
}

/// What [`handle`] saw on a connection.
struct Served {
    /// `None`: the connection ended (or failed) before a request head, nothing ran;
    /// `Some(keep)`: a request was received; `keep`: its conversation ended with `ResponseEnd`,
    /// so the connection may carry the next one.
    keep: Option<bool>,
    /// It counts as activity for inactivity-timeout: a request from our Apache child (valid
    /// head and token) outside `WSGIIgnoreActivity On`; such a request has also stamped
    /// `last_activity_us` when it started. Others never move it, so a process served only
    /// ignored requests still reaches its inactivity-timeout (the monitor stops it between
    /// them: a running request, ignored or not, always holds the stop off).
    activity: bool,
    /// The HTTP status answered (0: none, the connection was refused or the client left), for
    /// the status board.
    code: u16,
}

impl Served {
    const NOTHING: Served = Served { keep: None, activity: false, code: 0 };
    const REFUSED: Served = Served { keep: Some(false), activity: false, code: 0 };
}

/// Serves the request on `stream` (`fresh`: a connection just accepted).
fn handle(stream: &Arc<UnixStream>, fresh: bool, index: usize, cfg: &DaemonConfig, state: &State) -> Served {
    let g = &cfg.group;
    let t = Some(Duration::from_secs(cfg.socket_timeout.max(1)));
    if fresh {
        let _ = stream.set_write_timeout(t);
        // Our client sends the head right after connecting: a silent connection is not ours,
        // and must not hold a worker thread for the whole socket-timeout. (An idle connection
        // is only taken once its next head starts to arrive, and keeps the timeouts set below
        // at its first request.)
        let _ = stream.set_read_timeout(Some(Duration::from_secs(cfg.socket_timeout.clamp(1, 10))));
    }
    // The head, and the body frames pushed with it, are read through this thread's buffer: a
    // hello request's head comes in one recv instead of two (frame header, then payload).
    let lent = HEAD_READ.take();
    let lent = if lent.len() == HEAD_READ_CAP { lent } else { vec![0u8; HEAD_READ_CAP].into_boxed_slice() };
    let mut reader = FrameReader::new(Buffered::with_buffer(&**stream, lent));
    let reader = &mut ReadBack(&mut reader);
    let malformed = |e: &dyn std::fmt::Display| {
        host_log(
            LogLevel::Error,
            &crate::coded!(
                "RWSGI0113",
                "Daemon process '{g}' refused a malformed request on '{}': {e}",
                cfg.socket_path
            ),
        );
    };
    // The head's payload stays in this thread's buffer while the request runs: the environ and
    // meta pairs borrow from it (no allocation per key and value).
    let mut raw = HeadBuf::lend();
    let head = match reader.0.read_raw(&mut raw.0) {
        Ok(Some(wire::T_REQUEST_HEAD)) => match wire::parse_request_head(&raw.0) {
            Ok(h) => h,
            Err(e) => {
                malformed(&e);
                return Served::REFUSED;
            }
        },
        Ok(None) => return Served::NOTHING,
        Ok(Some(_)) => {
            host_log(
                LogLevel::Error,
                &crate::coded!(
                    "RWSGI0113",
                    "Daemon process '{g}' refused a connection on '{}': the first frame is not a request head.",
                    cfg.socket_path
                ),
            );
            return Served::REFUSED;
        }
        Err(e) => {
            malformed(&e);
            return Served::REFUSED;
        }
    };
    if !wire::token_eq(&head.token, &cfg.token) {
        host_log(
            LogLevel::Error,
            &crate::coded!(
                "RWSGI0112",
                "Daemon process '{g}' refused a request on '{}': invalid authentication token (not sent by this Apache).",
                cfg.socket_path
            ),
        );
        return Served::REFUSED;
    }
    if fresh {
        let _ = stream.set_read_timeout(t);
    }
    let meta = match RequestMeta::from_pairs(head.meta.iter().copied()) {
        Ok(m) => m,
        Err(e) => {
            malformed(&e);
            return Served::REFUSED;
        }
    };
    // The body frames pushed with the head are read now, before anything runs: an Apache
    // child that sees its request refused unread may send it again (see `meta::Pushed`).
    let pushed = match PushedBody::read(reader.0, meta.pushed) {
        Ok(p) => p,
        Err(e) => {
            malformed(&e);
            return Served::REFUSED;
        }
    };
    // Our Apache child sends nothing past the pushed frames until asked (BodyRequest) or
    // answered (ResponseEnd): bytes already here are not ours to run.
    if !reader.0.get_ref().buffer().is_empty() {
        malformed(&"bytes past the request's frames, unasked");
        return Served::REFUSED;
    }
    let activity = !meta.ignore_activity;
    if activity {
        state.last_activity_us.store(now_us(), Ordering::Release);
    }
    let accepted_us = now_us();
    if cfg.queue_timeout > 0 && accepted_us - meta.request_start_us > (cfg.queue_timeout as i64) * 1_000_000 {
        host_log(
            LogLevel::Error,
            &crate::coded!(
                "RWSGI0114",
                "[client {}] Queue timeout expired for WSGI daemon process '{g}' (waited {:.1} s, queue-timeout={}).",
                String::from_utf8_lossy(&meta.client),
                (accepted_us - meta.request_start_us) as f64 / 1e6,
                cfg.queue_timeout
            ),
        );
        send(stream, &Frame::ResponseError { code: 504, message: "queue-timeout expired".into() });
        return Served { keep: Some(false), activity, code: 504 };
    }
    let script = PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&meta.script));
    // The Apache child's stat of the script for this request when it sent one, else one stat
    // here; shared with the script loader (`AppSpec::stamp`).
    let script_stamp = match (meta.reload, meta.script_mtime_us) {
        (false, _) => None,
        (true, Some(us)) => Some(stamp_from_us(us)),
        (true, None) => crate::wsgi::stamp(&script).ok(),
    };
    if let Some(now) = script_stamp {
        {
            let mut known = state.script_stamps.lock().unwrap_or_else(|e| e.into_inner());
            match known.get(&script) {
                Some(s) if *s != now => {
                    state.script_changed.store(true, Ordering::Release);
                    state.notify(Event::Recycle);
                    known.insert(script.clone(), now);
                }
                Some(_) => {}
                None => {
                    known.insert(script.clone(), now);
                }
            }
        }
    }
    let head_sent = Arc::new(AtomicBool::new(false));
    if cfg.interrupt_timeout > 0 {
        let mut g = state.slots[index].app_group.lock().unwrap_or_else(|e| e.into_inner());
        g.clone_from(&meta.application_group);
    }
    *state.slots[index].conn.lock().unwrap_or_else(|e| e.into_inner()) = Some((stream.clone(), head_sent.clone()));
    let client = String::from_utf8_lossy(&meta.client).into_owned();
    let code = Arc::new(std::sync::atomic::AtomicU16::new(0));
    let tail = Arc::new(Mutex::new(Vec::new()));
    let io = match SocketIo::new(stream, head_sent, client, code.clone(), tail.clone(), pushed, meta.fdpass) {
        Ok(io) => io,
        Err(_) => return Served { keep: Some(false), activity, code: 0 },
    };
    let env = Environ {
        vars: {
            let mut v = crate::environ::spare_vars();
            v.extend(head.env.iter().map(|&(k, v)| (Key::Borrowed(k), std::borrow::Cow::Borrowed(v))));
            v
        },
        // The Apache child decided the scheme (meta.https); HTTPS is never in the env it sends.
        https_var: false,
    };
    let x = WsgiExtras {
        https: meta.https,
        multithread: cfg.threads > 1,
        multiprocess: cfg.multiprocess,
        process_group: g,
        application_group: &meta.application_group,
        listener_host: &meta.listener_host,
        listener_port: meta.listener_port,
        server_pid: meta.server_pid,
        request_id: &meta.request_id,
        connection_id: meta.connection_id,
        request_start: meta.request_start_us as f64 / 1e6,
        queue_start: meta.queue_start_us as f64 / 1e6,
        daemon_start: accepted_us as f64 / 1e6,
        apache_version: cfg.apache_version,
        request_handler: if meta.request_handler.is_empty() { b"wsgi-script" } else { &meta.request_handler },
        handler_script: &meta.handler_script,
        // The daemon has no request_rec: WSGIPassApacheRequest is embedded mode only.
        apache_request: None,
    };
    let spec = AppSpec {
        script: &script,
        callable: &meta.callable,
        reload: meta.reload,
        group: &meta.application_group,
        cgi: meta.cgi,
        stamp: script_stamp,
    };
    let outcome = run_request(Box::new(io), &env, &x, &spec);
    // The SocketIo was dropped by run_request, leaving what it had not sent yet in `tail`: the
    // final frame goes after it, in the same write.
    if state.slots[index].abandoned.load(Ordering::Acquire) {
        return Served { keep: Some(false), activity, code: 0 };
    }
    let mut out = std::mem::take(&mut *tail.lock().unwrap_or_else(|e| e.into_inner()));
    // Only a conversation that ends with ResponseEnd is reused by the Apache child.
    let (last, keep) = match outcome {
        Outcome::Done => (Some(Frame::ResponseEnd), true),
        Outcome::ErrorBeforeHeaders => {
            (Some(Frame::ResponseError { code: 500, message: "application error".into() }), false)
        }
        Outcome::ErrorAfterHeaders => (Some(Frame::ResponseAbort("application error after headers".into())), false),
        Outcome::TimedOut => {
            (Some(Frame::ResponseError { code: 504, message: "interrupted by RequestTimeout".into() }), false)
        }
        // The Apache child checks the body against the Content-Length itself and cuts the
        // connection after relaying what was sent (an abort could turn it into a 500).
        Outcome::Truncated => (Some(Frame::ResponseEnd), true),
        Outcome::ClientGone => (None, false),
    };
    if let Some(f) = &last {
        wire::encode(f, &mut out);
    }
    let sent = out.is_empty() || std::io::Write::write_all(&mut &**stream, &out).is_ok();
    super::socket_io::give_back_buffer(out);
    let code = match outcome {
        Outcome::ErrorBeforeHeaders => 500,
        Outcome::TimedOut => 504,
        _ => code.load(Ordering::Relaxed),
    };
    Served { keep: Some(keep && sent), activity, code }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_daemon_process;
    use std::io::{Read, Write};

    const TOKEN: [u8; wire::TOKEN_LEN] = [5; wire::TOKEN_LEN];

    fn cfg() -> DaemonConfig {
        let o = parse_daemon_process(&["g"]).unwrap();
        DaemonConfig::from_options(&o, 0, "/s".into(), TOKEN, 5, (2, 4, 62), 1)
    }

    /// A request head for a script that does not exist, with `pushed` announced.
    fn head(token: &[u8; wire::TOKEN_LEN], pushed: &[u8]) -> Vec<u8> {
        let env: [(&[u8], &[u8]); 1] = [(b"REQUEST_METHOD", b"POST")];
        let mut meta: Vec<(&[u8], &[u8])> = vec![(b"script", b"/nonexistent/x.wsgi"), (b"callable", b"application")];
        if !pushed.is_empty() {
            meta.push((b"pushed", pushed));
        }
        let mut out = Vec::new();
        wire::encode_request_head(token, env.into_iter(), meta.into_iter(), &mut out);
        out
    }

    /// Runs `handle` on what `sent` writes; what it served and every byte it answered.
    fn serve_bytes(sent: &[u8]) -> (Option<bool>, bool, Vec<u8>) {
        let (client, daemon) = UnixStream::pair().unwrap();
        (&client).write_all(sent).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let (state, _events) = State::new(1);
        let served = handle(&Arc::new(daemon), true, 0, &cfg(), &state);
        let mut answer = Vec::new();
        client.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let _ = (&client).read_to_end(&mut answer);
        (served.keep, served.activity, answer)
    }

    #[test]
    fn bytes_past_the_pushed_frames_are_refused_unrun() {
        // The announced BodyEnd, then a chunk nobody asked for (it would be read as the body).
        let mut sent = head(&TOKEN, b"end");
        wire::encode(&Frame::BodyEnd, &mut sent);
        wire::encode(&Frame::BodyChunk(b"stray".to_vec()), &mut sent);
        // Refused: not counted as activity, nothing answered (a request that ran would answer
        // ResponseError for the missing script).
        assert_eq!(serve_bytes(&sent), (Some(false), false, vec![]));
    }

    #[test]
    fn a_wrong_token_is_refused_unrun() {
        let mut sent = head(&[6; wire::TOKEN_LEN], b"end");
        wire::encode(&Frame::BodyEnd, &mut sent);
        assert_eq!(serve_bytes(&sent), (Some(false), false, vec![]));
    }

    #[test]
    fn a_connection_closed_before_a_head_served_nothing() {
        assert_eq!(serve_bytes(b""), (None, false, vec![]));
    }
}
