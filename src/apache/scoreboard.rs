//! Apache's scoreboard (what mod_status shows), read for `mod_wsgi.server_metrics()`, and the
//! server's own description for the companion `apache` Python module.
use std::ffi::{CStr, c_char};

use wsgi_rs_core::wsgi::interp::ApacheInfo;
use wsgi_rs_core::wsgi::server_metrics::{ProcessScore, ServerScore, WorkerScore};

use super::mpm::mpm;
use crate::ffi;

/// mod_status's letter for each `SERVER_*` state of scoreboard.h (0 dead … 10 idle kill).
const LETTERS: [char; 11] = ['.', 'S', '_', 'R', 'W', 'K', 'L', 'D', 'C', 'G', 'I'];

fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: Apache's static, NUL-terminated strings (description, MPM name, build date).
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// A fixed scoreboard buffer up to its first NUL (Apache always terminates them).
fn field(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn secs(t: ffi::apr_time_t) -> f64 {
    t as f64 / 1e6
}

/// The companion `apache` module's facts.
pub fn apache_info() -> ApacheInfo {
    // SAFETY: these return pointers to static strings of the running httpd.
    let (description, mpm_name, build_date) =
        unsafe { (text(ffi::ap_get_server_description()), text(ffi::ap_show_mpm()), text(ffi::ap_get_server_built())) };
    ApacheInfo { version: mpm().version, description, mpm_name, build_date }
}

/// Reads the whole scoreboard now (every process slot up to ServerLimit, every worker slot up
/// to ThreadLimit). `None` when this process has no scoreboard (a daemon process). Called from
/// any thread of an Apache child; the scoreboard is shared memory that Apache updates without
/// locks, so a snapshot may mix states of one instant, as mod_status's does.
pub fn read() -> Option<ServerScore> {
    // SAFETY: reading Apache's scoreboard globals; the image lives as long as the child.
    unsafe {
        if ffi::ap_exists_scoreboard_image() == 0 || ffi::ap_scoreboard_image.is_null() {
            return None;
        }
        let g = ffi::ap_get_scoreboard_global();
        if g.is_null() {
            return None;
        }
        let g = *g;
        let mut out = ServerScore {
            server_limit: g.server_limit.max(0) as u32,
            thread_limit: g.thread_limit.max(0) as u32,
            running_generation: g.running_generation,
            restart_time: secs(g.restart_time),
            processes: Vec::new(),
        };
        for i in 0..g.server_limit.max(0) {
            let p = ffi::ap_get_scoreboard_process(i);
            if p.is_null() {
                continue;
            }
            let p = *p;
            let mut ps = ProcessScore {
                process_num: i as u32,
                pid: p.pid,
                generation: p.generation,
                quiescing: p.quiescing != 0,
                workers: Vec::new(),
            };
            for j in 0..g.thread_limit.max(0) {
                let mut w = ffi::worker_score::default();
                ffi::ap_copy_scoreboard_worker(&mut w, i, j);
                ps.workers.push(WorkerScore {
                    thread_num: j as u32,
                    generation: w.generation,
                    status: LETTERS.get(w.status as usize).copied().unwrap_or('?'),
                    // c_ulong: 64 bits here, 32 on some targets.
                    #[allow(clippy::unnecessary_cast)]
                    access_count: w.access_count as u64,
                    bytes_served: w.bytes_served.max(0) as u64,
                    start_time: secs(w.start_time),
                    stop_time: secs(w.stop_time),
                    last_used: secs(w.last_used),
                    client: field(&w.client64),
                    request: field(&w.request),
                    vhost: field(&w.vhost),
                });
            }
            out.processes.push(ps);
        }
        Some(out)
    }
}
