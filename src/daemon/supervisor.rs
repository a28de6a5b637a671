//! The root parent's side of daemon mode (DESIGN §3): in post_config (not the dry-run pass) each
//! group gets its listening socket (owned by Apache's User, mode 0600) and its processes; a
//! process that dies is forked again unless Apache is stopping. Sockets and processes belong to
//! `pconf`: a restart or stop kills the processes (SIGTERM, then SIGKILL after 3 s) and removes
//! the socket.
use std::ffi::{CString, c_int, c_void};

use wsgi_rs_core::wsgi::LogLevel;

use crate::apache::guard::guard;
use crate::apache::log::slog;
use crate::daemon::child;
use crate::daemon::registry::{DaemonGroup, EXIT_STARTUP_FAILED, ProcSlot, QUICK_DEATH, Registry, backoff_after, registry};
use crate::ffi;

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// True on the first (dry-run) configuration pass at start-up, when nothing may be started.
unsafe fn first_pass(s: *mut ffi::server_rec) -> bool {
    let key = c"mod_wsgi_rs.started";
    // SAFETY: userdata of the process pool, which survives generations and module reloads.
    unsafe {
        let pool = (*(*s).process).pool;
        let mut p: *mut c_void = std::ptr::null_mut();
        ffi::apr_pool_userdata_get(&mut p, key.as_ptr(), pool);
        if p.is_null() {
            ffi::apr_pool_userdata_set(std::ptr::dangling::<c_void>(), key.as_ptr(), None, pool);
            return true;
        }
    }
    false
}

/// The group's secret, kept in the process pool so it stays the same across graceful restarts
/// (Apache children of the old generation keep talking to the new daemons).
unsafe fn token(s: *mut ffi::server_rec, name: &str) -> [u8; 32] {
    let key = CString::new(format!("mod_wsgi_rs.token.{name}")).unwrap_or_default();
    // SAFETY: process pool userdata; the key and the 32 bytes are allocated in that pool.
    unsafe {
        let pool = (*(*s).process).pool;
        let mut p: *mut c_void = std::ptr::null_mut();
        ffi::apr_pool_userdata_get(&mut p, key.as_ptr(), pool);
        if p.is_null() {
            let buf = ffi::apr_palloc(pool, 32) as *mut u8;
            let mut got = 0usize;
            while got < 32 {
                let n = libc::getrandom(buf.add(got) as *mut c_void, 32 - got, 0);
                if n > 0 {
                    got += n as usize;
                }
            }
            let k = ffi::apr_pstrdup(pool, key.as_ptr());
            ffi::apr_pool_userdata_set(buf as *const c_void, k, None, pool);
            p = buf as *mut c_void;
        }
        let mut t = [0u8; 32];
        std::ptr::copy_nonoverlapping(p as *const u8, t.as_mut_ptr(), 32);
        t
    }
}

unsafe extern "C" fn close_socket(data: *mut c_void) -> ffi::apr_status_t {
    guard("socket cleanup", (), || {
        // SAFETY: data is a DaemonGroup of this generation's registry (same pool).
        let g = unsafe { &mut *(data as *mut DaemonGroup) };
        if g.listen_fd >= 0 {
            // SAFETY: our descriptor.
            unsafe { libc::close(g.listen_fd) };
            g.listen_fd = -1;
        }
    });
    0
}

unsafe extern "C" fn unlink_socket(data: *mut c_void) -> ffi::apr_status_t {
    guard("socket cleanup", (), || {
        // SAFETY: as in close_socket; registry parent_pid is stored beside it.
        let g = unsafe { &*(data as *const DaemonGroup) };
        // SAFETY: getpid/unlink have no memory preconditions; socket_path is a C string.
        unsafe {
            if libc::getpid() == g.parent_pid {
                libc::unlink(g.socket_path.as_ptr());
            }
        }
    });
    0
}

