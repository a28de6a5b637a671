//! A non-owning handle on a live `request_rec` (in the manner of ngx-rust's `http/request.rs`):
//! safe accessors for what the request path reads and sets. Made only at a hook entry point by
//! [`Request::from_raw`]; strings borrowed from it live as long as the borrow of the handle.
use std::ffi::{c_char, c_int};
use std::ptr::NonNull;

use wsgi_rs_core::wsgi::LogLevel;

use crate::apache::brigade::Brigade;
use crate::apache::log::rlog;
use crate::apache::pool::Pool;
use crate::apache::record::{self, DirRecord, ServerRecord};
use crate::apache::server::Server;
use crate::apache::status::Status;
use crate::apache::strings::bytes;
use crate::apache::table::Table;
use crate::ffi;

/// What a request's `filename` is on disk ([`Request::file_type`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    /// Not found, or could not be stat'ed (`APR_NOFILE`).
    Missing,
    Regular,
    Directory,
    /// A device, pipe, link or socket.
    Other,
}

/// The request a handler serves. `Copy`: a view, never owning, never outliving the handler.
#[derive(Clone, Copy)]
pub struct Request(NonNull<ffi::request_rec>);

impl Request {
    /// # Safety
    /// `r` is a non-NULL `request_rec` Apache handed to a hook, live for the duration of the
    /// handler: the handle (and every copy) is used only within that call, from the thread
    /// serving the request (or one at a time, as `RequestIo` is).
    pub unsafe fn from_raw(r: *mut ffi::request_rec) -> Request {
        Request(NonNull::new(r).expect("NULL request_rec"))
    }

    /// The raw record, for the helpers that still take it (facts, config look-ups).
    pub fn as_ptr(self) -> *mut ffi::request_rec {
        self.0.as_ptr()
    }

    /// The record's address as an opaque pointer, for code that only hands it on and never
    /// dereferences it (`WSGIPassApacheRequest`'s `apache.request_rec` capsule). Valid while
    /// the handler runs.
    pub fn opaque(self) -> NonNull<std::ffi::c_void> {
        self.0.cast()
    }

    fn rec(&self) -> &ffi::request_rec {
        // SAFETY: live for the handler (from_raw contract); Apache does not change the fields
        // read through this reference while our handler runs it.
        unsafe { self.0.as_ref() }
    }

    fn conn(&self) -> *mut ffi::conn_rec {
        self.rec().connection
    }

    pub fn pool(self) -> Pool {
        // SAFETY: r->pool lives as long as the request.
        unsafe { Pool::from_raw(self.rec().pool) }
    }

    fn bucket_alloc(self) -> *mut ffi::apr_bucket_alloc_t {
        // SAFETY: the connection of a live request is live.
        unsafe { (*self.conn()).bucket_alloc }
    }

    /// The client connection was found broken (a write or read failed).
    pub fn connection_aborted(self) -> bool {
        // SAFETY: as bucket_alloc.
        unsafe { (*self.conn()).aborted != 0 }
    }

    /// Closes the connection after this response (no keep-alive).
    pub fn set_keepalive_close(self) {
        // SAFETY: as bucket_alloc; the connection is only touched by this request's thread.
        unsafe { (*self.conn()).keepalive = ffi::AP_CONN_CLOSE };
    }

    /// Sets the client connection's socket timeout (µs), which bounds each blocking write of the
    /// response (Apache's core output filter polls with it); returns the previous value to
    /// restore. `None`, and nothing changed, for an HTTP/2 stream (a secondary connection: the
    /// socket is the master connection's, driven by another thread) or a connection without a
    /// socket.
    pub fn swap_client_socket_timeout(self, t_us: i64) -> Option<i64> {
        // SAFETY: the connection of a live request is live; on an HTTP/1 connection (no
        // master) its socket is used only by this request's thread while the handler runs.
        unsafe {
            let c = self.conn();
            if !(*c).master.is_null() {
                return None;
            }
            let sock = ffi::ap_get_conn_socket(c);
            if sock.is_null() {
                return None;
            }
            let mut old: ffi::apr_interval_time_t = 0;
            if ffi::apr_socket_timeout_get(sock, &mut old) != 0 {
                return None;
            }
            ffi::apr_socket_timeout_set(sock, t_us);
            Some(old)
        }
    }

    /// The (virtual) server of the request, as a safe handle.
    pub fn server_handle(self) -> Server {
        // SAFETY: the server of a live request is a configured server_rec of this generation,
        // which outlives the request.
        unsafe { Server::from_raw(self.rec().server) }
    }

