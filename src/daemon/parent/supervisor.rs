//! The root parent's side of daemon mode (DESIGN §3): in post_config (not the dry-run pass) each
//! group gets its listening socket (owned by Apache's User, mode 0600) and its processes; a
//! process that dies is forked again unless Apache is stopping. Sockets and processes belong to
//! `pconf`: a restart or stop kills the processes (SIGTERM, then SIGKILL after 3 s) and removes
//! the socket.
use std::ffi::{CString, c_int, c_void};

use wsgi_rs_core::daemon::handoff::GroupHandoff;
use wsgi_rs_core::wsgi::LogLevel;

use crate::apache::cleanup::CleanupIn;
use crate::apache::log::slog;
use crate::apache::mpm;
use crate::apache::pool::Pool;
use crate::apache::process::OtherChild;
use crate::apache::server::Server;
use crate::apache::unixd;
use crate::daemon::process::{hygiene, spawner};
use crate::daemon::registry::{DaemonGroup, EXIT_STARTUP_FAILED, QUICK_DEATH, Registry, backoff_after, registry};

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// True on the first (dry-run) configuration pass at start-up, when nothing may be started.
/// The mark lives in the process pool, which survives generations and module reloads.
fn first_pass(s: Server) -> bool {
    !s.process_pool().userdata_mark(c"mod_wsgi_rs.started")
}

/// The group's secret, kept in the process pool so it stays the same across graceful restarts
/// (Apache children of the old generation keep talking to the new daemons).
fn token(s: Server, name: &str) -> [u8; 32] {
    let key = CString::new(format!("mod_wsgi_rs.token.{name}")).unwrap_or_default();
    // SAFETY: "mod_wsgi_rs.token.*" keys are only ever set here, always with 32 bytes.
    unsafe { s.process_pool().userdata_bytes(&key, fill_random) }
}

fn fill_random(buf: &mut [u8; 32]) {
    let mut got = 0usize;
    while got < buf.len() {
        // SAFETY: writing into the unfilled rest of `buf`.
        let n = unsafe { libc::getrandom(buf[got..].as_mut_ptr() as *mut c_void, buf.len() - got, 0) };
        if n > 0 {
            got += n as usize;
        }
    }
}

/// Creates the listening socket of `g` at its path: mode 0600, owned by Apache's User (or
/// `socket-user`), so only Apache's children can connect.
fn create_socket(g: &mut DaemonGroup) -> Result<(), String> {
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
                None => unixd::user_id(),
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
    }
    Ok(())
}

/// What the parent keeps about its spawner process (in an [`OtherChild`] of pconf).
#[derive(Clone, Copy, Default)]
pub struct SpawnerState {
    /// When the current spawner began (after its back-off), seconds since the epoch.
    pub started: u64,
    pub backoff: u64,
    pub failures: u32,
}

type SpawnerProc = OtherChild<SpawnerState>;

/// The spawner's command line: this Apache's own arguments without `-k ACTION` (the spawner
/// must neither signal nor start a server), with `-DFOREGROUND` (no detaching).
fn spawner_argv(s: Server) -> Vec<CString> {
    let mut out = Vec::new();
    let mut args = s.process_argv().into_iter();
    while let Some(a) = args.next() {
        if a.as_bytes() == b"-k" {
            args.next();
            continue;
        }
        out.push(a);
    }
    out.push(c"-DFOREGROUND".to_owned());
    out
}

