//! Per-request state shared by the WSGI objects of one request.
//!
//! Locking contract: `inner` is only ever locked while the GIL is **not** held (inside
//! `py.detach`) or for a moment that runs no Python code; nobody takes the GIL while holding it.
//! That rules out the GIL/mutex deadlock of DESIGN §3.
use std::sync::{Arc, Mutex, MutexGuard};

use super::io::{LogLevel, RequestIo, ResponseHead};

pub(crate) struct Inner {
    /// `None` once the request has finished: objects that outlive it (a stored `wsgi.input`)
    /// then fail cleanly instead of touching freed host memory.
    pub io: Option<Box<dyn RequestIo>>,
    pub head: Option<ResponseHead>,
    pub head_sent: bool,
    /// The app's own Content-Length: output beyond it is dropped.
    pub content_length: Option<u64>,
    pub written: u64,
    /// A write to the client failed: the client went away (not an application error).
    pub client_gone: bool,
    /// I/O counters for `request_finished` and the metrics (plain integers: free to keep).
    pub stats: IoStats,
}

/// What the application read and wrote. Times are only taken when `timed` (a subscriber or
/// metrics recording is active), so an untracked request reads no clock for them.
#[derive(Default, Clone, Copy)]
pub(crate) struct IoStats {
    pub timed: bool,
    pub input_reads: u64,
    pub input_length: u64,
    pub input_ns: u64,
    pub output_writes: u64,
    pub output_ns: u64,
}

pub(crate) struct RequestCtx {
    inner: Mutex<Inner>,
}

/// Why a body write did not happen.
#[derive(Debug)]
pub(crate) enum WriteError {
    NoHead,
    Finished,
    Io(std::io::Error),
}

impl RequestCtx {
    pub fn new(io: Box<dyn RequestIo>) -> Arc<Self> {
        Arc::new(RequestCtx {
            inner: Mutex::new(Inner {
                io: Some(io),
                head: None,
                head_sent: false,
                content_length: None,
                written: 0,
                client_gone: false,
                stats: IoStats::default(),
            }),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means a panic elsewhere mid-request; the state is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends the request: later calls through stale objects see `Finished`.
    pub fn finish(&self) {
        let io = self.lock().io.take();
        drop(io);
    }

    /// Logs through the request when it is live, else through the process-wide logger.
    pub fn log(&self, level: LogLevel, msg: &str) {
        let g = self.lock();
        match g.io.as_ref() {
            Some(io) => io.log(level, msg),
            None => crate::hostlog::host_log(level, msg),
        }
    }

    /// Sends the head if needed, then `data` (cut at the app's Content-Length). GIL not held.
    pub fn write_body(&self, data: &[u8], flush: bool) -> Result<(), WriteError> {
        let mut g = self.lock();
        let st = &mut *g;
        let io = st.io.as_mut().ok_or(WriteError::Finished)?;
        if !st.head_sent {
            let head = st.head.as_ref().ok_or(WriteError::NoHead)?;
            if let Err(e) = io.send_head(head) {
                st.client_gone = true;
                return Err(WriteError::Io(e));
            }
            st.head_sent = true;
        }
        let mut data = data;
        if let Some(cl) = st.content_length {
            let room = cl.saturating_sub(st.written);
            if (data.len() as u64) > room {
                data = &data[..room as usize];
            }
        }
        let t0 = st.stats.timed.then(std::time::Instant::now);
        let r = match (data.is_empty(), flush) {
            (true, false) => Ok(()),
            (true, true) => io.flush(),
            (false, false) => io.write(data),
            (false, true) => io.write_and_flush(data),
        };
        if !data.is_empty() {
            st.stats.output_writes += 1;
        }
        if let Some(t0) = t0 {
            st.stats.output_ns += t0.elapsed().as_nanos() as u64;
        }
        if let Err(e) = r {
            st.client_gone = true;
            return Err(WriteError::Io(e));
        }
        st.written += data.len() as u64;
        Ok(())
    }

    /// Sends `len` bytes of the regular file `fd` from `offset` through the host (after the
    /// head). `Ok(false)`: the host cannot; nothing was sent but the head. GIL not held.
    pub fn send_file(&self, fd: std::os::fd::RawFd, offset: u64, len: u64) -> Result<bool, WriteError> {
        self.write_body(b"", false)?;
        let mut g = self.lock();
        let st = &mut *g;
        let io = st.io.as_mut().ok_or(WriteError::Finished)?;
        let t0 = st.stats.timed.then(std::time::Instant::now);
        let r = io.send_file(fd, offset, len);
        if let Some(t0) = t0 {
            st.stats.output_ns += t0.elapsed().as_nanos() as u64;
        }
        match r {
            Ok(sent) => {
                if sent {
                    st.written += len;
                    st.stats.output_writes += 1;
                }
                Ok(sent)
            }
            Err(e) => {
                st.client_gone = true;
                Err(WriteError::Io(e))
            }
        }
    }
}
