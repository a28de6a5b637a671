//! Reading a `request_rec` into the host-neutral [`RequestFacts`] and [`WsgiExtras`], directly
//! from the record (Apache's CGI helpers cost ~7 µs a request, DESIGN §6).
use wsgi_rs_core::environ::RequestFacts;
use wsgi_rs_core::wsgi::WsgiExtras;

use crate::apache::mpm::mpm;
use crate::apache::request::Request;

/// The facts of `r`; every slice borrows from the request (valid until it ends). `r` is past
/// translate/map_to_storage.
pub fn request_facts(r: &Request, pass_authorization: bool) -> RequestFacts<'_> {
    RequestFacts {
        method: r.method(),
        protocol: r.protocol(),
        // REQUEST_URI: what the client asked for, before internal redirects.
        request_uri: r.original_unparsed_uri(),
        query_string: r.args(),
        uri: r.uri(),
        path_info: r.path_info(),
        server_name: r.server_name(),
        server_port: r.server_port(),
        server_addr: r.local_ip(),
        server_software: r.server_banner(),
        server_admin: r.server_admin(),
        remote_addr: r.useragent_ip(),
        remote_port: r.useragent_port(),
        https: r.is_https(),
        document_root: r.document_root(),
        context_prefix: r.context_prefix(),
        context_document_root: r.context_document_root(),
        script_filename: r.filename(),
        remote_user: r.user(),
        auth_type: r.auth_type(),
        redirect_url: r.redirected_from_uri(),
        pass_authorization,
        cgi_pass_auth: r.cgi_pass_auth(),
    }
}

thread_local! {
    /// This process's pid, asked once per thread (a `getpid` syscall per request otherwise).
    /// Requests run on threads of the Apache child, all started after its fork, so a thread
    /// never holds another process's pid.
    static PID: u32 = std::process::id();
}

fn this_pid() -> u32 {
    PID.with(|p| *p)
}

pub fn extras(r: &Request, https: bool) -> WsgiExtras<'_> {
    let m = mpm();
    WsgiExtras {
        https,
        multithread: m.threaded,
        multiprocess: m.multiprocess,
        process_group: "",
        application_group: "",
        listener_host: r.local_ip(),
        listener_port: r.local_port(),
        server_pid: this_pid(),
        // Apache only makes the log id (%L) when a log format asks for it; ask for it now so
        // mod_wsgi.request_id is always set.
        request_id: r.log_id(),
        connection_id: Some(r.connection_id()),
        request_start: r.request_time() as f64 / 1_000_000.0,
        queue_start: 0.0,
        daemon_start: 0.0,
        apache_version: m.version,
        request_handler: r.handler(),
        handler_script: b"",
        apache_request: None,
    }
}
