//! The spawner: the clean process daemon processes are forked from (issue: daemon processes
//! that hold nothing of Apache's).
//!
//! Why: the Apache parent has, by the time daemons could be forked, every other module's
//! secrets in memory (mod_ssl keeps the site's private keys in the process pool for the whole
//! life of the server) and Apache's descriptors (listeners, pipes, logs). A fork of it hands
//! all of that to code that runs as another, less trusted user.
//!
//! How: in post_config the parent creates the group sockets, then fork+execs its own binary
//! (`/proc/self/exe`, same arguments without `-k`, plus `-DFOREGROUND`) with
//! `WSGI_RS_SPAWNER` in the environment. That fresh image reads the same configuration and,
//! in our check_config hook (before any module opens logs or loads keys), turns into the
//! spawner: it never returns into Apache. It inherits only stdin/stdout, stderr (the error log),
//! the group sockets and the error logs of the virtual hosts that define groups (opened by the
//! parent, which alone opens logs); the tokens come through a pipe. It forks the daemon processes,
//! restarts them when they die (with a growing back-off), and stops them when Apache stops it
//! (SIGTERM, from the parent's pool cleanup) or dies (PR_SET_PDEATHSIG, parent pid check).
//! Each daemon process keeps only its own group's socket and token, and has its virtual host's
//! error log as stderr.
use std::ffi::{CString, c_int};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wsgi_rs_core::daemon::status_board::{self, Board, SlotRef};
use wsgi_rs_core::wsgi::{LogLevel, log};

use crate::apache::log::{host_log, set_main};
use crate::apache::pool::Pool;
use crate::apache::server::Server;
use crate::daemon::process::child;
use crate::daemon::process::hygiene::{close_all_except, wipe};
use crate::daemon::process::title::set_title;
use crate::daemon::registry::{EXIT_STARTUP_FAILED, QUICK_DEATH, Registry, backoff_after, registry};

/// The environment variable that turns an exec'd Apache into the spawner.
pub const ENV: &str = "WSGI_RS_SPAWNER";
pub use wsgi_rs_core::daemon::handoff::Handoff;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_sig: c_int) {
    STOP.store(true, Ordering::Release);
}

/// One daemon process of one group, as the spawner tracks it.
struct Slot {
    group: usize,
    index: usize,
    pid: libc::pid_t,
    /// When the current process began its own start-up (after its back-off sleep).
    started: Instant,
    backoff: u64,
    failures: u32,
    /// This process's slot on the group's status board (see `status_board`).
    board: Option<SlotRef>,
}

fn fatal(msg: &str) -> ! {
    host_log(
        LogLevel::Error,
        &wsgi_rs_core::coded!("RWSGI0109", "mod_wsgi_rs spawner (pid {}) cannot run: {msg}", std::process::id()),
    );
    // SAFETY: leaving without running Apache's exit code.
    unsafe { libc::_exit(EXIT_STARTUP_FAILED) }
}

/// Called from check_config in every Apache process: returns at once unless this process was
/// exec'd by the parent to be the spawner; then it never returns.
///
/// # Safety
/// `pconf`/`s` are the configuration pool and main server just read; the process is
/// single-threaded and holds no reference to the registry.
pub unsafe fn become_spawner_if_asked(pconf: Pool, s: Server) {
    let Ok(desc) = std::env::var(ENV) else { return };
    // SAFETY (remove_var): single-threaded. Daemons must not see it.
    unsafe { std::env::remove_var(ENV) };
    // SAFETY: forwarded contract.
    unsafe { run(&desc, pconf, s) }
}

/// Makes the main server log to stderr, which the parent pointed at its error log (logs are
/// never opened in this process).
///
/// # Safety
/// Single-threaded; `pconf` is the configuration pool of `s`.
unsafe fn log_to_stderr(pconf: Pool, s: Server) {
    // SAFETY: forwarded contract: no other thread, and pconf lives as long as `s`.
    unsafe { s.set_error_log_stderr(pconf) };
    set_main(s);
    log::set_host_logger(host_log);
}

