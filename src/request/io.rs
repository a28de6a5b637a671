//! [`RequestIo`] over an Apache request: body through the input filters, response through
//! `ap_rwrite`/`ap_rflush`, files as APR file buckets.
use std::ffi::{CString, c_int, c_void};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use wsgi_rs_core::wsgi::{LogLevel, RequestIo, ResponseHead};

use crate::apache::log::rlog;
use crate::apache::strings::pstrdup;
use crate::ffi;

/// Borrows the request for the duration of the handler call.
/// Contract: the WSGI core drops it (ctx.finish) before the handler returns, and calls it from
/// one thread at a time, so the raw pointer is never used after the request or concurrently.
pub struct ApacheIo {
    r: *mut ffi::request_rec,
    /// `ap_should_client_block` not called yet (it sends `100 Continue`, so only on first read).
    body_started: bool,
    body_expected: bool,
    /// Reused for streamed chunks (r->pool), created on first use.
    bb: *mut ffi::apr_bucket_brigade,
    /// `WSGIEnableSendfile`: file buckets may use kernel sendfile (Apache's EnableSendfile
    /// must allow it too).
    sendfile: bool,
}

// SAFETY: see the contract on the struct: one thread at a time, within the request's lifetime.
unsafe impl Send for ApacheIo {}

impl ApacheIo {
    pub fn new(r: *mut ffi::request_rec, sendfile: bool) -> Self {
        ApacheIo { r, body_started: false, body_expected: false, bb: std::ptr::null_mut(), sendfile }
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

/// r->pool cleanup for a descriptor handed to a file bucket: closes it when the request (and so
/// every bucket that may still read it) is gone. Nothing here can panic.
unsafe extern "C" fn close_fd(data: *mut c_void) -> ffi::apr_status_t {
    // SAFETY: `data` carries the descriptor registered by send_file, closed only here, once.
    unsafe { libc::close(data as isize as c_int) };
    0
}

fn cstr(b: &[u8]) -> CString {
    CString::new(b.iter().copied().filter(|c| *c != 0).collect::<Vec<u8>>()).unwrap_or_default()
}

impl RequestIo for ApacheIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.r;
        if !self.body_started {
            self.body_started = true;
            // SAFETY: ap_setup_client_block ran in the handler; this sends 100-continue if asked.
            self.body_expected = unsafe { ffi::ap_should_client_block(r) } != 0;
        }
        if !self.body_expected || buf.is_empty() {
            return Ok(0);
        }
        // SAFETY: reads at most buf.len() bytes into buf.
        let n = unsafe { ffi::ap_get_client_block(r, buf.as_mut_ptr() as *mut _, buf.len() as _) };
        if n < 0 {
            // SAFETY: reading the connection's abort flag.
            let aborted = unsafe { (*(*r).connection).aborted } != 0;
            return Err(io::Error::new(
                if aborted { io::ErrorKind::ConnectionAborted } else { io::ErrorKind::TimedOut },
                "error reading the request body from the client (connection closed or timed out)",
            ));
        }
        Ok(n as usize)
    }

