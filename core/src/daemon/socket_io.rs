//! [`RequestIo`] over the daemon's end of a connection from an Apache child: the body's first
//! window comes with the head (`PushedBody`), the rest is pulled chunk by chunk
//! (`BodyRequest`), so neither side ever buffers a whole body and the two can never both block
//! writing.
use std::cell::RefCell;
use std::io::{self, IoSlice, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::meta::Pushed;
use crate::hostlog::host_log;
use crate::wire::{self, Frame, FrameReader, MAX_CHUNK, T_RESPONSE_CHUNK, fds};
use crate::wsgi::{LogLevel, RequestIo, ResponseHead};

/// The connection, shared by the reader and the writer of one request (no descriptor is
/// duplicated per request; the worker keeps its own reference for the next request).
pub struct Shared(pub Arc<UnixStream>);

impl io::Read for Shared {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The body frames that came with the request head (`meta::Pushed`), read before the
/// application started; `read` serves them before it pulls anything.
#[derive(Default)]
pub struct PushedBody {
    pub data: Vec<u8>,
    /// How much of `data` the application has read.
    pub pos: usize,
    /// `Some`: the body ends after `data` (`Some(Some(message))`: with a read error).
    pub end: Option<Option<String>>,
}

impl PushedBody {
    /// Reads the body frames the head announced (`pushed`), and nothing past them: one
    /// `BodyChunk` and/or one `BodyEnd`/`BodyError`, in that order. Anything else is an error
    /// (the request is refused).
    pub fn read<R: io::Read>(reader: &mut FrameReader<R>, pushed: Pushed) -> Result<Self, String> {
        let mut body = PushedBody::default();
        let mut next = || match reader.read_frame() {
            Ok(Some(f)) => Ok(f),
            Ok(None) => Err("the connection ended before the pushed request body".to_string()),
            Err(e) => Err(e.to_string()),
        };
        let name = |f: &Frame| wire::kind_name(f.kind()).unwrap_or("?");
        if pushed.has_chunk() {
            match next()? {
                Frame::BodyChunk(d) => body.data = d,
                f => return Err(format!("pushed request body: {} instead of BodyChunk", name(&f))),
            }
        }
        if pushed.has_end() {
            body.end = Some(match next()? {
                Frame::BodyEnd => None,
                Frame::BodyError(m) => Some(m),
                f => return Err(format!("pushed request body: {} instead of its end", name(&f))),
            });
        }
        Ok(body)
    }
}

/// Capacity of the response buffer: writes smaller than this are gathered (head, small chunks,
/// the end frame) into one `write`; a larger one goes out with what is buffered in one `writev`.
const OUT_CAP: usize = 64 * 1024;

thread_local! {
    /// The response buffer of this worker thread, lent to each request's [`SocketIo`] and given
    /// back by the worker ([`give_back_buffer`]) after the final write. Allocating and freeing
    /// 64 KiB per request made glibc consolidate its heap on every free; small responses now
    /// reuse one small buffer, and only a large response's buffer is freed.
    static OUT_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Largest response buffer a worker thread keeps between requests: enough for a small
/// response's head, body and end; a buffer grown past it (a large response) is freed, so idle
/// threads hold little (8 threads × 64 KiB would add half a MiB to every daemon process).
const KEEP_CAP: usize = 16 * 1024;

/// Returns a request's response buffer (emptied) for the next request on this thread.
pub fn give_back_buffer(mut b: Vec<u8>) {
    if b.capacity() <= KEEP_CAP {
        b.clear();
        OUT_BUF.with(|o| *o.borrow_mut() = b);
    }
}

/// A write buffer over the connection (what `BufWriter` did, on a lent buffer).
struct Out {
    buf: Vec<u8>,
    sock: Shared,
}

impl Out {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        if self.buf.len() + data.len() <= OUT_CAP {
            self.buf.extend_from_slice(data);
            return Ok(());
        }
        // What is buffered and `data` in one writev.
        let r = write_all_vectored(&self.sock.0, &mut [IoSlice::new(&self.buf), IoSlice::new(data)]);
        self.buf.clear();
        r
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let r = (&*self.sock.0).write_all(&self.buf);
        self.buf.clear();
        r
    }

    fn get_ref(&self) -> &Shared {
        &self.sock
    }

    fn get_mut(&mut self) -> &mut Shared {
        &mut self.sock
    }
}

/// Writes all of `parts` (empty ones allowed), retrying short writes.
fn write_all_vectored(s: &UnixStream, parts: &mut [IoSlice<'_>]) -> io::Result<()> {
    let mut rest = parts;
    IoSlice::advance_slices(&mut rest, 0);
    while !rest.is_empty() {
        match (&*s).write_vectored(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub struct SocketIo {
    reader: FrameReader<Shared>,
    pushed: PushedBody,
    writer: Out,
    body_done: bool,
    /// Shared with the monitor: once set, the monitor may no longer answer 504 for this request.
    head_sent: Arc<AtomicBool>,
    client: String,
    scratch: Vec<u8>,
    /// The status code of the head sent (for the status board).
    code: Arc<std::sync::atomic::AtomicU16>,
    /// Where the bytes still buffered when the request ends go (instead of a write of their
    /// own): the worker appends the final frame and sends both in one write, so a small
    /// response (head, body, end) reaches the Apache child in one piece.
    tail: Arc<Mutex<Vec<u8>>>,
    /// The Apache child takes `ResponseFile` (meta key `fdpass`): files go as descriptors.
    fdpass: bool,
}

impl SocketIo {
    pub fn new(
        stream: &Arc<UnixStream>,
        head_sent: Arc<AtomicBool>,
        client: String,
        code: Arc<std::sync::atomic::AtomicU16>,
        tail: Arc<Mutex<Vec<u8>>>,
        pushed: PushedBody,
        fdpass: bool,
    ) -> io::Result<Self> {
        Ok(SocketIo {
            fdpass,
            tail,
            pushed,
            reader: FrameReader::new(Shared(stream.clone())),
            writer: Out {
                // Grows as the response needs, up to OUT_CAP.
                buf: OUT_BUF.with(|o| std::mem::take(&mut *o.borrow_mut())),
                sock: Shared(stream.clone()),
            },
            body_done: false,
            head_sent,
            client,
            scratch: Vec::with_capacity(256),
            code,
        })
    }

    fn frame(&mut self, f: &Frame) -> io::Result<()> {
        self.scratch.clear();
        wire::encode(f, &mut self.scratch);
        self.writer.write_all(&self.scratch)
    }

    /// Sends the file as a `ResponseFile` frame with `fd` attached (`SCM_RIGHTS`), after the
    /// bytes still buffered and in the same `sendmsg`. `Ok(false)`: not possible here (not a
    /// regular file, or the kernel refused the descriptor for another reason than a broken
    /// connection: `ETOOMANYREFS`, an LSM's `EPERM`, ...); the buffered bytes went out and the
    /// caller copies the file instead. `len` is checked against the file's size now, as the
    /// copy would find out: the Apache child checks it again when it gets the descriptor.
    fn pass_file(&mut self, fd: RawFd, offset: u64, len: u64) -> io::Result<bool> {
        // SAFETY: fstat writes into `st`, plain data; `fd` is open for the call (RequestIo
        // contract of send_file).
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut st) } != 0 || (st.st_mode & libc::S_IFMT) != libc::S_IFREG {
            return Ok(false);
        }
        if offset.checked_add(len).is_none_or(|end| end > st.st_size.max(0) as u64) {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shorter than announced"));
        }
        // Take the buffered bytes (the head, usually) to send them with the frame.
        let stream = self.writer.get_ref().0.clone();
        let mut out = std::mem::take(&mut self.writer.buf);
        let before = out.len();
        wire::encode(&Frame::ResponseFile { offset, len }, &mut out);
        // SAFETY: `fd` stays open for the whole call (see above); the kernel duplicates it.
        let file = unsafe { BorrowedFd::borrow_raw(fd) };
        let r = match fds::send_with_fd(stream.as_fd(), &out, file) {
            // The descriptor went with the first `n` bytes; the rest follows plainly.
            Ok(n) => (&*stream).write_all(&out[n..]).map(|_| true),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN | libc::EAGAIN | libc::ETIMEDOUT)
                ) =>
            {
                Err(e)
            }
            Err(_) => (&*stream).write_all(&out[..before]).map(|_| false),
        };
        // The (lent) buffer stays this request's, empty.
        out.clear();
        self.writer.buf = out;
        r
    }
}

fn protocol(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

impl RequestIo for SocketIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.body_done || buf.is_empty() {
            return Ok(0);
        }
        let p = &mut self.pushed;
        if p.pos < p.data.len() {
            let n = buf.len().min(p.data.len() - p.pos);
            buf[..n].copy_from_slice(&p.data[p.pos..p.pos + n]);
            p.pos += n;
            return Ok(n);
        }
        if let Some(end) = p.end.take() {
            self.body_done = true;
            return match end {
                None => Ok(0),
                Some(msg) => Err(io::Error::new(io::ErrorKind::ConnectionAborted, msg)),
            };
        }
        let max = buf.len().min(MAX_CHUNK) as u32;
        self.frame(&Frame::BodyRequest(max))?;
        self.writer.flush()?;
        match self.reader.read_frame()? {
            Some(Frame::BodyChunk(data)) if data.len() <= buf.len() => {
                buf[..data.len()].copy_from_slice(&data);
                Ok(data.len())
            }
            Some(Frame::BodyEnd) => {
                self.body_done = true;
                Ok(0)
            }
            Some(Frame::BodyError(msg)) => {
                self.body_done = true;
                Err(io::Error::new(io::ErrorKind::ConnectionAborted, msg))
            }
            Some(_) => Err(protocol("unexpected frame from the Apache child while reading the request body")),
            None => Err(io::Error::new(io::ErrorKind::ConnectionAborted, "Apache child closed the connection")),
        }
    }

    fn take_prefetched(&mut self) -> Option<Vec<u8>> {
        let p = &mut self.pushed;
        if p.pos == 0 && !p.data.is_empty() {
            // `read` goes on with the end (or a pull) once `data` is empty.
            return Some(std::mem::take(&mut p.data));
        }
        None
    }

    fn send_head(&mut self, head: &ResponseHead) -> io::Result<()> {
        self.head_sent.store(true, Ordering::Release);
        self.code.store(head.code, Ordering::Relaxed);
        let f = Frame::ResponseHead { code: head.code, status: head.status.clone(), headers: head.headers.clone() };
        self.frame(&f)
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        for piece in data.chunks(MAX_CHUNK) {
            self.writer.write_all(&wire::chunk_header(T_RESPONSE_CHUNK, piece.len()))?;
            self.writer.write_all(piece)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.frame(&Frame::Flush)?;
        self.writer.flush()
    }

    /// A streamed chunk (a generator's item): what is buffered, the chunk and the flush marker
    /// in one `writev`.
    fn write_and_flush(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() || data.len() > MAX_CHUNK {
            self.write(data)?;
            return self.flush();
        }
        const FLUSH: [u8; wire::HEADER_LEN] = [wire::T_FLUSH, 0, 0, 0, 0];
        let head = wire::chunk_header(T_RESPONSE_CHUNK, data.len());
        let w = &mut self.writer;
        let r = write_all_vectored(
            &w.sock.0,
            &mut [IoSlice::new(&w.buf), IoSlice::new(&head), IoSlice::new(data), IoSlice::new(&FLUSH)],
        );
        w.buf.clear();
        r
    }

    fn send_file(&mut self, fd: RawFd, offset: u64, len: u64) -> io::Result<bool> {
        if len == 0 {
            return Ok(true);
        }
        // The Apache child serves the file from its descriptor (a file bucket: sendfile or
        // mmap there, no byte through this socket); else, or if that cannot be done, the bytes
        // are spliced into the socket as ResponseChunk frames.
        if self.fdpass && self.pass_file(fd, offset, len)? {
            return Ok(true);
        }
        self.writer.flush()?;
        let sock = self.writer.get_ref().0.as_raw_fd();
        let mut off = offset as libc::off_t;
        let mut left = len;
        while left > 0 {
            let piece = left.min(MAX_CHUNK as u64) as usize;
            self.writer.get_mut().write_all(&wire::chunk_header(T_RESPONSE_CHUNK, piece))?;
            let mut sent = 0usize;
            while sent < piece {
                // SAFETY: sendfile between two descriptors we hold open; `off` is advanced by it.
                let n = unsafe { libc::sendfile(sock, fd, &mut off, piece - sent) };
                if n < 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(e);
                }
                if n == 0 {
                    // The file shrank under us: the frame can no longer be completed.
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shorter than announced"));
                }
                sent += n as usize;
            }
            left -= piece as u64;
        }
        Ok(true)
    }

    fn log(&self, level: LogLevel, msg: &str) {
        host_log(level, &format!("[client {}] {msg}", self.client));
    }
}

impl Drop for SocketIo {
    fn drop(&mut self) {
        // Hand the unsent bytes to the worker (see `tail`) rather than writing them now.
        let buffered = std::mem::take(&mut self.writer.buf);
        *self.tail.lock().unwrap_or_else(|e| e.into_inner()) = buffered;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fds::FdReader;
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;

    fn io(fdpass: bool) -> (SocketIo, UnixStream, Arc<Mutex<Vec<u8>>>) {
        io_with(fdpass, PushedBody::default())
    }

    fn io_with(fdpass: bool, pushed: PushedBody) -> (SocketIo, UnixStream, Arc<Mutex<Vec<u8>>>) {
        let (a, b) = UnixStream::pair().unwrap();
        // A pull would wait for an answer that never comes: fail instead of hanging.
        a.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        let tail = Arc::new(Mutex::new(Vec::new()));
        let io = SocketIo::new(
            &Arc::new(a),
            Arc::new(AtomicBool::new(false)),
            "test".into(),
            Arc::new(std::sync::atomic::AtomicU16::new(0)),
            tail.clone(),
            pushed,
            fdpass,
        )
        .unwrap();
        (io, b, tail)
    }

    fn encoded(fs: &[Frame]) -> FrameReader<std::io::Cursor<Vec<u8>>> {
        let mut b = Vec::new();
        for f in fs {
            wire::encode(f, &mut b);
        }
        FrameReader::new(std::io::Cursor::new(b))
    }

    #[test]
    fn pushed_body_reads_exactly_what_the_head_announced() {
        let chunk = Frame::BodyChunk(b"abc".to_vec());
        let after = Frame::BodyRequest(9); // stands for whatever follows: must stay unread
        let mut r = encoded(&[chunk.clone(), Frame::BodyEnd, after.clone()]);
        let b = PushedBody::read(&mut r, Pushed::ChunkEnd).unwrap();
        assert_eq!((b.data.as_slice(), b.end), (&b"abc"[..], Some(None)));
        assert_eq!(r.read_frame().unwrap(), Some(after.clone()));
        let mut r = encoded(&[chunk.clone(), after.clone()]);
        let b = PushedBody::read(&mut r, Pushed::Chunk).unwrap();
        assert_eq!((b.data.as_slice(), b.end), (&b"abc"[..], None));
        assert_eq!(r.read_frame().unwrap(), Some(after.clone()));
        let mut r = encoded(&[Frame::BodyError("gone".into())]);
        let b = PushedBody::read(&mut r, Pushed::End).unwrap();
        assert_eq!((b.data.len(), b.end), (0, Some(Some("gone".to_string()))));
        let mut r = encoded(std::slice::from_ref(&after));
        let b = PushedBody::read(&mut r, Pushed::Nothing).unwrap();
        assert_eq!((b.data.len(), b.end), (0, None));
        assert_eq!(r.read_frame().unwrap(), Some(after));
    }

    #[test]
    fn pushed_body_refuses_what_the_head_did_not_announce() {
        // A missing chunk, a chunk where the end belongs, the stream ending, a wrong frame.
        assert!(PushedBody::read(&mut encoded(&[Frame::BodyEnd]), Pushed::ChunkEnd).is_err());
        assert!(PushedBody::read(&mut encoded(&[Frame::BodyChunk(b"x".to_vec())]), Pushed::End).is_err());
        assert!(PushedBody::read(&mut encoded(&[Frame::BodyChunk(b"x".to_vec())]), Pushed::ChunkEnd).is_err());
        assert!(PushedBody::read(&mut encoded(&[]), Pushed::Chunk).is_err());
        assert!(PushedBody::read(&mut encoded(&[Frame::ResponseEnd]), Pushed::End).is_err());
    }

    /// The application's reads are served from the pushed body first, then its end.
    #[test]
    fn reads_come_from_the_pushed_body_then_its_end() {
        let pushed = PushedBody { data: b"hello world".to_vec(), pos: 0, end: Some(None) };
        let (mut io, _b, _) = io_with(false, pushed);
        let mut buf = [0u8; 6];
        assert_eq!(io.read(&mut buf).unwrap(), 6);
        assert_eq!(&buf, b"hello ");
        assert_eq!(io.read(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"world");
        // The end came with the head: no BodyRequest goes out (the peer would block this).
        assert_eq!(io.read(&mut buf).unwrap(), 0);
        assert_eq!(io.read(&mut buf).unwrap(), 0);
        assert_eq!(io.take_prefetched(), None);
    }

    /// `wsgi.input` takes the pushed body whole (no copy); reads then go on with its end.
    #[test]
    fn the_pushed_body_is_handed_over_whole_once() {
        let pushed = PushedBody { data: b"hello".to_vec(), pos: 0, end: Some(None) };
        let (mut io, _b, _) = io_with(false, pushed);
        assert_eq!(io.take_prefetched().as_deref(), Some(&b"hello"[..]));
        assert_eq!(io.take_prefetched(), None);
        assert_eq!(io.read(&mut [0u8; 8]).unwrap(), 0);
    }

    fn head() -> ResponseHead {
        ResponseHead { status: b"200 OK".to_vec(), code: 200, headers: vec![], content_length: Some(10) }
    }

    fn file(bytes: &[u8]) -> std::fs::File {
        let path = std::env::temp_dir().join(format!("wsgi_rs-fdpass-{}-{bytes:?}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    /// Every frame on `peer` until it closes, with the descriptors that came along.
    fn frames(peer: &UnixStream) -> (Vec<Frame>, Vec<std::os::fd::OwnedFd>) {
        let mut r = FdReader::new(peer.as_fd(), 64);
        let mut bytes = Vec::new();
        r.read_to_end(&mut bytes).unwrap();
        let (mut out, mut rest) = (Vec::new(), &bytes[..]);
        while let Some((f, n)) = wire::decode(rest).unwrap() {
            out.push(f);
            rest = &rest[n..];
        }
        assert!(rest.is_empty());
        let fds = std::iter::from_fn(|| r.take_fd()).collect();
        (out, fds)
    }

    #[test]
    fn file_goes_as_descriptor_with_the_buffered_head() {
        let (mut io, peer, tail) = io(true);
        let f = file(b"0123456789abcdef");
        io.send_head(&head()).unwrap();
        assert!(io.send_file(f.as_raw_fd(), 3, 10).unwrap());
        drop(io);
        assert!(tail.lock().unwrap().is_empty(), "the head went with the descriptor");
        let (got, fds) = frames(&peer);
        assert!(matches!(&got[0], Frame::ResponseHead { code: 200, .. }));
        assert_eq!(got[1..], [Frame::ResponseFile { offset: 3, len: 10 }]);
        assert_eq!(fds.len(), 1);
        let passed = std::fs::File::from(fds.into_iter().next().unwrap());
        assert_eq!(passed.metadata().unwrap().ino(), f.metadata().unwrap().ino());
    }

    #[test]
    fn without_fdpass_the_file_goes_as_chunks() {
        let (mut io, peer, _) = io(false);
        let f = file(b"0123456789abcdef");
        io.send_head(&head()).unwrap();
        assert!(io.send_file(f.as_raw_fd(), 3, 10).unwrap());
        drop(io);
        let (got, fds) = frames(&peer);
        assert_eq!(got[1..], [Frame::ResponseChunk(b"3456789abc".to_vec())]);
        assert!(fds.is_empty());
    }

    #[test]
    fn a_range_past_the_end_is_refused_before_anything_is_sent() {
        let (mut io, peer, _) = io(true);
        let f = file(b"0123456789");
        io.send_head(&head()).unwrap();
        let e = io.send_file(f.as_raw_fd(), 3, 10).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        drop(io);
        let (got, fds) = frames(&peer);
        assert!(got.iter().all(|f| !matches!(f, Frame::ResponseFile { .. })) && fds.is_empty());
    }

    #[test]
    fn a_pipe_is_not_passed() {
        // (The core sends only regular files; a descriptor that is not one is left to the
        // copying path.)
        let (mut io, peer, tail) = io(true);
        let (r, w) = std::io::pipe().unwrap();
        drop(w);
        io.send_head(&head()).unwrap();
        assert!(!io.pass_file(r.as_raw_fd(), 0, 3).unwrap());
        drop(io);
        assert!(!tail.lock().unwrap().is_empty(), "the head is still buffered");
        drop(peer);
    }
}
