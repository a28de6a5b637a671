//! Bucket brigades over a request's connection: created in a pool (`Request::brigade`), filled
//! with transient, file, flush, EOS and error buckets, passed down a request's output filters
//! (`Request::pass_brigade`).
use std::ptr::NonNull;

use crate::apache::pool::{Pool, PoolFile};
use crate::apache::status::Status;
use crate::ffi;

/// A brigade in the request's pool (freed with it; never destroyed here).
pub struct Brigade {
    bb: NonNull<ffi::apr_bucket_brigade>,
    alloc: *mut ffi::apr_bucket_alloc_t,
    pool: Pool,
}

impl Brigade {
    /// An empty brigade in `pool`, its buckets from `alloc`.
    ///
    /// # Safety
    /// `alloc` is a live bucket allocator that, like `pool`, outlives the brigade's buckets.
    pub(crate) unsafe fn new(pool: Pool, alloc: *mut ffi::apr_bucket_alloc_t) -> Brigade {
        // SAFETY: live pool and allocator (function contract).
        let bb = unsafe { ffi::apr_brigade_create(pool.as_ptr(), alloc) };
        Brigade { bb: NonNull::new(bb).expect("apr_brigade_create"), alloc, pool }
    }

    pub(crate) fn as_ptr(&self) -> *mut ffi::apr_bucket_brigade {
        self.bb.as_ptr()
    }

    fn push(&mut self, b: *mut ffi::apr_bucket) {
        // SAFETY: `b` is a new bucket of this brigade's allocator; the brigade is live.
        unsafe { ffi::wsgi_rs_brigade_insert_tail(self.as_ptr(), b) }
    }

    pub fn insert_flush(&mut self) {
        // SAFETY: the allocator is the live connection's.
        let b = unsafe { ffi::apr_bucket_flush_create(self.alloc) };
        self.push(b);
    }

    pub fn insert_eos(&mut self) {
        // SAFETY: as insert_flush.
        let b = unsafe { ffi::apr_bucket_eos_create(self.alloc) };
        self.push(b);
    }

    /// An error bucket: Apache's HTTP filters then close the connection (and omit the last
    /// chunk); before the head it becomes an error page of `status`.
    pub fn insert_error(&mut self, status: Status) {
        // SAFETY: pool and allocator of the live request; no message (NULL).
        let b = unsafe { ffi::ap_bucket_error_create(status.raw(), std::ptr::null(), self.pool.as_ptr(), self.alloc) };
        self.push(b);
    }

    /// `len` bytes of `file` from `offset` (a file bucket, read when the filters get to it).
    pub fn insert_file(&mut self, file: PoolFile, offset: u64, len: u64) {
        // SAFETY: `file` lives in a pool that outlives the request's buckets (Pool contract).
        unsafe {
            ffi::apr_brigade_insert_file(
                self.as_ptr(),
                file.0,
                offset as ffi::apr_off_t,
                len as ffi::apr_off_t,
                self.pool.as_ptr(),
            )
        };
    }

    /// As `insert_file`, for a file that another, less trusted process may truncate while it is
    /// read (a daemon process's): APR never memory-maps it (a mapped page past a new end of
    /// file is SIGBUS in whichever filter reads it in user space: mod_ssl, mod_deflate,
    /// mod_http2), it reads it in pieces of `read_size` instead; kernel sendfile still applies
    /// (a file that shrank ends it with APR_EOF, the response is cut).
    pub fn insert_file_unmapped(&mut self, file: PoolFile, offset: u64, len: u64, read_size: usize) {
        // SAFETY: `file` lives in a pool that outlives the request's buckets (Pool contract);
        // the new bucket is of this brigade's allocator, then owned by the brigade.
        let b = unsafe {
            let b = ffi::apr_bucket_file_create(
                file.0,
                offset as ffi::apr_off_t,
                len as ffi::apr_size_t,
                self.pool.as_ptr(),
                self.alloc,
            );
            ffi::apr_bucket_file_enable_mmap(b, 0);
            ffi::apr_bucket_file_set_buf_size(b, read_size as ffi::apr_size_t);
            b
        };
        self.push(b);
    }

    /// A transient bucket over `data` (no copy).
    ///
    /// # Safety
    /// `data` stays valid until the bucket is consumed, set aside or destroyed: pass the
    /// brigade and clean it up before `data` goes (see `Request::pass_transient_flush`).
    pub(crate) unsafe fn insert_transient(&mut self, data: &[u8]) {
        // SAFETY: `data` outlives the bucket (function contract).
        let b = unsafe { ffi::apr_bucket_transient_create(data.as_ptr() as *const _, data.len(), self.alloc) };
        self.push(b);
    }

    /// Empties the brigade (destroys the buckets it still holds).
    pub fn cleanup(&mut self) {
        // SAFETY: the brigade is live.
        unsafe { ffi::apr_brigade_cleanup(self.as_ptr() as *mut _) };
    }
}