/// # Safety
/// As [`become_spawner_if_asked`].
unsafe fn run(desc: &str, pconf: Pool, s: Server) -> ! {
    // SAFETY: forwarded contract (configured pool and server, single thread).
    unsafe { log_to_stderr(pconf, s) };
    let Some(h) = Handoff::decode(desc) else { fatal("malformed hand-over from the Apache parent") };
    // Die with the parent; and if it already died, go now.
    // SAFETY: prctl/getppid have no memory preconditions.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
        if libc::getppid() != h.parent_pid {
            libc::_exit(0);
        }
    }
    // SAFETY: the registry this process built while reading the configuration; nothing else
    // refers to it from here on (this function never returns).
    let reg: &mut Registry = unsafe { registry(pconf) };
    let mut tokens = vec![0u8; 32 * h.groups.len()];
    // SAFETY: reading into our buffer from the pipe the parent handed over.
    let ok = unsafe { read_full(h.token_fd, &mut tokens) };
    // SAFETY: our descriptor.
    unsafe { libc::close(h.token_fd) };
    if !ok {
        fatal("could not read the daemon groups' tokens from the Apache parent");
    }
    if reg.groups.len() != h.groups.len() {
        fatal(
            "the configuration read here differs from the Apache parent's (changed on disk since Apache read it?); restart Apache",
        );
    }
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    for (i, gh) in h.groups.iter().enumerate() {
        let Some(g) = reg.groups.get_mut(gh.id).filter(|g| g.opts.name == gh.name) else {
            fatal(&format!("daemon process group '{}' is not in the configuration read here; restart Apache", gh.name));
        };
        g.listen_fd = gh.listen_fd;
        g.log_fd = gh.log_fd;
        g.socket_path = CString::new(gh.socket_path.as_str()).unwrap_or_default();
        g.token.copy_from_slice(&tokens[i * 32..(i + 1) * 32]);
        // For the daemons: the process whose death they must follow is this one.
        g.parent_pid = me;
    }
    wipe(&mut tokens);
    set_title("(wsgi-rs:spawner)");
    // SAFETY: signal dispositions and mask of this single-threaded process. SIGTERM, SIGINT
    // and SIGCHLD are blocked and taken with sigtimedwait (supervise), so a daemon that exits
    // is replaced at once; daemon processes unblock them (child::reset_signals). SIGHUP/SIGUSR1
    // (prefork sends them to the process group on restarts) are the parent's business, which
    // stops us through SIGTERM.
    unsafe {
        let h = on_term as *const () as libc::sighandler_t;
        libc::signal(libc::SIGTERM, h);
        libc::signal(libc::SIGINT, h);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGUSR1, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::sigprocmask(libc::SIG_BLOCK, &waited_signals(), std::ptr::null_mut());
    }
    let mut slots: Vec<Slot> = Vec::new();
    for (gi, g) in reg.groups.iter().enumerate() {
        let board = open_board(g.socket_path.to_bytes(), g.opts.processes as usize, g.opts.threads as u64);
        for index in 0..g.opts.processes as usize {
            let board = board.and_then(|b| b.slot(index));
            slots.push(Slot { group: gi, index, pid: 0, started: Instant::now(), backoff: 0, failures: 0, board });
        }
    }
    for sl in slots.iter_mut() {
        // SAFETY: single-threaded spawner; s and the registry are this process's config.
        unsafe { spawn(reg, sl, s) };
    }
    // SAFETY: as above.
    unsafe { supervise(reg, &mut slots, s, h.parent_pid) }
}

