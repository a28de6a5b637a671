//! The Apache-child side of daemon mode: forward one request to the group's socket and relay
//! the response. The body's first window (`PUSH_WINDOW`) goes with the request head; the rest
//! is read from Apache's input filters only when the daemon asks for it (`BodyRequest`), so
//! the app controls how much of a large body is read, as in embedded mode.
//!
//! Failure mapping (mod_wsgi 6): daemon unreachable → 503, connection lost before the response
//! head → 502, queue/request/socket timeout → 504; after the head, the response is cut.
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use wsgi_rs_core::config::{Owned, OwnerRule, script_owner_violation};
use wsgi_rs_core::daemon::{MetaNums, Pushed, RequestMeta};
use wsgi_rs_core::environ::Environ;
use wsgi_rs_core::framing;
use wsgi_rs_core::wire::fds::{FdReader, FdSource};
use wsgi_rs_core::wire::{self, Frame, T_BODY_CHUNK};
use wsgi_rs_core::wsgi::{LogLevel, RequestIo, ResponseHead};

use crate::apache::request::Request;
use crate::apache::status::Status;
use crate::daemon::pool::{self, Conn};
use crate::daemon::registry::DaemonGroup;
use crate::request::abort::{abort_response, cut_response};
use crate::request::io::ApacheIo;

fn now_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// Connects, retrying while the backlog is full or the socket is being re-created by a
/// graceful restart, for at most connect-timeout.
fn connect(g: &DaemonGroup) -> std::io::Result<UnixStream> {
    let path = crate::apache::strings::path(g.socket_path.as_bytes());
    let start = Instant::now();
    let limit = Duration::from_secs(g.opts.connect_timeout.max(1));
    loop {
        match UnixStream::connect(path) {
            Ok(s) => return Ok(s),
            Err(e) => {
                // A full backlog, or a graceful restart re-creating the socket file (it is
                // absent while Apache waits up to 3 s for the old daemons to exit).
                let retry = matches!(e.raw_os_error(), Some(libc::ECONNREFUSED | libc::EAGAIN | libc::ENOENT))
                    && start.elapsed() < limit;
                if !retry {
                    return Err(e);
                }
                let pause = if start.elapsed() < Duration::from_secs(2) { 50 } else { 500 };
                std::thread::sleep(Duration::from_millis(pause));
            }
        }
    }
}

/// script-user= / script-group=: the script and its directory (stat'ed now, following links)
/// against the group's rule (core::config::script_owner_violation).
fn check_script_owner(rule: OwnerRule, script: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let path = crate::apache::strings::path(script);
    let owned = |p: &std::path::Path| {
        std::fs::metadata(p)
            .map(|m| Owned { uid: m.uid(), gid: m.gid(), mode: m.mode() })
            .map_err(|e| format!("cannot stat '{}': {e}", p.display()))
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("/"));
    match script_owner_violation(rule, owned(path)?, owned(dir)?) {
        None => Ok(()),
        Some(why) => Err(why),
    }
}

/// How often a request the daemon provably never read is sent again (see `Relay::Unread`).
const MAX_ATTEMPTS: u32 = 3;

