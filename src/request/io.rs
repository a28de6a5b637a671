//! [`RequestIo`] over an Apache request: body through the input filters, response through
//! `ap_rwrite`/`ap_rflush`, files as APR file buckets.
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use wsgi_rs_core::wsgi::{LogLevel, RequestIo, ResponseHead};

use crate::apache::brigade::Brigade;
use crate::apache::request::Request;

/// Borrows the request for the duration of the handler call.
/// Contract: the WSGI core drops it (ctx.finish) before the handler returns, and calls it from
/// one thread at a time, so the request is never used after it ended or concurrently.
pub struct ApacheIo {
    r: Request,
    /// `ap_should_client_block` not called yet (it sends `100 Continue`, so only on first read).
    body_started: bool,
    body_expected: bool,
    /// Reused for streamed chunks (r->pool), created on first use.
    bb: Option<Brigade>,
    /// `WSGIEnableSendfile`: file buckets may use kernel sendfile (Apache's EnableSendfile
    /// must allow it too).
    sendfile: bool,
    /// APR may memory-map the files sent (`false` for a daemon's files: see
    /// `Brigade::insert_file_unmapped`).
    mmap: bool,
}

// SAFETY: see the contract on the struct: one thread at a time, within the request's lifetime.
unsafe impl Send for ApacheIo {}

impl ApacheIo {
    pub fn new(r: Request, sendfile: bool) -> Self {
        ApacheIo { r, body_started: false, body_expected: false, bb: None, sendfile, mmap: true }
    }

    /// Files sent are never memory-mapped (they come from a daemon process, which may truncate
    /// them while Apache reads them).
    pub fn unmapped(mut self) -> Self {
        self.mmap = false;
        self
    }
}

/// A new open file description for the regular file behind `fd` (reopened through
/// /proc/self/fd): its own file offset, so the lseek+read of APR's file bucket, possibly on
/// another thread after the handler returned, races neither with the app's seek() after the
/// send nor with other requests served from the same descriptor. `None` when /proc is missing,
/// the file may no longer be opened (mode changed) or it is not the same regular file.
/// Under HTTP/1 too: Apache reads a file bucket that it neither sends with sendfile nor maps
/// with lseek+read, so requests in other threads sharing one descriptor got each other's bytes.
fn private_fd(fd: RawFd) -> Option<OwnedFd> {
    let path = CString::new(format!("/proc/self/fd/{fd}")).ok()?;
    // SAFETY: `path` is a NUL-terminated string; a descriptor returned by open() is ours alone.
    let new = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY) };
    if new < 0 {
        return None;
    }
    // SAFETY: `new` was just opened and is owned by nobody else.
    let own = unsafe { OwnedFd::from_raw_fd(new) };
    let (a, b) = (file_id(fd)?, file_id(own.as_raw_fd())?);
    (a == b).then_some(own)
}

/// (device, inode) of a regular file, `None` for anything else.
fn file_id(fd: RawFd) -> Option<(u64, u64)> {
    // SAFETY: fstat writes into `st`, plain data.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open for the duration of the call (callers hold it); `st` is valid.
    if unsafe { libc::fstat(fd, &mut st) } != 0 || (st.st_mode & libc::S_IFMT) != libc::S_IFREG {
        return None;
    }
    Some((st.st_dev, st.st_ino))
}