/// Forks the process of `sl`; in the child this never returns.
///
/// # Safety
/// The spawner's single thread; `s` is its main server.
unsafe fn spawn(reg: &mut Registry, sl: &mut Slot, s: Server) {
    sl.started = Instant::now() + Duration::from_secs(sl.backoff);
    // SAFETY: fork of this single-threaded process.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // The daemon keeps only its own group's socket, token and virtual host error log.
        let (keep, log) = (reg.groups[sl.group].listen_fd, reg.groups[sl.group].log_fd);
        for (i, g) in reg.groups.iter_mut().enumerate() {
            if i != sl.group {
                wipe(&mut g.token);
                g.listen_fd = -1;
                g.log_fd = -1;
            }
        }
        close_all_except(&[0, 1, 2, keep, log]);
        if let Some(b) = sl.board {
            // The process records itself (before any request it serves can count).
            // SAFETY: getpid has no preconditions.
            b.started(unsafe { libc::getpid() }, wsgi_rs_core::daemon::now_us());
            status_board::set_my_slot(b);
        }
        // SAFETY: in the freshly forked, single-threaded child.
        unsafe { child::run(&reg.groups[sl.group], sl.index, sl.backoff, s) };
    }
    if pid < 0 {
        host_log(
            LogLevel::Error,
            &wsgi_rs_core::coded!(
                "RWSGI0121",
                "Cannot fork daemon process {} of group '{}': {}",
                sl.index,
                reg.groups[sl.group].opts.name,
                std::io::Error::last_os_error()
            ),
        );
        sl.pid = 0;
        return;
    }
    sl.pid = pid;
}

/// Creates (or replaces) the group's status board beside its socket, `<socket>.status`, mode
/// 0644, root's when Apache starts as root, and maps it shared: daemon processes inherit the
/// mapping and write their slots; Apache children read the file (the `wsgi-status` handler).
/// `None` (no status for this group) if it cannot be made; serving goes on.
fn open_board(socket_path: &[u8], processes: usize, threads: u64) -> Option<Board> {
    let path = CString::new(status_board::status_path(socket_path)).ok()?;
    let len = status_board::board_len(processes);
    // SAFETY: plain file calls on a path we own (the runtime directory of our sockets); the
    // mapping is shared, of `len` bytes, page-aligned, and never unmapped (daemon processes
    // inherit it; it lives until each process exits).
    unsafe {
        libc::unlink(path.as_ptr());
        let fd = libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC, 0o644);
        if fd < 0 {
            return None;
        }
        libc::fchmod(fd, 0o644);
        if libc::ftruncate(fd, len as libc::off_t) != 0 {
            libc::close(fd);
            return None;
        }
        let p = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0);
        libc::close(fd);
        if p == libc::MAP_FAILED {
            return None;
        }
        let b = Board::from_raw(p as *mut u64, len / 8);
        b.init(processes, threads, wsgi_rs_core::daemon::now_us());
        Some(b)
    }
}

/// Exit status or signal number, as the parent used to report them.
fn how(status: c_int) -> c_int {
    if libc::WIFSIGNALED(status) { libc::WTERMSIG(status) } else { libc::WEXITSTATUS(status) }
}

/// The signals the spawner waits for instead of handling them.
fn waited_signals() -> libc::sigset_t {
    // SAFETY: building a signal set in a local variable.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT] {
            libc::sigaddset(&mut set, sig);
        }
        set
    }
}