/// Forwards the request. Returns the handler's status.
///
/// The request goes first on an idle connection of this child's pool (`pool`), else on a new
/// one; a connection whose conversation ended cleanly goes back to the pool.
///
/// Resending contract: a request is sent again (on a new connection, which any process of the
/// group may accept, at most `MAX_ATTEMPTS` times in all, plus once after a pooled connection
/// refused it: RWSGI0180) only when the daemon provably never started it, that is when it could
/// not have decoded the request head:
/// - writing the head failed (the daemon closed the connection before it was all sent), or
/// - the first read failed with ECONNRESET before a single byte came back. On a Unix stream
///   socket Linux reports ECONNRESET to the peer only when a socket is closed with unread data
///   in its receive queue (or was never accepted). Until the daemon sends its first frame we
///   have sent nothing but the head and the body frames pushed with it (`push_window`; the
///   rest of the body goes only in answer to a `BodyRequest`), and a daemon runs a request
///   only after reading its whole head and every pushed frame (`meta::Pushed`): unread data
///   means an unread request.
///   On a pooled connection the previous conversation ended at `ResponseEnd` with nothing left
///   unread on either side, so the same holds: any unread byte is this request's head. A daemon
///   closing an idle connection before the head arrived makes the write fail (EPIPE).
///
/// A clean EOF, a timeout or any byte from the daemon is never retried (the app may have run),
/// and nothing was read from the client yet, so the resent request is the same request.
/// `ap_setup_client_block` was called. `error_override` (`WSGIErrorOverride On`): a 4xx/5xx
/// response head from the daemon is not relayed; its body is read and dropped, and the status
/// is returned for Apache to answer with its own error document (`ErrorDocument`).
/// `sendfile`: `WSGIEnableSendfile` (files the daemon passes may go out with kernel sendfile).
pub fn forward(
    r: Request,
    g: &DaemonGroup,
    env: &Environ<'_>,
    meta: &mut RequestMeta,
    error_override: bool,
    sendfile: bool,
) -> Status {
    let name = &g.opts.name;
    if g.opts.threads == 0 {
        // mod_wsgi leaves such a request waiting on a socket nobody accepts until it times out.
        r.log(
            LogLevel::Error,
            &wsgi_rs_core::coded!(
                "RWSGI0166",
                "WSGI daemon process group '{name}' has threads=0 (service scripts only) and serves no requests."
            ),
        );
        return Status::INTERNAL_SERVER_ERROR;
    }
    if let Some(rule) = g.script_owner
        && let Err(why) = check_script_owner(rule, r.filename())
    {
        r.log(
            LogLevel::Error,
            &wsgi_rs_core::coded!(
                "RWSGI0160",
                "Refusing to run '{}' in WSGI daemon process group '{name}': {why}.",
                String::from_utf8_lossy(r.filename())
            ),
        );
        return Status::FORBIDDEN;
    }
    let sock = g.socket_path.to_string_lossy();
    // The server's Timeout is in µs.
    let server_timeout = r.server_timeout_us() / 1_000_000;
    let timeout = Duration::from_secs(g.opts.socket_timeout.unwrap_or(server_timeout.max(1) as u64).max(1));
    let mut io = ApacheIo::new(r, sendfile).unmapped();
    // relay_frames takes ResponseFile frames (a file's descriptor passed by the daemon).
    meta.fdpass = true;
    // The body's first window goes with the head (see `push_window`), read before the
    // connection is taken: a slow client holds no daemon thread while it uploads it.
    let mut window = Vec::new();
    let (filled, end) = push_window(r, g, &mut io, &mut window);
    let mut tail = Vec::new();
    if filled > 0 {
        meta.pushed = Pushed::Chunk;
    }
    if let Some(end) = end {
        wire::encode(&end, &mut tail);
        meta.pushed = if filled > 0 { Pushed::ChunkEnd } else { Pushed::End };
    }
    let chunk_head = wire::chunk_header(T_BODY_CHUNK, filled);
    let chunk_head: &[u8] = if filled > 0 { &chunk_head } else { &[] };
    meta.queue_start_us = now_us();
    // This thread's request-head buffer (a fresh 4 KiB one per request made glibc consolidate
    // its heap: every allocation past 1 KiB does when small chunks are free).
    let mut out = HEAD_OUT.take();
    out.clear();
    out.reserve(4096);
    let mut nums = MetaNums::default();
    let pairs = meta.pairs(&mut nums);
    wire::encode_request_head(
        &g.token,
        env.vars.iter().map(|(k, v)| (k.as_bytes(), v.as_ref())),
        pairs.iter().copied(),
        &mut out,
    );
    // Apache worker threads are long-lived: keep one relay buffer per thread instead of
    // allocating and clearing 64 KiB for every request.
    let mut buf = RELAY_BUF.with(|b| std::mem::take(&mut *b.borrow_mut()));
    if buf.len() < RELAY_PIECE {
        buf = vec![0u8; RELAY_PIECE];
    }
    // response-socket-timeout (else socket-timeout, else Apache's Timeout as it is): how long a
    // write of the response to the client may block (mod_wsgi's rule), restored afterwards.
    let response_timeout = g.opts.response_socket_timeout.or(g.opts.socket_timeout);
    let restore = response_timeout.and_then(|t| r.swap_client_socket_timeout((t as i64).saturating_mul(1_000_000)));
    let mut attempt = 1;
    let socket = g.socket_path.as_bytes();
    // First an idle connection of this child's pool (protocol v2), if any; a request it refuses
    // unread goes on a new connection, without counting as an attempt.
    let mut pooled = pool::take(socket);
    let status = loop {
        let from_pool = pooled.is_some();
        let mut conn = match pooled.take() {
            Some(c) => c,
            None => match connect(g) {
                Ok(s) => Conn::new(s),
                Err(e) => {
                    r.log(
                        LogLevel::Error,
                        &wsgi_rs_core::coded!(
                            "RWSGI0110",
                            "Unable to connect to WSGI daemon process '{name}' on '{sock}' as uid {}: {e}",
                            // SAFETY: getuid has no preconditions.
                            unsafe { libc::getuid() }
                        ),
                    );
                    break Status::SERVICE_UNAVAILABLE;
                }
            },
        };
        conn.set_timeout(timeout);
        let stream = &conn.stream;
        let may_resend = from_pool || attempt < MAX_ATTEMPTS;
        let unread = match write_parts(&conn.stream, &[&out, chunk_head, &window[..filled], &tail]) {
            Err(e) if !may_resend || !matches!(e.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET)) => {
                r.log(
                    LogLevel::Error,
                    &wsgi_rs_core::coded!(
                        "RWSGI0111",
                        "Cannot send the request to WSGI daemon process '{name}' on '{sock}': {e}"
                    ),
                );
                break Status::BAD_GATEWAY;
            }
            Err(e) => e,
            Ok(()) => match relay(r, g, &mut io, stream, &mut buf, timeout, may_resend, error_override) {
                Relay::Done(status, reusable) => {
                    if reusable {
                        pool::give_back(socket, conn);
                    }
                    break status;
                }
                Relay::Unread(e) => e,
            },
        };
        if from_pool {
            // The daemon process closed this idle connection (recycled, restarted, killed)
            // before reading the request: the normal end of a pooled connection.
            r.log(
                LogLevel::Info,
                &wsgi_rs_core::coded!(
                    "RWSGI0180",
                    "Idle connection to WSGI daemon process '{name}' on '{sock}' was closed by the daemon before it read the request ({unread}); sending it on a new connection."
                ),
            );
            continue;
        }
        r.log(
            LogLevel::Warning,
            &wsgi_rs_core::coded!(
                "RWSGI0125", "WSGI daemon process '{name}' on '{sock}' closed the connection without reading the request ({unread}); it did not run, sending it again (attempt {} of {MAX_ATTEMPTS}).",
                attempt + 1
            ),
        );
        attempt += 1;
    };
    RELAY_BUF.with(|b| *b.borrow_mut() = buf);
    if out.capacity() <= 16 * 1024 {
        HEAD_OUT.set(out);
    }
    if let Some(old) = restore {
        r.swap_client_socket_timeout(old);
    }
    status
}

