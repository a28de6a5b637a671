//! The few system calls std has no safe API for: catching SIGINT/SIGTERM/SIGHUP so they can be
//! forwarded to Apache, sending a signal to a pid, and tying Apache's life to ours. The only
//! `unsafe` code of wsgi-express lives here.
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};

/// The last stop signal received (0: none). Written by the handler, read by the wait loop.
static PENDING: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    // Async-signal-safe: one atomic store.
    PENDING.store(sig, Ordering::SeqCst);
}

/// Catches SIGINT, SIGTERM and SIGHUP from now on (they no longer kill this process).
pub fn catch_stop_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler only
        // stores into an atomic, which is async-signal-safe; sigaction has no other effect.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// The stop signal received since the last call, if any.
pub fn take_signal() -> Option<i32> {
    match PENDING.swap(0, Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Sends `sig` to `pid` (a child this process started and has not reaped yet, so the pid
/// cannot have been reused).
pub fn send(pid: u32, sig: i32) {
    // SAFETY: kill has no memory effects; the pid is our unreaped child.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// Makes the child get SIGTERM if this process dies first (even by SIGKILL), so Apache never
/// outlives its wsgi-express. The child runs in its own process group, so a terminal's Ctrl-C
/// reaches only wsgi-express, which forwards one orderly stop to Apache's parent.
pub fn tie_to_parent(cmd: &mut Command) {
    cmd.process_group(0);
    // SAFETY: the closure runs in the forked child before exec and calls only prctl, which is
    // async-signal-safe; it allocates nothing and touches no locks.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