/// # Safety
/// The spawner's single thread; `s` is its main server.
unsafe fn supervise(reg: &mut Registry, slots: &mut [Slot], s: Server, parent: i32) -> ! {
    let set = waited_signals();
    loop {
        // Sleep until a child exits, we are told to stop, or 100 ms pass (parent check).
        let ts = libc::timespec { tv_sec: 0, tv_nsec: 100_000_000 };
        // SAFETY: waiting for blocked signals with valid pointers.
        let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) };
        if sig == libc::SIGTERM || sig == libc::SIGINT {
            STOP.store(true, Ordering::Release);
        }
        // SAFETY: getppid has no preconditions.
        if STOP.load(Ordering::Acquire) || unsafe { libc::getppid() } != parent {
            // SAFETY: as in run.
            unsafe { stop_all(reg, slots) };
        }
        loop {
            let mut status: c_int = 0;
            // SAFETY: reaping our own children.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            let Some(sl) = slots.iter_mut().find(|sl| sl.pid == pid) else { continue };
            let g = &reg.groups[sl.group];
            let n = how(status);
            if let Some(b) = sl.board {
                b.died(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, n, wsgi_rs_core::daemon::now_us());
            }
            // A clean exit (status 0: recycling) is never a failure, however soon.
            let quick = sl.started.elapsed() < Duration::from_secs(QUICK_DEATH) && status != 0;
            sl.failures =
                if quick || n == EXIT_STARTUP_FAILED && !libc::WIFSIGNALED(status) { sl.failures + 1 } else { 0 };
            sl.backoff = backoff_after(sl.failures);
            if sl.failures >= 3 {
                host_log(
                    LogLevel::Error,
                    &wsgi_rs_core::coded!(
                        "RWSGI0108",
                        "Daemon process group '{}' is failing repeatedly at start-up ({} times in a row, last exit status or signal {n}); the reason is logged above by the process (RWSGI0101, RWSGI0020 or a crash). Next attempt in {} s.",
                        g.opts.name,
                        sl.failures,
                        sl.backoff
                    ),
                );
            }
            host_log(
                LogLevel::Info,
                &wsgi_rs_core::coded!(
                    "RWSGI0104",
                    "Daemon process '{}' (pid {pid}) has died (exit status or signal {n}); restarting it{}.",
                    g.opts.name,
                    if sl.backoff > 0 { format!(" in {} s", sl.backoff) } else { String::new() }
                ),
            );
            // SAFETY: as in run.
            unsafe { spawn(reg, sl, s) };
        }
        for sl in slots.iter_mut().filter(|sl| sl.pid == 0) {
            // A failed fork: try again on the next round.
            // SAFETY: as in run.
            unsafe { spawn(reg, sl, s) };
        }
    }
}

/// Apache is stopping or restarting: SIGTERM every daemon process (they finish running
/// requests for up to 2.5 s), SIGKILL what is left after 2.8 s (Apache kills this process 3 s
/// after its SIGTERM), then exit.
unsafe fn stop_all(reg: &Registry, slots: &mut [Slot]) -> ! {
    for sl in slots.iter().filter(|sl| sl.pid > 0) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(sl.pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_millis(2800);
    while slots.iter().any(|sl| sl.pid > 0) {
        let mut status: c_int = 0;
        // SAFETY: reaping our own children.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            if let Some(sl) = slots.iter_mut().find(|sl| sl.pid == pid) {
                host_log(
                    LogLevel::Info,
                    &wsgi_rs_core::coded!(
                        "RWSGI0104",
                        "Daemon process '{}' (pid {pid}) has died (exit status or signal {}); Apache is stopping.",
                        reg.groups[sl.group].opts.name,
                        how(status)
                    ),
                );
                sl.pid = 0;
            }
            continue;
        }
        if pid < 0 {
            break;
        }
        if Instant::now() >= deadline {
            for sl in slots.iter().filter(|sl| sl.pid > 0) {
                // SAFETY: as above.
                unsafe { libc::kill(sl.pid, libc::SIGKILL) };
            }
            // SAFETY: reap what was killed, without blocking on anything else.
            while unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) } > 0 {}
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: leaving without running Apache's exit code.
    unsafe { libc::_exit(0) }
}

/// Reads exactly `buf.len()` bytes. `false` on EOF or error.
unsafe fn read_full(fd: c_int, buf: &mut [u8]) -> bool {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reading into the unfilled rest of `buf`.
        let n = unsafe { libc::read(fd, buf[got..].as_mut_ptr() as *mut _, buf.len() - got) };
        if n > 0 {
            got += n as usize;
        } else if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        } else {
            return false;
        }
    }
    true
}