thread_local! {
    static RELAY_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The encoded request head, one per Apache worker thread (kept up to 16 KiB).
    static HEAD_OUT: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
    /// The relay's frame-reader buffer ([`LentReader`]), one per Apache worker thread.
    static READ_BUF_KEPT: std::cell::Cell<Option<Box<[u8]>>> = const { std::cell::Cell::new(None) };
}

/// The relay's reader, over this thread's [`READ_BUF`]-byte buffer (allocated once per thread,
/// not zeroed per request), given back when the relay ends.
struct LentReader<'a>(FdReader<'a>);

impl<'a> LentReader<'a> {
    fn new(stream: &'a UnixStream) -> Self {
        let buf = READ_BUF_KEPT.take().unwrap_or_else(|| vec![0u8; READ_BUF].into_boxed_slice());
        LentReader(FdReader::with_buffer(FdSource::new(stream.as_fd()), buf))
    }
}

impl Drop for LentReader<'_> {
    fn drop(&mut self) {
        READ_BUF_KEPT.set(Some(self.0.take_buffer()));
    }
}

impl<'a> std::ops::Deref for LentReader<'a> {
    type Target = FdReader<'a>;
    fn deref(&self) -> &FdReader<'a> {
        &self.0
    }
}

impl std::ops::DerefMut for LentReader<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// How much of the request body goes to the daemon with the request head, unasked. A body up
/// to this size (the common form post, a JSON API call) costs no `BodyRequest` round trip;
/// a larger one is pulled after it as the application reads, as before.
const PUSH_WINDOW: usize = 64 * 1024;

/// Reads the body's first window from the client into `window`, for `forward` to send with
/// the head. Returns how many bytes, and the frame that ends the body when it ended within the
/// window (`BodyEnd`, or `BodyError` if reading failed), else None (the rest is pulled).
///
/// Only a body with a Content-Length is pushed (as mod_proxy_http prefetches one), and not
/// when the client sent `Expect: 100-continue`: then `100 Continue` goes out only when the
/// application reads `wsgi.input`, as in embedded mode (reading here would send it for every
/// such request). A chunked body is pulled as the application reads it, so a duplex client
/// that sends its body only after it saw output (the application streams before it reads)
/// keeps working.
fn push_window(r: Request, g: &DaemonGroup, io: &mut ApacheIo, window: &mut Vec<u8>) -> (usize, Option<Frame>) {
    if !r.has_sized_body() || r.expecting_100() {
        return (0, None);
    }
    // Sized to the body, up to the window, per request: a buffer kept per Apache worker thread
    // would hold 64 KiB in each thread that ever forwarded a POST.
    let want = usize::try_from(r.body_remaining()).unwrap_or(0).clamp(1, PUSH_WINDOW);
    window.resize(want, 0);
    let mut filled = 0;
    while filled < want {
        match io.read(&mut window[filled..want]) {
            Ok(0) => return (filled, Some(Frame::BodyEnd)),
            Ok(n) => filled += n,
            Err(e) => {
                r.log(
                    LogLevel::Error,
                    &wsgi_rs_core::coded!(
                        "RWSGI0117",
                        "Request data read error when proxying data to WSGI daemon process '{}': {e}",
                        g.opts.name
                    ),
                );
                return (filled, Some(Frame::BodyError(e.to_string())));
            }
        }
        // A Content-Length body read to its end: known without another read.
        if r.body_read_to_end() {
            return (filled, Some(Frame::BodyEnd));
        }
    }
    (filled, None)
}

