//! Reading a `request_rec` into the host-neutral [`RequestFacts`] and [`WsgiExtras`], directly
//! from the record (Apache's CGI helpers cost ~7 µs a request, DESIGN §6).
use wsgi_rs_core::environ::RequestFacts;
use wsgi_rs_core::wsgi::WsgiExtras;

use crate::apache::mpm::mpm;
use crate::apache::strings::{bytes, opt_bytes};
use crate::ffi;

/// The facts of `r`; every slice borrows from the request (valid until it ends).
///
/// # Safety
/// `r` is a live request, past translate/map_to_storage.
pub unsafe fn request_facts<'a>(r: *mut ffi::request_rec, pass_authorization: bool) -> RequestFacts<'a> {
    // SAFETY: all fields read are pool strings or plain values of the live request/connection.
    unsafe {
        let c = (*r).connection;
        // REQUEST_URI: what the client asked for, before internal redirects.
        let mut orig = r;
        while !(*orig).prev.is_null() {
            orig = (*orig).prev;
        }
        let scheme = ffi::ap_run_http_scheme(r);
        RequestFacts {
            method: bytes((*r).method),
            protocol: bytes((*r).protocol),
            request_uri: bytes((*orig).unparsed_uri),
            query_string: bytes((*r).args),
            uri: bytes((*r).uri),
            path_info: bytes((*r).path_info),
            server_name: bytes(ffi::ap_get_server_name(r)),
            server_port: ffi::ap_get_server_port(r) as u16,
            server_addr: bytes((*c).local_ip),
            server_software: bytes(ffi::ap_get_server_banner()),
            server_admin: bytes((*(*r).server).server_admin),
            remote_addr: bytes((*r).useragent_ip),
            remote_port: ffi::wsgi_rs_useragent_port(r) as u16,
            https: !scheme.is_null() && bytes(scheme) == b"https",
            document_root: bytes(ffi::ap_document_root(r)),
            context_prefix: bytes(ffi::ap_context_prefix(r)),
            context_document_root: bytes(ffi::ap_context_document_root(r)),
            script_filename: bytes((*r).filename),
            remote_user: opt_bytes((*r).user),
            auth_type: opt_bytes((*r).ap_auth_type),
            redirect_url: if (*r).prev.is_null() { None } else { Some(bytes((*(*r).prev).uri)) },
            pass_authorization,
        }
    }
}

/// # Safety
/// `r` is a live request.
pub unsafe fn extras<'a>(r: *mut ffi::request_rec, https: bool) -> WsgiExtras<'a> {
    let m = mpm();
    // SAFETY: Apache only makes the log id (%L) when a log format asks for it; ask for it now
    // so mod_wsgi.request_id is always set (the hook stores a pool string).
    unsafe {
        if (*r).log_id.is_null() {
            let mut id: *const std::ffi::c_char = std::ptr::null();
            ffi::ap_run_generate_log_id((*r).connection, r, &mut id);
            (*r).log_id = id;
        }
    }
    // SAFETY: plain reads of the live request and its connection.
    unsafe {
        let c = (*r).connection;
        WsgiExtras {
            https,
            multithread: m.threaded,
            multiprocess: m.multiprocess,
            process_group: "",
            application_group: "",
            listener_host: bytes((*c).local_ip),
            listener_port: ffi::wsgi_rs_local_port(r) as u16,
            server_pid: libc::getpid() as u32,
            request_id: bytes((*r).log_id),
            connection_id: Some((*c).id),
            request_start: (*r).request_time as f64 / 1_000_000.0,
            queue_start: 0.0,
            daemon_start: 0.0,
            apache_version: m.version,
        }
    }
}
