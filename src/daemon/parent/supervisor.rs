//! The root parent's side of daemon mode (DESIGN §3): in post_config (not the dry-run pass) each
//! group gets its listening socket (owned by Apache's User, mode 0600) and its processes; a
//! process that dies is forked again unless Apache is stopping. Sockets and processes belong to
//! `pconf`: a restart or stop kills the processes (SIGTERM, then SIGKILL after 3 s) and removes
//! the socket.
use std::ffi::{CString, c_int, c_void};

use wsgi_rs_core::wsgi::LogLevel;

use crate::apache::guard::guard;
use crate::apache::log::slog;
use crate::apache::server::Server;
use crate::daemon::process::{hygiene, spawner};
use crate::daemon::registry::{DaemonGroup, EXIT_STARTUP_FAILED, QUICK_DEATH, Registry, backoff_after, registry};
use crate::ffi;

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// True on the first (dry-run) configuration pass at start-up, when nothing may be started.
unsafe fn first_pass(s: *mut ffi::server_rec) -> bool {
    let key = c"mod_wsgi_rs.started";
    // SAFETY: userdata of the process pool, which survives generations and module reloads.
    unsafe {
        let pool = Server::from_raw(s).process_pool().as_ptr();
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
        let pool = Server::from_raw(s).process_pool().as_ptr();
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
        let rc = libc::bind(
            fd,
            &addr as *const libc::sockaddr_un as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_un>() as u32,
        );
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
                Some(u) => crate::daemon::process::privileges::lookup_user(u)?.uid,
                None => ffi::ap_unixd_config.user_id,
            };
            // Never follow a link: the path is checked to be the socket just bound, and the
            // owner is changed without dereferencing (a swapped symlink changes nothing else).
            let mut st: libc::stat = std::mem::zeroed();
            if libc::lstat(g.socket_path.as_ptr(), &mut st) != 0 || (st.st_mode & libc::S_IFMT) != libc::S_IFSOCK {
                libc::close(fd);
                return Err(format!(
                    "'{}' is no longer the socket just created (replaced?)",
                    String::from_utf8_lossy(path)
                ));
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

/// The parent's record of its spawner process (pool-allocated in pconf).
pub struct SpawnerProc {
    pub proc_: ffi::apr_proc_t,
    /// When the current spawner began (after its back-off), seconds since the epoch.
    pub started: u64,
    pub backoff: u64,
    pub failures: u32,
    pub pconf: *mut ffi::apr_pool_t,
}

/// The spawner's command line: this Apache's own arguments without `-k ACTION` (the spawner
/// must neither signal nor start a server), with `-DFOREGROUND` (no detaching).
unsafe fn spawner_argv(s: *mut ffi::server_rec) -> Vec<CString> {
    // SAFETY: process->argv is Apache's NULL-terminated copy of the command line.
    unsafe {
        let p = (*s).process;
        let mut out = Vec::new();
        let mut i = 0;
        while i < (*p).argc as isize {
            let a = std::ffi::CStr::from_ptr(*(*p).argv.offset(i)).to_owned();
            if a.as_bytes() == b"-k" {
                i += 2;
                continue;
            }
            out.push(a);
            i += 1;
        }
        out.push(c"-DFOREGROUND".to_owned());
        out
    }
}

/// Fork+execs the spawner (see spawner.rs) for this generation's groups. The child keeps only
/// stdin/stdout, stderr (the error log), the group sockets and the token pipe.
unsafe fn launch(sp: *mut SpawnerProc, s: *mut ffi::server_rec) {
    // SAFETY: sp and the registry live in pconf; this is the single-threaded parent.
    unsafe {
        let sp = &mut *sp;
        let reg = registry(sp.pconf);
        let mut pipe: [c_int; 2] = [-1, -1];
        if libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            slog(
                Server::from_raw(s),
                LogLevel::Error,
                &wsgi_rs_core::coded!(
                    "RWSGI0121",
                    "Cannot start the daemon process spawner: pipe: {}",
                    std::io::Error::last_os_error()
                ),
            );
            return;
        }
        let handoff = spawner::Handoff {
            parent_pid: reg.parent_pid,
            token_fd: pipe[0],
            groups: reg
                .groups
                .iter()
                .map(|g| (g.id, g.opts.name.clone(), g.listen_fd, g.socket_path.to_string_lossy().into_owned()))
                .collect(),
        };
        // Everything the child needs is built before the fork.
        let argv = spawner_argv(s);
        let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_p.push(std::ptr::null());
        let mut envs: Vec<CString> = std::env::vars_os()
            .filter(|(k, _)| k != spawner::ENV)
            .filter_map(|(k, v)| {
                use std::os::unix::ffi::OsStrExt;
                CString::new([k.as_bytes(), b"=", v.as_bytes()].concat()).ok()
            })
            .collect();
        envs.push(CString::new(format!("{}={}", spawner::ENV, handoff.encode())).unwrap_or_default());
        let mut env_p: Vec<*const libc::c_char> = envs.iter().map(|e| e.as_ptr()).collect();
        env_p.push(std::ptr::null());
        let mut keep: Vec<c_int> = vec![0, 1, 2, pipe[0]];
        keep.extend(reg.groups.iter().map(|g| g.listen_fd));
        let backoff = sp.backoff;
        sp.started = now_secs() + backoff;
        let pid = libc::fork();
        if pid == 0 {
            hygiene::close_all_except(&keep);
            if backoff > 0 {
                libc::sleep(backoff as libc::c_uint);
            }
            libc::execve(c"/proc/self/exe".as_ptr(), argv_p.as_ptr(), env_p.as_ptr());
            libc::_exit(127);
        }
        libc::close(pipe[0]);
        if pid < 0 {
            libc::close(pipe[1]);
            slog(
                Server::from_raw(s),
                LogLevel::Error,
                &wsgi_rs_core::coded!(
                    "RWSGI0121",
                    "Cannot fork the daemon process spawner: {}",
                    std::io::Error::last_os_error()
                ),
            );
            return;
        }
        let mut tokens: Vec<u8> = reg.groups.iter().flat_map(|g| g.token).collect();
        let mut off = 0;
        while off < tokens.len() {
            let n = libc::write(pipe[1], tokens[off..].as_ptr() as *const c_void, tokens.len() - off);
            if n <= 0 {
                break;
            }
            off += n as usize;
        }
        hygiene::wipe(&mut tokens);
        libc::close(pipe[1]);
        sp.proc_ = std::mem::zeroed();
        sp.proc_.pid = pid;
        // Apache stopping or restarting: SIGTERM, then SIGKILL after 3 s (the spawner stops its
        // daemons within that time).
        ffi::apr_pool_note_subprocess(sp.pconf, &mut sp.proc_, ffi::APR_KILL_AFTER_TIMEOUT);
        ffi::apr_proc_other_child_register(
            &mut sp.proc_,
            Some(maintenance),
            sp as *mut SpawnerProc as *mut c_void,
            std::ptr::null_mut(),
            sp.pconf,
        );
    }
}

/// Other-child callback (parent): the spawner died outside a stop or restart (its daemons
/// follow it): start a new one, backing off if it keeps dying.
unsafe extern "C" fn maintenance(reason: c_int, data: *mut c_void, status: c_int) {
    guard("daemon maintenance", (), || {
        // SAFETY: data is the SpawnerProc registered in `launch`, alive as long as pconf.
        unsafe {
            let sp = &mut *(data as *mut SpawnerProc);
            match reason as u32 {
                ffi::APR_OC_REASON_DEATH | ffi::APR_OC_REASON_LOST => {
                    ffi::apr_proc_other_child_unregister(data);
                    let mut state: c_int = 0;
                    ffi::ap_mpm_query(ffi::AP_MPMQ_MPM_STATE as c_int, &mut state);
                    let s = ffi::ap_server_conf;
                    if state == ffi::AP_MPMQ_STOPPING as c_int {
                        return;
                    }
                    let quick = now_secs().saturating_sub(sp.started) < QUICK_DEATH && status != 0;
                    sp.failures = if quick || status == EXIT_STARTUP_FAILED { sp.failures + 1 } else { 0 };
                    sp.backoff = backoff_after(sp.failures);
                    slog(
                        Server::from_raw(s),
                        LogLevel::Error,
                        &wsgi_rs_core::coded!(
                            "RWSGI0109",
                            "The daemon process spawner (pid {}) has died (exit status or signal {status}); starting a new one{}.",
                            sp.proc_.pid,
                            if sp.backoff > 0 { format!(" in {} s", sp.backoff) } else { String::new() }
                        ),
                    );
                    launch(sp, s);
                }
                ffi::APR_OC_REASON_RESTART => {
                    ffi::apr_proc_other_child_unregister(data);
                }
                _ => {}
            }
        }
    })
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
            g.socket_path = CString::new(format!("{prefix}.{}.{}.sock", reg.parent_pid, g.id))
                .map_err(|_| "NUL in socket prefix".to_string())?;
            g.token = token(s, &g.opts.name);
            g.parent_pid = reg.parent_pid;
            create_socket(g, s).map_err(|e| {
                wsgi_rs_core::coded!(
                    "RWSGI0120",
                    "Cannot create the socket of daemon process group '{}': {e}",
                    g.opts.name
                )
            })?;
            let gp = &mut **g as *mut DaemonGroup as *mut c_void;
            // Close in every process (children inherit it); unlink only in this parent.
            ffi::apr_pool_cleanup_register(pconf, gp, Some(close_socket), Some(close_socket));
            ffi::apr_pool_cleanup_register(pconf, gp, Some(unlink_socket), Some(ffi::apr_pool_cleanup_null));
        }
        let sp = ffi::apr_palloc(pconf, std::mem::size_of::<SpawnerProc>()) as *mut SpawnerProc;
        sp.write(SpawnerProc { proc_: std::mem::zeroed(), started: 0, backoff: 0, failures: 0, pconf });
        launch(sp, s);
    }
    Ok(())
}