/// Writes `parts` in order, whole (writev: the request head and its pushed body in one call).
fn write_parts(stream: &UnixStream, parts: &[&[u8]]) -> std::io::Result<()> {
    let mut slices: Vec<std::io::IoSlice<'_>> =
        parts.iter().filter(|p| !p.is_empty()).map(|p| std::io::IoSlice::new(p)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match (&*stream).write_vectored(rest) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => std::io::IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// How a conversation with the daemon ended.
enum Relay {
    /// The handler's status, and whether the connection may carry another request (the
    /// response ended with `ResponseEnd` and nothing more was received).
    Done(Status, bool),
    /// The daemon closed the connection without reading the whole request head (ECONNRESET
    /// before any byte from it): the request did not run and may be sent again.
    Unread(std::io::Error),
}

/// The conversation after the request head: answers body requests, relays the response.
/// `may_resend`: report an unread request as `Relay::Unread` instead of answering 502.
// As relay_frames.
#[allow(clippy::too_many_arguments)]
fn relay(
    r: Request,
    g: &DaemonGroup,
    io: &mut ApacheIo,
    stream: &UnixStream,
    buf: &mut [u8],
    timeout: Duration,
    may_resend: bool,
    error_override: bool,
) -> Relay {
    let mut unread = None;
    let mut reusable = false;
    let status =
        relay_frames(r, g, io, stream, buf, timeout, may_resend.then_some(&mut unread), error_override, &mut reusable);
    match unread {
        Some(e) => Relay::Unread(e),
        None => Relay::Done(status, reusable),
    }
}

/// `unread`: where to put the error when the daemon reset the connection before sending any
/// byte (then the returned status means nothing); `None`: answer 502 as for any lost daemon.
/// `reusable` is set when the conversation ended at `ResponseEnd` with no byte left unread.
// The relay loop's whole context (request, group, stream, buffers, limits, the two per-request
// flags and the reuse verdict); a struct for them would only rename the same eight values.
#[allow(clippy::too_many_arguments)]
fn relay_frames(
    r: Request,
    g: &DaemonGroup,
    io: &mut ApacheIo,
    stream: &UnixStream,
    buf: &mut [u8],
    timeout: Duration,
    mut unread: Option<&mut Option<std::io::Error>>,
    error_override: bool,
    reusable: &mut bool,
) -> Status {
    // Small frames (heads, chunk headers, the end marker) come in one read instead of two per
    // frame; large chunk payloads bypass this buffer. It receives the descriptors passed with
    // ResponseFile frames (a plain read() would close them).
    let mut rd = LentReader::new(stream);
    let mut first_frame = true;
    let name = &g.opts.name;
    let sock = g.socket_path.to_string_lossy();
    let mut head_sent = false;
    let mut unflushed = 0usize;
    // The daemon's framing, checked here again (it is less trusted than Apache): its declared
    // Content-Length and what was relayed of the body so far.
    let mut limit = framing::BodyLimit::new(None);
    let head_request = r.header_only();
    let mut body_expected = true;
    // WSGIErrorOverride: the error status of a head that was not relayed; the body that
    // follows is read and dropped, then this status goes to Apache.
    let mut overridden: Option<Status> = None;
    // How long the client connection's blocking writes may take (set in `forward`): a write or
    // flush that fails after about that long timed out (the client stopped reading).
    let write_limit = g
        .opts
        .response_socket_timeout
        .or(g.opts.socket_timeout)
        .map_or(Duration::from_micros(r.server_timeout_us().max(0) as u64), Duration::from_secs);
    let mut write_timed_out = false;
    let flush_delay = g.opts.response_flush_delay_ms;
    // A flush point was passed over (response-flush-delay) because more came at once.
    let mut flush_deferred = false;
    // What to do when the conversation with the daemon breaks.
    let broken = |head_sent: bool, status: Status| -> Status {
        if head_sent {
            // 500 if nothing reached the client yet, else the response is cut.
            abort_response(r)
        } else {
            status
        }
    };
    loop {
        // response-buffer-size: force a flush once that much was written without one.
        let flush_every = g.opts.response_buffer_size as usize;
        let frame = match read_frame(&mut rd, buf, head_sent || overridden.is_some(), &mut |body| {
            if overridden.is_some() {
                return Ok(true);
            }
            let t0 = Instant::now();
            let wrote = match body {
                Body::Bytes(piece) => {
                    // Never more body than the head declared: the rest is dropped (and logged).
                    let piece = &piece[..limit.admit(piece.len())];
                    if piece.is_empty() {
                        return Ok(true);
                    }
                    let mut wrote = io.write(piece);
                    unflushed += piece.len();
                    if wrote.is_ok() && unflushed >= flush_every {
                        unflushed = 0;
                        wrote = io.flush();
                    }
                    wrote.map(|_| true)
                }
                Body::File(fd, offset, len) => {
                    // Clipped to the declared Content-Length as chunks are (the rest counts as
                    // dropped). Sent as a file bucket on a descriptor of our own, reopened
                    // from the passed one (ApacheIo::send_file: its own file offset), with a
                    // FLUSH: what ap_rwrite held goes first.
                    let n = limit.room(len);
                    if n == 0 {
                        limit.admit(len as usize);
                        return Ok(true);
                    }
                    let sent = io.send_file(fd.as_raw_fd(), offset, n);
                    if let Ok(true) = sent {
                        limit.admit(len as usize);
                        unflushed = 0;
                        r.log(
                            LogLevel::Debug,
                            &wsgi_rs_core::coded!(
                                "RWSGI0186",
                                "Sent {n} bytes of a file passed by WSGI daemon process '{name}' as a file bucket."
                            ),
                        );
                    } else if let Ok(false) = sent {
                        // Not reopenable by this user (readable by the daemon's user only):
                        // read_frame copies it from the passed descriptor with pread, through
                        // Body::Bytes. Not the passed descriptor as a file bucket: it shares
                        // its file offset with the app's file object in the daemon, and APR
                        // reads a file bucket that does not go out by sendfile (h2, filters,
                        // EnableSendfile Off, files over the mmap limit) with lseek + read, so
                        // the app's seek() after the send would race with those reads.
                        r.log(
                            LogLevel::Debug,
                            &wsgi_rs_core::coded!(
                                "RWSGI0187",
                                "Cannot reopen the file passed by WSGI daemon process '{name}' as this user: copying its {len} bytes."
                            ),
                        );
                    }
                    sent
                }
            };
            if wrote.is_err() && t0.elapsed() + Duration::from_millis(500) >= write_limit {
                write_timed_out = true;
            }
            wrote.map_err(|_| Broken::ClientGone)
        }) {
            Ok(f) => f,
            Err(Broken::Reset(e)) if first_frame && unread.is_some() => {
                if let Some(u) = unread.take() {
                    *u = Some(e);
                }
                return Status::BAD_GATEWAY;
            }
            Err(Broken::ClientGone) if write_timed_out => {
                r.log(
                    LogLevel::Error,
                    &wsgi_rs_core::coded!(
                        "RWSGI0163", "The client did not read the response from WSGI daemon process '{name}' for {} s (response-socket-timeout); response cut, the daemon's thread released.",
                        write_limit.as_secs()
                    ),
                );
                return Status::OK;
            }
            Err(Broken::ClientGone) => {
                r.log(
                    LogLevel::Info,
                    &wsgi_rs_core::coded!(
                        "RWSGI0041",
                        "Client closed the connection while a response from daemon process '{name}' was sent."
                    ),
                );
                return Status::OK;
            }
            Err(Broken::Timeout) => {
                r.log(
                    LogLevel::Error,
                    &wsgi_rs_core::coded!(
                        "RWSGI0116", "Timeout when reading the response from WSGI daemon process '{name}' on '{sock}' (socket-timeout {} s).",
                        timeout.as_secs()
                    ),
                );
                return broken(head_sent, Status::GATEWAY_TIME_OUT);
            }
            Err(Broken::Io(e) | Broken::Reset(e)) => {
                r.log(
                    LogLevel::Error,
                    &wsgi_rs_core::coded!(
                        "RWSGI0111",
                        "Error reading the response from WSGI daemon process '{name}' on '{sock}': {e}"
                    ),
                );
                return broken(head_sent, Status::BAD_GATEWAY);
            }
            Err(Broken::Protocol(e)) => {
                r.log(
                    LogLevel::Error,
                    &wsgi_rs_core::coded!(
                        "RWSGI0113",
                        "Malformed response from WSGI daemon process '{name}' on '{sock}': {e}"
                    ),
                );
                return broken(head_sent, Status::BAD_GATEWAY);
            }
            Err(Broken::BadFile(e)) => {
                r.log(
                    LogLevel::Error,
                    &wsgi_rs_core::coded!(
                        "RWSGI0185",
                        "Cannot relay the file passed by WSGI daemon process '{name}' on '{sock}': {e}."
                    ),
                );
                return broken(head_sent, Status::BAD_GATEWAY);
            }
        };
        first_frame = false;
        match frame {
            // A response chunk was relayed piece by piece inside read_frame.
            Some(None) => {}
            Some(Some(Frame::BodyRequest(max))) => {
                // The application reads the request after output it flushed: that output goes
                // out before we wait for the client (which may wait for it).
                if std::mem::take(&mut flush_deferred) {
                    unflushed = 0;
                    let _ = io.flush();
                }
                let max = (max as usize).min(buf.len());
                let reply = match io.read(&mut buf[..max]) {
                    Ok(0) => (&*stream).write_all(&[wire::T_BODY_END, 0, 0, 0, 0]),
                    Ok(n) => (&*stream)
                        .write_all(&wire::chunk_header(T_BODY_CHUNK, n))
                        .and_then(|_| (&*stream).write_all(&buf[..n])),
                    Err(e) => {
                        r.log(
                            LogLevel::Error,
                            &wsgi_rs_core::coded!(
                                "RWSGI0117",
                                "Request data read error when proxying data to WSGI daemon process '{name}': {e}"
                            ),
                        );
                        let mut b = Vec::new();
                        wire::encode(&Frame::BodyError(e.to_string()), &mut b);
                        (&*stream).write_all(&b)
                    }
                };
                if let Err(e) = reply {
                    r.log(
                        LogLevel::Error,
                        &wsgi_rs_core::coded!(
                            "RWSGI0111",
                            "Cannot send request data to WSGI daemon process '{name}': {e}"
                        ),
                    );
                    return broken(head_sent, Status::BAD_GATEWAY);
                }
            }
            Some(Some(Frame::ResponseHead { code, status, headers })) => {
                if head_sent || overridden.is_some() {
                    r.log(
                        LogLevel::Error,
                        &wsgi_rs_core::coded!(
                            "RWSGI0113",
                            "Second response head from WSGI daemon process '{name}' on '{sock}'."
                        ),
                    );
                    return broken(head_sent, Status::BAD_GATEWAY);
                }
                let framing = match framing::check_daemon_head(code, &status, &headers) {
                    Ok(f) => f,
                    Err(e) => {
                        r.log(
                            LogLevel::Error,
                            &wsgi_rs_core::coded!(
                                "RWSGI0123",
                                "Invalid response head from WSGI daemon process '{name}' on '{sock}': {e}."
                            ),
                        );
                        return Status::BAD_GATEWAY;
                    }
                };
                if error_override && (400..600).contains(&code) {
                    // As mod_wsgi (and ProxyErrorOverride): Apache's error response, made
                    // after our handler returns, replaces the app's head and body. Of the
                    // app's headers only WWW-Authenticate stays (mod_wsgi keeps it in
                    // err_headers_out, which an error response sends), so a 401 still asks
                    // for credentials.
                    for (k, v) in headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(b"www-authenticate")) {
                        r.err_headers_out().add(k, v);
                    }
                    overridden = Some(Status::from_raw(code as std::ffi::c_int));
                    continue;
                }
                limit = framing::BodyLimit::new(framing.content_length);
                body_expected = framing::body_expected(code, head_request);
                let limit = g.opts.header_buffer_size as usize;
                if let Some((k, v)) = headers.iter().find(|(k, v)| k.len() + v.len() + 2 > limit) {
                    r.log(
                        LogLevel::Error,
                        &wsgi_rs_core::coded!(
                            "RWSGI0122", "Response header '{}' from WSGI daemon process '{name}' is {} bytes, over header-buffer-size={limit}.",
                            String::from_utf8_lossy(k),
                            k.len() + v.len() + 2
                        ),
                    );
                    return Status::INTERNAL_SERVER_ERROR;
                }
                if io
                    .send_head(&ResponseHead { status, code, headers, content_length: framing.content_length })
                    .is_err()
                {
                    return Status::BAD_GATEWAY;
                }
                head_sent = true;
            }
            // Nothing goes to the client while the body is dropped (a flush would send a head).
            Some(Some(Frame::Flush)) if overridden.is_some() => {}
            Some(Some(Frame::Flush)) => {
                // response-flush-delay: flush only when the daemon stays silent that long, so
                // a pacing filter (mod_ratelimit) gets full writes while streaming still flows.
                // (Frames already in the read buffer: the daemon is not silent.)
                if flush_delay == 0 || (rd.buffer().is_empty() && !readable_within(stream, flush_delay)) {
                    unflushed = 0;
                    flush_deferred = false;
                    let _ = io.flush();
                } else if head_sent {
                    flush_deferred = true;
                    // Not flushed, but passed on (as mod_wsgi passes each read): what
                    // ap_rwrite holds goes down the chain, so the head is committed where a
                    // flush would have committed it (an error after it is then a cut, not a
                    // 500), and only the FLUSH that forces a short write is left out.
                    let mut bb = r.brigade();
                    r.pass_brigade(&mut bb);
                }
            }
            Some(Some(Frame::ResponseEnd)) => {
                if let Some(code) = overridden {
                    *reusable = rd.buffer().is_empty() && rd.pending_fds() == 0;
                    return code;
                }
                if !head_sent {
                    r.log(
                        LogLevel::Error,
                        &wsgi_rs_core::coded!(
                            "RWSGI0113",
                            "WSGI daemon process '{name}' on '{sock}' ended a response it never started."
                        ),
                    );
                    return Status::BAD_GATEWAY;
                }
                if limit.dropped > 0 {
                    r.log(
                        LogLevel::Error,
                        &wsgi_rs_core::coded!(
                            "RWSGI0124", "WSGI daemon process '{name}' sent {} bytes beyond its Content-Length {}; they were dropped.",
                            limit.dropped,
                            limit.declared.unwrap_or(0)
                        ),
                    );
                }
                if let Some(cl) = limit.short().filter(|_| body_expected) {
                    r.log(
                        LogLevel::Error,
                        &wsgi_rs_core::coded!(
                            "RWSGI0124", "Response from WSGI daemon process '{name}' ended after {} of the {cl} bytes its Content-Length declares; connection closed.",
                            limit.relayed
                        ),
                    );
                    // What was relayed goes out, then the connection is cut.
                    cut_response(r);
                }
                *reusable = rd.buffer().is_empty() && rd.pending_fds() == 0;
                return Status::OK;
            }
            // After an overridden error head (nothing relayed yet), Apache's error document
            // still applies.
            Some(Some(Frame::ResponseAbort(_))) => return overridden.unwrap_or_else(|| broken(true, Status::OK)),
            Some(Some(Frame::ResponseError { code, .. })) => {
                let code = if (400..600).contains(&code) {
                    Status::from_raw(code as std::ffi::c_int)
                } else {
                    Status::INTERNAL_SERVER_ERROR
                };
                return broken(head_sent, code);
            }
            Some(Some(_)) => {
                r.log(
                    LogLevel::Error,
                    &wsgi_rs_core::coded!(
                        "RWSGI0113",
                        "Unexpected frame from WSGI daemon process '{name}' on '{sock}'."
                    ),
                );
                return broken(head_sent, Status::BAD_GATEWAY);
            }
            None => {
                r.log(
                    LogLevel::Error,
                    &wsgi_rs_core::coded!(
                        "RWSGI0111", "WSGI daemon process '{name}' on '{sock}' closed the connection before sending the complete response{}.",
                        if head_sent { "" } else { " headers" }
                    ),
                );
                return broken(head_sent, Status::BAD_GATEWAY);
            }
        }
    }
}

/// Whether the daemon sent more within `ms` milliseconds (or closed the connection).
fn readable_within(stream: &UnixStream, ms: u64) -> bool {
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd { fd: stream.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: polls one descriptor we hold open, for at most `ms` milliseconds.
    unsafe { libc::poll(&mut pfd, 1, ms.min(60_000) as libc::c_int) > 0 }
}

/// Response chunks are relayed to the client in pieces of this size (no per-chunk allocation).
const RELAY_PIECE: usize = 64 * 1024;

enum Broken {
    ClientGone,
    Timeout,
    Io(std::io::Error),
    /// ECONNRESET at the start of a frame (no byte of it received).
    Reset(std::io::Error),
    Protocol(String),
    /// The file of a ResponseFile frame is not a regular file or is shorter than announced.
    BadFile(String),
}

/// Response body from the daemon, for `read_frame`'s relay callback.
enum Body<'a> {
    /// Bytes of a ResponseChunk (or of a file being copied).
    Bytes(&'a [u8]),
    /// A ResponseFile: its descriptor (checked: a regular file that holds the range), offset
    /// and length. The callback answers `Ok(false)` to have `read_frame` copy it as `Bytes`.
    File(&'a OwnedFd, u64, u64),
}

fn io_broken(e: std::io::Error) -> Broken {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Broken::Timeout,
        _ => Broken::Io(e),
    }
}

/// Capacity of the buffered reader over the daemon connection.
const READ_BUF: usize = 8 * 1024;

/// Reads one frame from the daemon. `Ok(None)`: clean end of stream; `Ok(Some(None))`: a
/// response chunk or file, already passed to `relay` (a chunk piece by piece through `buf`);
/// otherwise the frame. `relay` answers `Ok(true)` when it took the body.
fn read_frame(
    stream: &mut FdReader<'_>,
    buf: &mut [u8],
    head_sent: bool,
    relay: &mut dyn FnMut(Body<'_>) -> Result<bool, Broken>,
) -> Result<Option<Option<Frame>>, Broken> {
    let mut hdr = [0u8; wire::HEADER_LEN];
    let mut got = 0;
    while got < hdr.len() {
        match stream.read(&mut hdr[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(Broken::Io(std::io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if got == 0 && e.kind() == std::io::ErrorKind::ConnectionReset => return Err(Broken::Reset(e)),
            Err(e) => return Err(io_broken(e)),
        }
    }
    let len = u32::from_be_bytes([hdr[1], hdr[2], hdr[3], hdr[4]]) as usize;
    if hdr[0] == wire::T_RESPONSE_CHUNK {
        if !head_sent {
            return Err(Broken::Protocol("response body before the response head".into()));
        }
        if len == 0 || len > wire::MAX_CHUNK {
            return Err(Broken::Protocol(format!("response chunk of {len} bytes")));
        }
        let mut left = len;
        let mut client_ok = true;
        while left > 0 {
            let n = left.min(buf.len());
            stream.read_exact(&mut buf[..n]).map_err(io_broken)?;
            if client_ok && relay(Body::Bytes(&buf[..n])).is_err() {
                client_ok = false;
            }
            left -= n;
        }
        return if client_ok { Ok(Some(None)) } else { Err(Broken::ClientGone) };
    }
    // Every other frame is small (heads are bounded by MAX_HEAD): decode it whole.
    if len > wire::MAX_HEAD {
        return Err(Broken::Protocol(format!("frame of {len} bytes")));
    }
    let mut whole = Vec::with_capacity(hdr.len() + len);
    whole.extend_from_slice(&hdr);
    whole.resize(hdr.len() + len, 0);
    stream.read_exact(&mut whole[hdr.len()..]).map_err(io_broken)?;
    match wire::decode(&whole) {
        Ok(Some((Frame::ResponseFile { offset, len }, _))) => {
            // Its descriptor came with the frame's bytes, or before them (wire::fds).
            let Some(fd) = stream.take_fd() else {
                return Err(Broken::Protocol("ResponseFile frame without a descriptor".into()));
            };
            if !head_sent {
                return Err(Broken::Protocol("response body before the response head".into()));
            }
            relay_file(&fd, offset, len, buf, relay).map(|_| Some(None))
        }
        Ok(Some((f, _))) => Ok(Some(Some(f))),
        Ok(None) => Err(Broken::Protocol("truncated frame".into())),
        Err(e) => Err(Broken::Protocol(e.to_string())),
    }
}

/// A ResponseFile's body: the descriptor is checked (a regular file holding `offset..offset +
/// len`: the daemon does not frame HTTP), then offered to `relay` as a file, else copied to it
/// with `pread` (explicit offsets: the description's offset, shared with the daemon's file
/// object, is neither used nor moved). A file that ends early while copied is `BadFile`.
fn relay_file(
    fd: &OwnedFd,
    offset: u64,
    len: u64,
    buf: &mut [u8],
    relay: &mut dyn FnMut(Body<'_>) -> Result<bool, Broken>,
) -> Result<(), Broken> {
    // SAFETY: fstat writes into `st`, plain data; `fd` is open (we own it).
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(Broken::BadFile(format!("fstat failed: {}", std::io::Error::last_os_error())));
    }
    if (st.st_mode & libc::S_IFMT) != libc::S_IFREG {
        return Err(Broken::BadFile("not a regular file".into()));
    }
    // The frame's decoding guarantees offset + len <= i64::MAX.
    let (end, size) = (offset + len, st.st_size.max(0) as u64);
    if end > size {
        return Err(Broken::BadFile(format!(
            "bytes {offset}..{end} announced, the file has {size} bytes (truncated?)"
        )));
    }
    if relay(Body::File(fd, offset, len))? {
        return Ok(());
    }
    let mut off = offset;
    while off < end {
        let want = ((end - off) as usize).min(buf.len());
        // SAFETY: pread into `buf`, which is valid for `want` bytes; `fd` is open.
        let n = unsafe { libc::pread(fd.as_raw_fd(), buf.as_mut_ptr().cast(), want, off as libc::off_t) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Broken::BadFile(format!("reading it failed: {e}")));
        }
        if n == 0 {
            return Err(Broken::BadFile(format!("it ended at byte {off} of the {end} announced (truncated)")));
        }
        relay(Body::Bytes(&buf[..n as usize]))?;
        off += n as u64;
    }
    Ok(())
}
