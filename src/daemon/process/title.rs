//! The process title `ps` shows for a daemon (`display-name=`). APR copies `argv`, so the
//! strings in `process_rec` are not the ones `ps` reads: write over the kernel's original
//! argument area instead (its bounds are in /proc/self/stat), as mod_wsgi overwrites argv.
use std::ffi::CString;

/// (arg_start, arg_end) of this process: fields 48 and 49 of /proc/self/stat.
fn arg_area() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3.
    Some((f.get(45)?.parse().ok()?, f.get(46)?.parse().ok()?))
}

pub fn set_title(title: &str) {
    if let Ok(name) = CString::new(title.chars().take(15).collect::<String>()) {
        // SAFETY: PR_SET_NAME copies at most 16 bytes from a NUL-terminated string.
        unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
    }
    let Some((start, end)) = arg_area() else { return };
    if end <= start + 1 {
        return;
    }
    let room = end - start - 1;
    // SAFETY: [start, end) is this process's own argument memory (on its stack, writable);
    // we write inside it and keep a final NUL.
    unsafe {
        let p = start as *mut u8;
        std::ptr::write_bytes(p, 0, room + 1);
        std::ptr::copy_nonoverlapping(title.as_ptr(), p, title.len().min(room));
    }
}