/// Fork+execs the spawner (see spawner.rs) for this generation's groups. The child keeps only
/// stdin/stdout, stderr (the error log), the group sockets, the token pipe and the error logs of
/// the virtual hosts that define groups (each becomes the stderr of its groups' processes).
fn launch(sp: &mut SpawnerProc, s: Server) {
    // SAFETY: the registry of sp's pool (pconf); the parent is single-threaded and no other
    // reference to the registry is in use (post_config or the MPM's maintenance callback).
    let reg = unsafe { registry(sp.pool()) };
    let mut pipe: [c_int; 2] = [-1, -1];
    // SAFETY: pipe2 writes two descriptors into `pipe`.
    if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        slog(
            s,
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
            .map(|g| GroupHandoff {
                id: g.id,
                name: g.opts.name.clone(),
                listen_fd: g.listen_fd,
                socket_path: g.socket_path.to_string_lossy().into_owned(),
                log_fd: g.own_error_log_fd(s).unwrap_or(-1),
            })
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
    keep.extend(handoff.groups.iter().flat_map(|g| [g.listen_fd, g.log_fd]));
    let backoff = sp.state.backoff;
    sp.state.started = now_secs() + backoff;
    // SAFETY: fork of the single-threaded parent; the child only closes descriptors, sleeps
    // and execs with the NULL-terminated arrays built above (no allocation), or _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        hygiene::close_all_except(&keep);
        // SAFETY: as above.
        unsafe {
            if backoff > 0 {
                libc::sleep(backoff as libc::c_uint);
            }
            libc::execve(c"/proc/self/exe".as_ptr(), argv_p.as_ptr(), env_p.as_ptr());
            libc::_exit(127);
        }
    }
    // SAFETY: our descriptor (the child's end).
    unsafe { libc::close(pipe[0]) };
    if pid < 0 {
        // SAFETY: our descriptor.
        unsafe { libc::close(pipe[1]) };
        slog(
            s,
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
        // SAFETY: writing the unwritten rest of `tokens` to our pipe.
        let n = unsafe { libc::write(pipe[1], tokens[off..].as_ptr() as *const c_void, tokens.len() - off) };
        if n <= 0 {
            break;
        }
        off += n as usize;
    }
    hygiene::wipe(&mut tokens);
    // SAFETY: our descriptor.
    unsafe { libc::close(pipe[1]) };
    // Apache stopping or restarting: SIGTERM, then SIGKILL after 3 s (the spawner stops its
    // daemons within that time).
    sp.watch(pid);
}

/// The spawner died outside a stop or restart (its daemons follow it): start a new one,
/// backing off if it keeps dying.
fn spawner_died(sp: &mut SpawnerProc, status: c_int) {
    if mpm::is_stopping() {
        return;
    }
    let Some(s) = Server::main() else { return };
    let st = &mut sp.state;
    let quick = now_secs().saturating_sub(st.started) < QUICK_DEATH && status != 0;
    st.failures = if quick || status == EXIT_STARTUP_FAILED { st.failures + 1 } else { 0 };
    st.backoff = backoff_after(st.failures);
    slog(
        s,
        LogLevel::Error,
        &wsgi_rs_core::coded!(
            "RWSGI0109",
            "The daemon process spawner (pid {}) has died (exit status or signal {status}); starting a new one{}.",
            sp.pid(),
            if sp.state.backoff > 0 { format!(" in {} s", sp.state.backoff) } else { String::new() }
        ),
    );
    launch(sp, s);
}

/// post_config: start every group (skipped on the dry-run pass).
///
/// # Safety
/// Called from Apache's post_config hook in the (single-threaded) parent, with the
/// configuration pool and main server of this generation, while no other reference to the
/// registry is in use.
pub unsafe fn start_groups(pconf: Pool, s: Server) -> Result<(), String> {
    if first_pass(s) {
        return Ok(());
    }
    // SAFETY: see function contract.
    let reg: &mut Registry = unsafe { registry(pconf) };
    if reg.groups.is_empty() {
        return Ok(());
    }
    // SAFETY: getpid has no preconditions.
    reg.parent_pid = unsafe { libc::getpid() };
    let prefix = match &reg.socket_prefix {
        Some(p) => p.clone(),
        None => pconf.runtime_dir_relative(c"wsgi-rs"),
    };
    for g in reg.groups.iter_mut() {
        g.socket_path = CString::new(format!("{prefix}.{}.{}.sock", reg.parent_pid, g.id))
            .map_err(|_| "NUL in socket prefix".to_string())?;
        g.token = token(s, &g.opts.name);
        g.parent_pid = reg.parent_pid;
        create_socket(g).map_err(|e| {
            wsgi_rs_core::coded!("RWSGI0120", "Cannot create the socket of daemon process group '{}': {e}", g.opts.name)
        })?;
        // Close in every process (children inherit it); unlink only in this parent.
        let fd = g.listen_fd;
        pconf.on_cleanup(CleanupIn::PoolAndExecChild, move || {
            // SAFETY: the group's listening socket, closed by this cleanup only.
            unsafe { libc::close(fd) };
        });
        let (path, parent) = (g.socket_path.clone(), g.parent_pid);
        // The status board the spawner makes beside the socket goes with it.
        let board = CString::new(wsgi_rs_core::daemon::status_board::status_path(path.as_bytes())).ok();
        pconf.on_cleanup(CleanupIn::Pool, move || {
            // SAFETY: getpid/unlink have no memory preconditions; the paths are C strings.
            unsafe {
                if libc::getpid() == parent {
                    libc::unlink(path.as_ptr());
                    if let Some(b) = &board {
                        libc::unlink(b.as_ptr());
                    }
                }
            }
        });
    }
    OtherChild::create_in(pconf, "daemon maintenance", SpawnerState::default(), spawner_died, |sp| launch(sp, s));
    Ok(())
}