/// Creates the listening socket of `g` at its path: mode 0600, owned by Apache's User (or
/// `socket-user`), so only Apache's children can connect.
unsafe fn create_socket(g: &mut DaemonGroup, s: *mut ffi::server_rec) -> Result<(), String> {
    let path = g.socket_path.as_bytes();
    // SAFETY: sockaddr_un is plain data; the path fits (checked).
    unsafe {
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        if path.len() >= addr.sun_path.len() {
            return Err(format!("socket path '{}' is too long (use WSGISocketPrefix)", String::from_utf8_lossy(path)));
        }
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (i, b) in path.iter().enumerate() {
            addr.sun_path[i] = *b as libc::c_char;
        }
        libc::unlink(g.socket_path.as_ptr());
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(format!("socket(): {}", std::io::Error::last_os_error()));
        }
        for (opt, v) in [(libc::SO_SNDBUF, g.opts.send_buffer_size), (libc::SO_RCVBUF, g.opts.receive_buffer_size)] {
            if v > 0 {
                let v = v as c_int;
                libc::setsockopt(fd, libc::SOL_SOCKET, opt, &v as *const c_int as *const c_void, 4);
            }
        }
        let old = libc::umask(0o077);
        let rc = libc::bind(fd, &addr as *const libc::sockaddr_un as *const libc::sockaddr, std::mem::size_of::<libc::sockaddr_un>() as u32);
        libc::umask(old);
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            return Err(format!("bind('{}'): {e}", String::from_utf8_lossy(path)));
        }
        if libc::listen(fd, g.opts.listen_backlog as c_int) != 0 {
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            return Err(format!("listen(): {e}"));
        }
        if libc::geteuid() == 0 {
            let owner = match &g.opts.socket_user {
                Some(u) => crate::daemon::privileges::lookup_user(u)?.uid,
                None => ffi::ap_unixd_config.user_id,
            };
            // Never follow a link: the path is checked to be the socket just bound, and the
            // owner is changed without dereferencing (a swapped symlink changes nothing else).
            let mut st: libc::stat = std::mem::zeroed();
            if libc::lstat(g.socket_path.as_ptr(), &mut st) != 0 || (st.st_mode & libc::S_IFMT) != libc::S_IFSOCK {
                libc::close(fd);
                return Err(format!("'{}' is no longer the socket just created (replaced?)", String::from_utf8_lossy(path)));
            }
            if libc::fchownat(libc::AT_FDCWD, g.socket_path.as_ptr(), owner, u32::MAX, libc::AT_SYMLINK_NOFOLLOW) != 0 {
                let e = std::io::Error::last_os_error();
                libc::close(fd);
                return Err(format!("chown of '{}' to uid {owner}: {e}", String::from_utf8_lossy(path)));
            }
        }
        g.listen_fd = fd;
        let _ = s;
    }
    Ok(())
}

/// Forks the process of `slot`. In the child this never returns.
unsafe fn spawn(slot: *mut ProcSlot, pconf: *mut ffi::apr_pool_t, s: *mut ffi::server_rec) {
    // SAFETY: slot and its group live in pconf; apr_proc_fork forks this (single-threaded)
    // parent process.
    unsafe {
        let sl = &mut *slot;
        let g = &*sl.group;
        sl.started = now_secs() + sl.backoff;
        let rv = ffi::apr_proc_fork(&mut sl.proc_, pconf);
        if rv == ffi::APR_INCHILD as i32 {
            child::run(sl.group, sl.index, sl.backoff, s);
        }
        if rv != ffi::APR_INPARENT as i32 {
            slog(s, LogLevel::Error, &format!("RWSGI0121: Cannot fork daemon process {} of group '{}': status {rv}", sl.index, g.opts.name));
            return;
        }
        ffi::apr_pool_note_subprocess(pconf, &mut sl.proc_, ffi::APR_KILL_AFTER_TIMEOUT);
        ffi::apr_proc_other_child_register(&mut sl.proc_, Some(maintenance), slot as *mut c_void, std::ptr::null_mut(), pconf);
    }
}

/// Other-child callback (parent): restart a daemon process that died.
unsafe extern "C" fn maintenance(reason: c_int, data: *mut c_void, status: c_int) {
    guard("daemon maintenance", (), || {
        // SAFETY: data is the ProcSlot registered in `spawn`, alive as long as pconf.
        let slot = data as *mut ProcSlot;
        unsafe {
            let sl = &mut *slot;
            let g = &*sl.group;
            match reason as u32 {
                ffi::APR_OC_REASON_DEATH | ffi::APR_OC_REASON_LOST => {
                    ffi::apr_proc_other_child_unregister(data);
                    let mut state: c_int = 0;
                    ffi::ap_mpm_query(ffi::AP_MPMQ_MPM_STATE as c_int, &mut state);
                    let s = ffi::ap_server_conf;
                    // Apache's MPM hands other-child callbacks the decoded number only (exit
                    // status or signal number, without saying which).
                    let how = format!("has died (exit status or signal {status})");
                    if state == ffi::AP_MPMQ_STOPPING as c_int {
                        slog(s, LogLevel::Info, &format!("RWSGI0104: Daemon process '{}' (pid {}) {how}; Apache is stopping.", g.opts.name, sl.proc_.pid));
                        return;
                    }
                    // Failed at start-up (its own exit status says so, or it died right after
                    // starting): wait longer before each next attempt, up to MAX_BACKOFF.
                    // A clean exit (status 0: recycling) is never a failure, however soon.
                    let quick = now_secs().saturating_sub(sl.started) < QUICK_DEATH && status != 0;
                    sl.failures = if quick || status == EXIT_STARTUP_FAILED { sl.failures + 1 } else { 0 };
                    sl.backoff = backoff_after(sl.failures);
                    if sl.failures >= 3 {
                        slog(s, LogLevel::Error, &format!(
                            "RWSGI0108: Daemon process group '{}' is failing repeatedly at start-up ({} times in a row, last exit status or signal {status}); the reason is logged above by the process (RWSGI0101, RWSGI0020 or a crash). Next attempt in {} s.",
                            g.opts.name, sl.failures, sl.backoff
                        ));
                    }
                    slog(s, LogLevel::Info, &format!(
                        "RWSGI0104: Daemon process '{}' (pid {}) {how}; restarting it{}.",
                        g.opts.name, sl.proc_.pid,
                        if sl.backoff > 0 { format!(" in {} s", sl.backoff) } else { String::new() }
                    ));
                    let pconf = (*(*s).process).pconf;
                    spawn(slot, pconf, s);
                }
                ffi::APR_OC_REASON_RESTART => {
                    ffi::apr_proc_other_child_unregister(data);
                }
                _ => {}
            }
        }
    })
}