    /// The (virtual) server of the request.
    pub fn server(self) -> *mut ffi::server_rec {
        self.rec().server
    }

    /// The server's `Timeout`, in microseconds.
    pub fn server_timeout_us(self) -> i64 {
        // SAFETY: the server of a live request is live (config lifetime).
        unsafe { (*self.rec().server).timeout }
    }

    /// This module's merged per-directory record for the request.
    pub fn dir_config<T: DirRecord>(&self) -> &T {
        // SAFETY: the per-dir vector of a live request; our slot holds a T (DirRecord
        // contract) in a pool outliving the request, never mutated once merged.
        unsafe { record::read::<T>(self.rec().per_dir_config) }.expect("per-directory config missing")
    }

    /// This module's record of the request's (virtual) server.
    pub fn server_config<T: ServerRecord>(&self) -> &T {
        // SAFETY: the server of a live request is configured, of a generation outliving the
        // request; configuration is over, so nothing mutates the record.
        unsafe { Server::from_raw(self.rec().server).config::<T>() }
    }

    /// Stores `v` in this module's slot of `r->request_config`, for a later hook of the same
    /// request ([`Request::request_config`]).
    pub fn set_request_config<T>(self, v: &T) {
        // SAFETY: the request_config vector of a live request has a slot per module; only
        // this request's thread touches it.
        unsafe { *record::slot(self.rec().request_config) = v as *const T as *mut std::ffi::c_void };
    }

    /// What [`Request::set_request_config`] stored for this request, `None` when nothing was.
    ///
    /// # Safety
    /// Every value this module stores in the slot is a `T` outliving the request.
    pub unsafe fn request_config<T>(&self) -> Option<&T> {
        // SAFETY: per the contract above.
        unsafe { record::read::<T>(self.rec().request_config) }
    }

    /// Sets r->filename (copied into r->pool).
    pub fn set_filename(self, f: &[u8]) {
        let s = self.pool().pstrdup(f);
        // SAFETY: live request, written only by the hook that runs it; `s` is a pool string.
        unsafe { (*self.as_ptr()).filename = s };
    }

    /// Sets r->path_info (copied into r->pool).
    pub fn set_path_info(self, p: &[u8]) {
        let s = self.pool().pstrdup(p);
        // SAFETY: as set_filename.
        unsafe { (*self.as_ptr()).path_info = s };
    }

    /// Whether r->finfo holds nothing yet (no hook stat'ed r->filename).
    pub fn finfo_unset(&self) -> bool {
        self.rec().finfo.filetype == ffi::APR_NOFILE
    }

    /// The modification time (µs since the epoch) of r->filename as this request stat'ed it
    /// (r->finfo, filled by translate_name or Apache's directory walk), when it is a regular
    /// file.
    pub fn file_mtime_us(&self) -> Option<i64> {
        let f = &self.rec().finfo;
        (f.filetype == ffi::APR_REG && f.valid & ffi::APR_FINFO_MTIME as i32 != 0).then_some(f.mtime)
    }

    /// Stats r->filename into r->finfo (`APR_FINFO_MIN`, following symlinks) when it is a
    /// regular file, and says so; otherwise leaves r->finfo empty (`APR_NOFILE`), as found.
    /// Apache's `directory_walk` does not stat a filename whose r->finfo is already filled.
    pub fn stat_regular_file(self) -> bool {
        let r = self.as_ptr();
        // SAFETY: a live request, written only by the hook that runs it; r->filename is a pool
        // string (set_filename) and apr_stat writes only into r->finfo, allocating (the name)
        // from r->pool.
        unsafe {
            let rv = ffi::apr_stat(&mut (*r).finfo, (*r).filename, ffi::APR_FINFO_MIN as i32, (*r).pool);
            if rv == 0 && (*r).finfo.filetype == ffi::APR_REG {
                return true;
            }
            // Back to what request creation left (pcalloc'ed): nothing known.
            (*r).finfo = std::mem::zeroed();
        }
        false
    }

    /// Sets r->handler.
    pub fn set_handler(self, h: &'static std::ffi::CStr) {
        // SAFETY: as set_filename; a static string.
        unsafe { (*self.as_ptr()).handler = h.as_ptr() };
    }

    /// r->uri as a C string (empty for NULL), for APR calls.
    pub fn uri_cstr(&self) -> &std::ffi::CStr {
        let p = self.rec().uri;
        // SAFETY: NULL or a pool string of the live request.
        if p.is_null() { c"" } else { unsafe { std::ffi::CStr::from_ptr(p) } }
    }