impl RequestIo for ApacheIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.r;
        if !self.body_started {
            self.body_started = true;
            // ap_setup_client_block ran in the handler; this sends 100-continue if asked.
            self.body_expected = r.should_client_block();
        }
        if !self.body_expected || buf.is_empty() {
            return Ok(0);
        }
        let n = r.get_client_block(buf);
        if n < 0 {
            let aborted = r.connection_aborted();
            return Err(io::Error::new(
                if aborted { io::ErrorKind::ConnectionAborted } else { io::ErrorKind::TimedOut },
                "error reading the request body from the client (connection closed or timed out)",
            ));
        }
        Ok(n as usize)
    }

    fn send_head(&mut self, head: &ResponseHead) -> io::Result<()> {
        let r = self.r;
        // All strings handed to Apache are copied into r->pool (or by apr_table_add).
        r.set_status(head.code as std::ffi::c_int);
        r.set_status_line(&head.status);
        for (k, v) in &head.headers {
            if k.eq_ignore_ascii_case(b"content-type") {
                r.set_content_type(v);
            } else if k.eq_ignore_ascii_case(b"content-length") {
                // Checked by framing::check_head (decimal, fits i64, one value) before any
                // head reaches here; a head without that check is refused, never guessed.
                let n = head.content_length.and_then(|n| i64::try_from(n).ok()).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "Content-Length not checked by the framing rules")
                })?;
                r.set_content_length(n);
            } else if k.eq_ignore_ascii_case(b"www-authenticate") {
                r.err_headers_out().add(k, v);
            } else {
                r.headers_out().add(k, v);
            }
        }
        Ok(())
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let n = self.r.rwrite(data);
        if n < 0 { Err(io::Error::new(io::ErrorKind::BrokenPipe, "client connection closed")) } else { Ok(()) }
    }

    fn flush(&mut self) -> io::Result<()> {
        let n = self.r.rflush();
        if n < 0 { Err(io::Error::new(io::ErrorKind::BrokenPipe, "client connection closed")) } else { Ok(()) }
    }

    /// One pass down the filter chain: the data as a transient bucket (no copy; the core
    /// filter sets aside what it cannot write) followed by a FLUSH bucket, as mod_wsgi does
    /// for streamed chunks. Anything buffered by earlier `ap_rwrite` calls goes first (the
    /// OLD_WRITE filter prepends it).
    fn write_and_flush(&mut self, data: &[u8]) -> io::Result<()> {
        let r = self.r;
        if r.connection_aborted() {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "client connection closed"));
        }
        let bb = self.bb.get_or_insert_with(|| r.brigade());
        let rv = r.pass_transient_flush(bb, data);
        if rv != 0 || r.connection_aborted() {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "client connection closed"));
        }
        Ok(())
    }

    /// The file goes down the filter chain as an APR file bucket on a descriptor of our own,
    /// closed by a cleanup of r->pool, never on the app's `fd`: Python closes that as soon as
    /// the handler returns, and under mod_http2 (`H2CopyFiles Off`) the bucket is set aside into
    /// the stream's output beam and read later by the main connection's thread, whatever FLUSH
    /// says. r->pool lives until then: the request's EOR bucket travels behind the data and is
    /// only destroyed when the beam is, after the stream was sent or reset.
    fn send_file(&mut self, fd: RawFd, offset: u64, len: u64) -> io::Result<bool> {
        let r = self.r;
        let Some(own) = private_fd(fd) else {
            // No descriptor of our own (a dup() would share the app's file offset): the core
            // copies the file through read() instead.
            return Ok(false);
        };
        // Apache's core output filter uses sendfile only for files flagged SENDFILE_ENABLED.
        let Ok(file) = r.pool().adopt_file(own, self.sendfile) else {
            return Ok(false); // the descriptor was handed back and closed
        };
        let mut bb = r.brigade();
        if len > 0 && self.mmap {
            bb.insert_file(file, offset, len);
        } else if len > 0 {
            bb.insert_file_unmapped(file, offset, len, 64 * 1024);
        }
        bb.insert_flush();
        let rv = r.pass_brigade(&mut bb);
        bb.cleanup();
        if rv != 0 {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "client connection closed while sending a file"));
        }
        Ok(true)
    }

    fn head_committed(&self) -> bool {
        // Apache's header filter sets sent_bodyct once the head went down to the network.
        self.r.sent_bodyct()
    }

    fn log(&self, level: LogLevel, msg: &str) {
        self.r.log(level, msg);
    }
}