/// SIGCHLD handler of the root parent: does nothing, but interrupts the MPM's one-second sleep
/// between maintenance passes (`ap_wait_or_timeout`), so a daemon process that exits (recycled
/// by maximum-requests, restart-interval, ...) is reaped and forked again at once instead of up
/// to a second later. Otherwise a group recycling often spends most of its time with fewer
/// processes (with maximum-requests=1, mostly none), its requests waiting in the backlog.
extern "C" fn wake_on_child_exit(_sig: c_int) {}

/// Installs `wake_on_child_exit` in the parent if SIGCHLD still has its default disposition
/// (never replaces another module's handler), and restores the default when `pconf` is
/// cleared: on a restart Apache unloads this .so after pconf's cleanups, and the handler must
/// not outlive its code. Apache children and daemon processes reset SIGCHLD to the default
/// (child_init, `child::reset_signals`).
unsafe fn wake_parent_on_child_exit(pconf: *mut ffi::apr_pool_t) {
    // SAFETY: sigaction with valid pointers to local structs; the handler is async-signal-safe
    // (empty); the cleanup is registered on pconf, which is cleared before the module unloads.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut old) != 0 || old.sa_sigaction != libc::SIG_DFL {
            return;
        }
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = wake_on_child_exit as *const () as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART | libc::SA_NOCLDSTOP;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(libc::SIGCHLD, &sa, std::ptr::null_mut()) == 0 {
            ffi::apr_pool_cleanup_register(pconf, std::ptr::null(), Some(restore_sigchld), Some(ffi::apr_pool_cleanup_null));
        }
    }
}

unsafe extern "C" fn restore_sigchld(_data: *mut c_void) -> ffi::apr_status_t {
    // SAFETY: resetting a signal disposition has no memory preconditions; only our own
    // handler is replaced (checked first).
    unsafe {
        let mut cur: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut cur) == 0
            && cur.sa_sigaction == wake_on_child_exit as *const () as libc::sighandler_t
        {
            libc::signal(libc::SIGCHLD, libc::SIG_DFL);
        }
    }
    0
}

/// post_config: start every group (skipped on the dry-run pass).
///
/// # Safety
/// Called from Apache's post_config hook in the parent.
pub unsafe fn start_groups(pconf: *mut ffi::apr_pool_t, s: *mut ffi::server_rec) -> Result<(), String> {
    // SAFETY: see function contract.
    unsafe {
        if first_pass(s) {
            return Ok(());
        }
        let reg: &mut Registry = registry(pconf);
        if reg.groups.is_empty() {
            return Ok(());
        }
        reg.parent_pid = libc::getpid();
        let prefix = match &reg.socket_prefix {
            Some(p) => p.clone(),
            None => {
                let p = ffi::ap_runtime_dir_relative(pconf, c"wsgi-rs".as_ptr());
                String::from_utf8_lossy(crate::apache::strings::bytes(p)).into_owned()
            }
        };
        for g in reg.groups.iter_mut() {
            g.socket_path = CString::new(format!("{prefix}.{}.{}.sock", reg.parent_pid, g.id)).map_err(|_| "NUL in socket prefix".to_string())?;
            g.token = token(s, &g.opts.name);
            g.parent_pid = reg.parent_pid;
            create_socket(g, s).map_err(|e| format!("RWSGI0120: Cannot create the socket of daemon process group '{}': {e}", g.opts.name))?;
            let gp = &mut **g as *mut DaemonGroup as *mut c_void;
            // Close in every process (children inherit it); unlink only in this parent.
            ffi::apr_pool_cleanup_register(pconf, gp, Some(close_socket), Some(close_socket));
            ffi::apr_pool_cleanup_register(pconf, gp, Some(unlink_socket), Some(ffi::apr_pool_cleanup_null));
        }
        wake_parent_on_child_exit(pconf);
        for g in reg.groups.iter_mut() {
            let gp = &mut **g as *mut DaemonGroup;
            g.slots = (0..g.opts.processes as usize)
                .map(|i| {
                    let p = ffi::apr_palloc(pconf, std::mem::size_of::<ProcSlot>()) as *mut ProcSlot;
                    p.write(ProcSlot { proc_: std::mem::zeroed(), group: gp, index: i, started: 0, backoff: 0, failures: 0 });
                    p
                })
                .collect();
            for &sl in &g.slots {
                spawn(sl, pconf, s);
            }
        }
    }
    Ok(())
}
