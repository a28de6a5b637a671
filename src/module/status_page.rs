//! The `wsgi-status` content handler (`SetHandler wsgi-status` in a `<Location>`, protected
//! with `Require` like mod_status's `server-status`): every daemon group's status board, read
//! from the files the spawner and the daemon processes keep (`core::daemon::status_board`), as
//! HTML, or as JSON with `?json`. Any Apache child answers the same: the data are in the boards,
//! not in the child.
use std::ffi::c_int;

use wsgi_rs_core::daemon::status_board::{Snapshot, status_path};
use wsgi_rs_core::daemon::status_page::{self, GroupStatus};

use crate::apache::guard::guard;
use crate::apache::request::Request;
use crate::apache::status::Status;
use crate::daemon::registry::child_registry;
use crate::ffi;

/// # Safety
/// Called by Apache only, as a handler hook, with a live request.
pub unsafe extern "C" fn handler(r: *mut ffi::request_rec) -> c_int {
    guard("wsgi-status handler", Status::INTERNAL_SERVER_ERROR.raw(), || {
        // SAFETY: Apache calls the handler with a live request, used only within this call.
        let r = unsafe { Request::from_raw(r) };
        handle(r).raw()
    })
}

/// A board file, read whole (it is a few KiB); `None` if missing or not a board.
fn read_board(socket_path: &[u8]) -> Option<Snapshot> {
    let path = std::ffi::OsStr::new(std::str::from_utf8(&status_path(socket_path)).ok()?).to_owned();
    let bytes = std::fs::read(path).ok()?;
    Snapshot::parse(&bytes)
}

fn handle(r: Request) -> Status {
    if r.handler() != b"wsgi-status" {
        return Status::DECLINED;
    }
    if r.method() != b"GET" && r.method() != b"HEAD" {
        return Status::from_raw(ffi::HTTP_METHOD_NOT_ALLOWED as c_int);
    }
    let groups: Vec<GroupStatus<'_>> = child_registry()
        .map(|reg| {
            reg.groups
                .iter()
                .map(|g| GroupStatus {
                    name: &g.opts.name,
                    processes: g.opts.processes,
                    threads: g.opts.threads,
                    board: read_board(g.socket_path.to_bytes()),
                })
                .collect()
        })
        .unwrap_or_default();
    let now = wsgi_rs_core::daemon::now_us().max(0) as u64;
    let want_json = r.args().split(|&b| b == b'&').any(|a| a == b"json" || a.starts_with(b"json="));
    let (body, ct): (String, &[u8]) = if want_json {
        (status_page::json(&groups, now), b"application/json")
    } else {
        (status_page::html(&groups, now), b"text/html; charset=utf-8")
    };
    r.set_content_type(ct);
    r.set_content_length(body.len() as i64);
    r.headers_out().setn(c"Cache-Control", c"no-store");
    if !r.header_only() {
        r.rwrite(body.as_bytes());
    }
    Status::OK
}
