//! Ending a response that cannot complete, in both modes: a clean 500 while nothing reached the
//! client, else a visible cut (no final chunk, connection closed).
use std::ffi::c_int;

use crate::ffi;

const HTTP_500: c_int = ffi::HTTP_INTERNAL_SERVER_ERROR as c_int;

/// Ends a response that failed part-way. If nothing reached the client yet
/// (`r->sent_bodyct == 0`: Apache's header filter has not run), returns 500 so Apache sends a
/// clean error page; otherwise cuts the response (see [`cut_response`]) and returns OK.
pub unsafe fn abort_response(r: *mut ffi::request_rec) -> c_int {
    // SAFETY: reading a field of the live request.
    if unsafe { (*r).sent_bodyct } == 0 {
        return HTTP_500;
    }
    // SAFETY: r is live (caller's contract).
    unsafe { cut_response(r) };
    ffi::OK as c_int
}

/// Sends what is buffered (head included), then ends the response so the client sees it is
/// broken: an error bucket makes Apache's HTTP filters close the connection and omit the last
/// chunk, so a short Content-Length body or a cut chunked body can never be mistaken for a
/// complete one (nor the next response on the connection read as its rest).
pub unsafe fn cut_response(r: *mut ffi::request_rec) {
    // SAFETY: building and passing brigades on the live request's connection (r->pool).
    unsafe {
        let c = (*r).connection;
        let bb = ffi::apr_brigade_create((*r).pool, (*c).bucket_alloc);
        if (*r).sent_bodyct == 0 {
            // The header filter turns an error bucket seen before the head into an error page:
            // push the head and buffered body out first.
            ffi::wsgi_rs_brigade_insert_tail(bb, ffi::apr_bucket_flush_create((*c).bucket_alloc));
            ffi::ap_pass_brigade((*r).output_filters, bb);
            ffi::apr_brigade_cleanup(bb as *mut _);
        }
        let e =
            ffi::ap_bucket_error_create(ffi::HTTP_BAD_GATEWAY as c_int, std::ptr::null(), (*r).pool, (*c).bucket_alloc);
        ffi::wsgi_rs_brigade_insert_tail(bb, e);
        ffi::wsgi_rs_brigade_insert_tail(bb, ffi::apr_bucket_eos_create((*c).bucket_alloc));
        ffi::ap_pass_brigade((*r).output_filters, bb);
        (*c).keepalive = ffi::AP_CONN_CLOSE;
    }
}