    pub fn notes(&self) -> Table<'_> {
        self.table(self.rec().notes)
    }

    pub fn filename(&self) -> &[u8] {
        // SAFETY: a pool string of the request (or NULL).
        unsafe { bytes(self.rec().filename) }
    }

    pub fn handler(&self) -> &[u8] {
        // SAFETY: as filename.
        unsafe { bytes(self.rec().handler) }
    }

    pub fn path_info(&self) -> &[u8] {
        // SAFETY: as filename.
        unsafe { bytes(self.rec().path_info) }
    }

    fn string(&self, p: *const c_char) -> &[u8] {
        // SAFETY: `p` is NULL or a string of the live request's (or its server's) pools, which
        // outlive the borrow of the handle.
        unsafe { bytes(p) }
    }

    fn opt_string(&self, p: *const c_char) -> Option<&[u8]> {
        if p.is_null() { None } else { Some(self.string(p)) }
    }

    pub fn method(&self) -> &[u8] {
        self.string(self.rec().method)
    }

    pub fn protocol(&self) -> &[u8] {
        self.string(self.rec().protocol)
    }

    pub fn uri(&self) -> &[u8] {
        self.string(self.rec().uri)
    }

    /// The query string (`r->args`).
    pub fn args(&self) -> &[u8] {
        self.string(self.rec().args)
    }

    /// What the client asked for, before internal redirects (the first request's unparsed URI).
    pub fn original_unparsed_uri(&self) -> &[u8] {
        let mut orig = self.as_ptr();
        // SAFETY: `prev` links live requests of the same connection (r->prev outlives r).
        unsafe {
            while !(*orig).prev.is_null() {
                orig = (*orig).prev;
            }
            self.string((*orig).unparsed_uri)
        }
    }

    /// The URI of the request this one was internally redirected from.
    pub fn redirected_from_uri(&self) -> Option<&[u8]> {
        let prev = self.rec().prev;
        // SAFETY: as original_unparsed_uri.
        if prev.is_null() { None } else { Some(self.string(unsafe { (*prev).uri })) }
    }

    pub fn user(&self) -> Option<&[u8]> {
        self.opt_string(self.rec().user)
    }

    pub fn auth_type(&self) -> Option<&[u8]> {
        self.opt_string(self.rec().ap_auth_type)
    }

    pub fn useragent_ip(&self) -> &[u8] {
        self.string(self.rec().useragent_ip)
    }

    pub fn useragent_port(self) -> u16 {
        // SAFETY: live request.
        unsafe { ffi::wsgi_rs_useragent_port(self.as_ptr()) as u16 }
    }

    /// The address the connection was accepted on.
    pub fn local_ip(&self) -> &[u8] {
        // SAFETY: the connection of a live request is live.
        self.string(unsafe { (*self.conn()).local_ip })
    }

    pub fn local_port(self) -> u16 {
        // SAFETY: live request.
        unsafe { ffi::wsgi_rs_local_port(self.as_ptr()) as u16 }
    }

    pub fn connection_id(self) -> std::ffi::c_long {
        // SAFETY: the connection of a live request is live.
        unsafe { (*self.conn()).id }
    }

    /// `r->hostname`: the host the client named (Host header or absolute URI, no port).
    pub fn hostname(&self) -> Option<&[u8]> {
        self.opt_string(self.rec().hostname)
    }

    /// The `ServerName` of the request's (virtual) server.
    pub fn server_hostname(&self) -> &[u8] {
        // SAFETY: the server of a live request is live.
        self.string(unsafe { (*self.rec().server).server_hostname })
    }

    /// `ap_get_server_name`: the host name the request is for (per UseCanonicalName).
    pub fn server_name(&self) -> &[u8] {
        // SAFETY: live request; returns a pool string.
        self.string(unsafe { ffi::ap_get_server_name(self.as_ptr()) })
    }

    pub fn server_port(self) -> u16 {
        // SAFETY: live request.
        unsafe { ffi::ap_get_server_port(self.as_ptr()) as u16 }
    }

    pub fn server_admin(&self) -> &[u8] {
        // SAFETY: the server of a live request is live.
        self.string(unsafe { (*self.rec().server).server_admin })
    }

    /// `ap_get_server_banner` (a static string of Apache's).
    pub fn server_banner(&self) -> &[u8] {
        // SAFETY: no arguments; the banner lives as long as the process configuration.
        self.string(unsafe { ffi::ap_get_server_banner() })
    }

    /// The scheme is `https` (`ap_run_http_scheme`).
    pub fn is_https(self) -> bool {
        // SAFETY: live request; returns NULL or a static/pool string.
        let scheme = unsafe { ffi::ap_run_http_scheme(self.as_ptr()) };
        !scheme.is_null() && self.string(scheme) == b"https"
    }

    pub fn document_root(&self) -> &[u8] {
        // SAFETY: live request; a pool or config string.
        self.string(unsafe { ffi::ap_document_root(self.as_ptr()) })
    }

    pub fn context_prefix(&self) -> &[u8] {
        // SAFETY: as document_root.
        self.string(unsafe { ffi::ap_context_prefix(self.as_ptr()) })
    }

    pub fn context_document_root(&self) -> &[u8] {
        // SAFETY: as document_root.
        self.string(unsafe { ffi::ap_context_document_root(self.as_ptr()) })
    }

    /// The log id (`%L`), made now if no log format asked for it yet (the hook stores a pool
    /// string in r->log_id).
    pub fn log_id(&self) -> &[u8] {
        let r = self.as_ptr();
        // SAFETY: live request and connection; the hook writes one pointer.
        unsafe {
            if (*r).log_id.is_null() {
                let mut id: *const c_char = std::ptr::null();
                ffi::ap_run_generate_log_id((*r).connection, r, &mut id);
                (*r).log_id = id;
            }
        }
        self.string(self.rec().log_id)
    }

    /// Apache's `CGIPassAuth On` applies here.
    pub fn cgi_pass_auth(self) -> bool {
        // SAFETY: live request; the shim reads core's per-directory record of it.
        unsafe { ffi::wsgi_rs_cgi_pass_auth(self.as_ptr()) != 0 }
    }

    /// `AcceptPathInfo Off` applies here.
    pub fn rejects_path_info(self) -> bool {
        self.rec().used_path_info == ffi::AP_REQ_REJECT_PATH_INFO as c_int
    }

    /// What `filename` is on disk (as the core's map_to_storage found it).
    pub fn file_type(self) -> FileType {
        match self.rec().finfo.filetype {
            ffi::APR_NOFILE => FileType::Missing,
            ffi::APR_REG => FileType::Regular,
            ffi::APR_DIR => FileType::Directory,
            _ => FileType::Other,
        }
    }

    /// `Options ExecCGI` is on for this request.
    pub fn allows_exec_cgi(self) -> bool {
        // SAFETY: live request.
        (unsafe { ffi::ap_allow_options(self.as_ptr()) } & ffi::OPT_EXECCGI as c_int) != 0
    }

    /// A HEAD request.
    pub fn header_only(self) -> bool {
        self.rec().header_only != 0
    }

    /// Apache's header filter ran: the head (and maybe body) went down to the network.
    pub fn sent_bodyct(self) -> bool {
        self.rec().sent_bodyct != 0
    }

    /// When the request started (µs since the epoch).
    pub fn request_time(self) -> i64 {
        self.rec().request_time
    }

    pub fn set_status(self, code: c_int) {
        // SAFETY: live request, written only by its handler.
        unsafe { (*self.as_ptr()).status = code };
    }

    /// The status line, copied into r->pool.
    pub fn set_status_line(self, line: &[u8]) {
        let s = self.pool().pstrdup(line);
        // SAFETY: as set_status; `s` lives as long as the request.
        unsafe { (*self.as_ptr()).status_line = s };
    }

    fn table(&self, t: *mut ffi::apr_table_t) -> Table<'_> {
        // SAFETY: the request's tables live in r->pool.
        unsafe { Table::from_raw(t) }
    }

    pub fn headers_in(&self) -> Table<'_> {
        self.table(self.rec().headers_in)
    }

    pub fn headers_out(&self) -> Table<'_> {
        self.table(self.rec().headers_out)
    }

    pub fn err_headers_out(&self) -> Table<'_> {
        self.table(self.rec().err_headers_out)
    }

    pub fn subprocess_env(&self) -> Table<'_> {
        self.table(self.rec().subprocess_env)
    }

    /// Sets Content-Type (copied into r->pool).
    pub fn set_content_type(self, ct: &[u8]) {
        let s: *const c_char = self.pool().pstrdup(ct);
        // SAFETY: live request; `s` is a pool string.
        unsafe { ffi::ap_set_content_type(self.as_ptr(), s) }
    }

    pub fn set_content_length(self, n: i64) {
        // SAFETY: live request.
        unsafe { ffi::ap_set_content_length(self.as_ptr(), n) }
    }

    /// Prepares reading the body: validates Content-Length / Transfer-Encoding (`dechunk`:
    /// accept chunked bodies, else 411).
    pub fn setup_client_block(self, dechunk: bool) -> Status {
        let policy = if dechunk { ffi::REQUEST_CHUNKED_DECHUNK } else { ffi::REQUEST_CHUNKED_ERROR };
        // SAFETY: live request.
        Status::from_raw(unsafe { ffi::ap_setup_client_block(self.as_ptr(), policy as c_int) })
    }

    /// Whether a body follows (sends `100 Continue` when the client asked for it).
    pub fn should_client_block(self) -> bool {
        // SAFETY: live request, after setup_client_block.
        unsafe { ffi::ap_should_client_block(self.as_ptr()) != 0 }
    }

    /// The client sent `Expect: 100-continue` (and no interim response went yet).
    pub fn expecting_100(self) -> bool {
        self.rec().expecting_100 != 0
    }

    /// A body of known length (a Content-Length above 0, not chunked) follows, checked without
    /// reading it or answering `Expect`. Valid after `setup_client_block`.
    pub fn has_sized_body(self) -> bool {
        let rec = self.rec();
        rec.read_chunked == 0 && rec.remaining > 0
    }

    /// `r->remaining`: a Content-Length body's length as `setup_client_block` set it (Apache
    /// sets it to 0 once the body was read to its end; chunked bodies: 0, then -1 at the end).
    pub fn body_remaining(self) -> i64 {
        self.rec().remaining
    }

    /// The body was read to its end (Apache saw its EOS): a further `get_client_block` returns
    /// 0 at once, without reading. (`ap_get_client_block`'s own early-return test.)
    pub fn body_read_to_end(self) -> bool {
        let rec = self.rec();
        rec.remaining < 0 || (rec.read_chunked == 0 && rec.remaining == 0)
    }

    /// Reads up to `buf.len()` bytes of the body: the count, 0 at its end, < 0 on error.
    pub fn get_client_block(self, buf: &mut [u8]) -> isize {
        // SAFETY: live request; writes at most buf.len() bytes into buf.
        unsafe { ffi::ap_get_client_block(self.as_ptr(), buf.as_mut_ptr() as *mut c_char, buf.len() as _) as isize }
    }

    /// `ap_rwrite`: < 0 when the client is gone.
    pub fn rwrite(self, data: &[u8]) -> c_int {
        // SAFETY: live request; ap_rwrite copies or sends `data` before returning.
        unsafe { ffi::ap_rwrite(data.as_ptr() as *const _, data.len() as c_int, self.as_ptr()) }
    }

    /// `ap_rflush`: < 0 when the client is gone.
    pub fn rflush(self) -> c_int {
        // SAFETY: live request.
        unsafe { ffi::ap_rflush(self.as_ptr()) }
    }

    /// An empty brigade in r->pool, its buckets from the connection's allocator.
    pub fn brigade(self) -> Brigade {
        // SAFETY: pool and allocator of the live request.
        unsafe { Brigade::new(self.pool(), self.bucket_alloc()) }
    }

    /// One pass of `data` as a transient bucket (no copy) followed by FLUSH, then `bb` is
    /// emptied. Transient buckets must not outlive `data`: the filters consume or set aside
    /// (copy) them before `ap_pass_brigade` returns, and the cleanup removes what is left.
    pub fn pass_transient_flush(self, bb: &mut Brigade, data: &[u8]) -> ffi::apr_status_t {
        // SAFETY: `data` is valid for the whole pass and bb is emptied before returning.
        unsafe { bb.insert_transient(data) };
        bb.insert_flush();
        let rv = self.pass_brigade(bb);
        bb.cleanup();
        rv
    }

    /// Passes `bb` down the request's output filters.
    pub fn pass_brigade(self, bb: &mut Brigade) -> ffi::apr_status_t {
        // SAFETY: live request and a live brigade of its pool.
        unsafe { ffi::ap_pass_brigade(self.rec().output_filters, bb.as_ptr()) }
    }

    /// An output filter that may look at the body (a content filter such as DEFLATE, of a type
    /// below `AP_FTYPE_PROTOCOL`) is installed.
    pub fn has_content_filter(self) -> bool {
        let mut f = self.rec().output_filters;
        while !f.is_null() {
            // SAFETY: walking Apache's filter chain of the live request.
            unsafe {
                if !(*f).frec.is_null() && (*(*f).frec).ftype < ffi::AP_FTYPE_PROTOCOL {
                    return true;
                }
                f = (*f).next;
            }
        }
        false
    }

    /// Logs about this request (Apache adds the `[client ...]` decoration).
    pub fn log(self, level: LogLevel, msg: &str) {
        // SAFETY: a `Request` wraps a live request.
        unsafe { rlog(self.as_ptr(), level, msg) };
    }
}