    fn send_head(&mut self, head: &ResponseHead) -> io::Result<()> {
        let r = self.r;
        // SAFETY: all strings handed to Apache are copied into r->pool (or by apr_table_add).
        unsafe {
            (*r).status = head.code as c_int;
            (*r).status_line = pstrdup((*r).pool, &head.status);
            for (k, v) in &head.headers {
                if k.eq_ignore_ascii_case(b"content-type") {
                    ffi::ap_set_content_type(r, pstrdup((*r).pool, v));
                } else if k.eq_ignore_ascii_case(b"content-length") {
                    // Checked by framing::check_head (decimal, fits i64, one value) before any
                    // head reaches here; a head without that check is refused, never guessed.
                    let n = head.content_length.and_then(|n| i64::try_from(n).ok()).ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidData, "Content-Length not checked by the framing rules")
                    })?;
                    ffi::ap_set_content_length(r, n);
                } else {
                    let (kc, vc) = (cstr(k), cstr(v));
                    let t = if k.eq_ignore_ascii_case(b"www-authenticate") {
                        (*r).err_headers_out
                    } else {
                        (*r).headers_out
                    };
                    ffi::apr_table_add(t, kc.as_ptr(), vc.as_ptr());
                }
            }
        }
        Ok(())
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        // SAFETY: ap_rwrite copies or sends `data` before returning.
        let n = unsafe { ffi::ap_rwrite(data.as_ptr() as *const _, data.len() as c_int, self.r) };
        if n < 0 { Err(io::Error::new(io::ErrorKind::BrokenPipe, "client connection closed")) } else { Ok(()) }
    }

    fn flush(&mut self) -> io::Result<()> {
        // SAFETY: flushes the request's output filters.
        let n = unsafe { ffi::ap_rflush(self.r) };
        if n < 0 { Err(io::Error::new(io::ErrorKind::BrokenPipe, "client connection closed")) } else { Ok(()) }
    }

    /// One pass down the filter chain: the data as a transient bucket (no copy; the core
    /// filter sets aside what it cannot write) followed by a FLUSH bucket, as mod_wsgi does
    /// for streamed chunks. Anything buffered by earlier `ap_rwrite` calls goes first (the
    /// OLD_WRITE filter prepends it).
    fn write_and_flush(&mut self, data: &[u8]) -> io::Result<()> {
        let r = self.r;
        // SAFETY: the brigade lives in r->pool; `data` outlives the pass (transient buckets are
        // consumed or set aside before ap_pass_brigade returns) and the brigade is emptied.
        unsafe {
            let c = (*r).connection;
            if (*c).aborted != 0 {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "client connection closed"));
            }
            if self.bb.is_null() {
                self.bb = ffi::apr_brigade_create((*r).pool, (*c).bucket_alloc);
            }
            let b = ffi::apr_bucket_transient_create(data.as_ptr() as *const _, data.len(), (*c).bucket_alloc);
            ffi::wsgi_rs_brigade_insert_tail(self.bb, b);
            ffi::wsgi_rs_brigade_insert_tail(self.bb, ffi::apr_bucket_flush_create((*c).bucket_alloc));
            let rv = ffi::ap_pass_brigade((*r).output_filters, self.bb);
            ffi::apr_brigade_cleanup(self.bb as *mut _);
            if rv != 0 || (*c).aborted != 0 {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "client connection closed"));
            }
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
        // SAFETY: `file` wraps `osfd`, whose ownership passes to the r->pool cleanup registered
        // right after a successful apr_os_file_put (apr_os_file_put never closes it: it sets
        // APR_FOPEN_NOCLEANUP); the pool outlives every read of the bucket (see above). The
        // brigade lives in r->pool and is emptied after the pass.
        unsafe {
            let c = (*r).connection;
            let pool = (*r).pool;
            let mut file: *mut ffi::apr_file_t = std::ptr::null_mut();
            let mut osfd: ffi::apr_os_file_t = own.as_raw_fd();
            // Apache's core output filter uses sendfile only for files flagged SENDFILE_ENABLED.
            let flags = ffi::APR_FOPEN_READ | if self.sendfile { ffi::APR_FOPEN_SENDFILE_ENABLED } else { 0 };
            if ffi::apr_os_file_put(&mut file, &mut osfd, flags as i32, pool) != 0 {
                return Ok(false); // `own` closes the descriptor
            }
            let raw = own.into_raw_fd();
            ffi::apr_pool_cleanup_register(
                pool,
                raw as isize as *const c_void,
                Some(close_fd),
                Some(ffi::apr_pool_cleanup_null),
            );
            let bb = ffi::apr_brigade_create(pool, (*c).bucket_alloc);
            if len > 0 {
                ffi::apr_brigade_insert_file(bb, file, offset as ffi::apr_off_t, len as ffi::apr_off_t, pool);
            }
            ffi::wsgi_rs_brigade_insert_tail(bb, ffi::apr_bucket_flush_create((*c).bucket_alloc));
            let rv = ffi::ap_pass_brigade((*r).output_filters, bb);
            ffi::apr_brigade_cleanup(bb as *mut _);
            if rv != 0 {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "client connection closed while sending a file"));
            }
        }
        Ok(true)
    }

    fn head_committed(&self) -> bool {
        // SAFETY: reading a field of the live request (struct contract). Apache's header
        // filter sets sent_bodyct once the head went down to the network.
        unsafe { (*self.r).sent_bodyct != 0 }
    }

    fn log(&self, level: LogLevel, msg: &str) {
        rlog(self.r, level, msg);
    }
}
