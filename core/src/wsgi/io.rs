//! The host boundary: what the WSGI runtime needs from the transport carrying one request.
use std::io;
use std::os::fd::RawFd;

pub use crate::hostlog::LogLevel;

/// Status and headers as validated by `start_response`, copied out of Python objects at call
/// time (never borrowed: see CVE-2014-0242).
#[derive(Debug, Clone, Default)]
pub struct ResponseHead {
    /// The full status line given by the app, e.g. `200 OK`.
    pub status: Vec<u8>,
    pub code: u16,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// The Content-Length checked by `framing::check_head` (the headers still carry it).
    pub content_length: Option<u64>,
}

impl ResponseHead {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes())).map(|(_, v)| v.as_slice())
    }
}

/// One request's transport. Every method is called **without the GIL** and from one thread at a
/// time (the runtime serialises calls through a mutex), possibly not the thread that created it.
pub trait RequestIo: Send {
    /// Reads request body bytes into `buf`; `Ok(0)` means the body is complete.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Sends status and headers; called once, before any body byte.
    fn send_head(&mut self, head: &ResponseHead) -> io::Result<()>;
    /// Sends body bytes (possibly buffered by the host).
    fn write(&mut self, data: &[u8]) -> io::Result<()>;
    /// Pushes everything written so far to the client.
    fn flush(&mut self) -> io::Result<()>;
    /// `write` then `flush`; hosts that can do both in one step override it.
    fn write_and_flush(&mut self, data: &[u8]) -> io::Result<()> {
        self.write(data)?;
        self.flush()
    }
    /// Request body bytes the host already holds (a daemon's pushed window), handed over whole
    /// as `wsgi.input`'s buffer instead of copied out by `read`; `read` continues after them.
    /// `None`: nothing held (the default).
    fn take_prefetched(&mut self) -> Option<Vec<u8>> {
        None
    }
    /// Sends `len` bytes of the regular file `fd` from `offset` without copying them through
    /// Python. `fd` stays owned by the caller and is only used during the call. `Ok(false)`: the
    /// host cannot, and the caller falls back to reading the file.
    fn send_file(&mut self, fd: RawFd, offset: u64, len: u64) -> io::Result<bool>;
    /// Whether the head has reached the client, so a failure now can only cut the response.
    /// `false` while the host still holds it (buffered): the host can still answer 500.
    fn head_committed(&self) -> bool {
        true
    }
    /// Logs a line about this request (the host adds client decoration). `msg` has no newline.
    fn log(&self, level: LogLevel, msg: &str);
}
