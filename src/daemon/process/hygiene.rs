//! What a process forked from Apache (or from the spawner) drops before running other code:
//! descriptors it must not keep, secrets it must not hold.
use std::ffi::c_int;

/// Closes every descriptor of this process except `keep` (which lose FD_CLOEXEC).
/// Single-threaded callers only (between fork and exec, or at daemon start-up).
pub fn close_all_except(keep: &[c_int]) {
    let mut keep: Vec<c_int> = keep.iter().copied().filter(|fd| *fd >= 0).collect();
    keep.sort_unstable();
    keep.dedup();
    // SAFETY: plain descriptor syscalls; nothing else uses the closed descriptors (the process
    // is single-threaded and about to exec or to start afresh).
    unsafe {
        for &fd in &keep {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
            }
        }
        let mut lo: libc::c_uint = 0;
        for &fd in keep.iter().chain(std::iter::once(&c_int::MAX)) {
            let fd = fd as libc::c_uint;
            if fd > lo {
                let hi = fd - 1;
                if libc::syscall(libc::SYS_close_range, lo, hi, 0) != 0 {
                    // Kernels before 5.9: close one by one up to the descriptor limit.
                    let max = libc::sysconf(libc::_SC_OPEN_MAX).clamp(1024, 1 << 20) as libc::c_uint;
                    for f in lo..=hi.min(max) {
                        libc::close(f as c_int);
                    }
                }
            }
            lo = fd.saturating_add(1);
        }
    }
}

/// Overwrites a secret so the compiler cannot drop the stores as dead.
pub fn wipe(b: &mut [u8]) {
    for x in b.iter_mut() {
        // SAFETY: a valid, exclusive pointer into `b`.
        unsafe { std::ptr::write_volatile(x, 0) };
    }
}
