//! Dropping root in a daemon process: setgid, groups, setuid, then verification. Any failure is
//! fatal for the process (CVE-2014-0240: a failed setuid must never leave the app running as
//! root).
use std::ffi::CString;

pub struct Target<'a> {
    pub uid: u32,
    pub gid: u32,
    /// For initgroups when no explicit supplementary list is given.
    pub user_name: Option<&'a CString>,
    pub supplementary: &'a [u32],
}

fn err(what: &str) -> String {
    format!("{what} failed: {}", std::io::Error::last_os_error())
}

/// Switches the process to `t`. Only call as root.
pub fn drop_to(t: &Target<'_>) -> Result<(), String> {
    // SAFETY: plain credential syscalls on this single-threaded, freshly forked process.
    unsafe {
        if libc::setgid(t.gid) != 0 {
            return Err(err(&format!("setgid({})", t.gid)));
        }
        if !t.supplementary.is_empty() {
            // setgroups() replaces the whole list: the primary group stays in it (as mod_wsgi),
            // whether it came from group=, user= or Apache's Group.
            let mut list = Vec::with_capacity(t.supplementary.len() + 1);
            list.push(t.gid);
            list.extend(t.supplementary.iter().copied().filter(|g| *g != t.gid));
            let max = libc::sysconf(libc::_SC_NGROUPS_MAX).max(1) as usize;
            if list.len() > max {
                return Err(format!("{} supplementary groups exceed NGROUPS_MAX ({max})", list.len()));
            }
            if libc::setgroups(list.len(), list.as_ptr()) != 0 {
                return Err(err("setgroups"));
            }
        } else if let Some(name) = t.user_name {
            if libc::initgroups(name.as_ptr(), t.gid) != 0 {
                return Err(err("initgroups"));
            }
        } else if libc::setgroups(1, &t.gid) != 0 {
            return Err(err("setgroups"));
        }
        if libc::setuid(t.uid) != 0 {
            return Err(err(&format!("setuid({})", t.uid)));
        }
        // Verify, do not trust.
        if libc::getuid() != t.uid || libc::geteuid() != t.uid || libc::getgid() != t.gid || libc::getegid() != t.gid {
            return Err("credentials after the switch do not match the target".into());
        }
        if t.uid != 0 && libc::setuid(0) == 0 {
            return Err("root privileges could be regained after setuid".into());
        }
    }
    Ok(())
}

/// A user as the daemon takes it: `name` is the passwd name whose groups `initgroups` gives
/// (`None` for a `#uid` without a passwd entry: then no supplementary groups at all).
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub name: Option<String>,
}

/// The user named by `spec`, a user name or `#uid`.
pub fn lookup_user(spec: &str) -> Result<User, String> {
    if let Some(n) = spec.strip_prefix('#') {
        let uid: u32 = n.parse().map_err(|_| format!("invalid user id '{spec}'"))?;
        // SAFETY: getpwuid returns NULL or a pointer to static storage, read at once.
        let pw = unsafe { libc::getpwuid(uid) };
        if pw.is_null() {
            return Ok(User { uid, gid: uid, home: "/".into(), name: None });
        }
        // SAFETY: pw is valid until the next getpw* call; we copy out at once.
        return Ok(unsafe {
            User { uid, gid: (*pw).pw_gid, home: cstr((*pw).pw_dir), name: Some(cstr((*pw).pw_name)) }
        });
    }
    let c = CString::new(spec).map_err(|_| "user name contains NUL".to_string())?;
    // SAFETY: as above.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    if pw.is_null() {
        return Err(format!("user '{spec}' does not exist"));
    }
    // SAFETY: pw is valid until the next getpw* call; we copy out at once.
    unsafe { Ok(User { uid: (*pw).pw_uid, gid: (*pw).pw_gid, home: cstr((*pw).pw_dir), name: Some(spec.to_string()) }) }
}

pub fn lookup_group(spec: &str) -> Result<u32, String> {
    if let Some(n) = spec.strip_prefix('#') {
        return n.parse().map_err(|_| format!("invalid group id '{spec}'"));
    }
    let c = CString::new(spec).map_err(|_| "group name contains NUL".to_string())?;
    // SAFETY: getgrnam returns NULL or static storage, read at once.
    let gr = unsafe { libc::getgrnam(c.as_ptr()) };
    if gr.is_null() {
        return Err(format!("group '{spec}' does not exist"));
    }
    // SAFETY: as above.
    Ok(unsafe { (*gr).gr_gid })
}

fn cstr(p: *const libc::c_char) -> String {
    if p.is_null() {
        return "/".into();
    }
    // SAFETY: NUL-terminated C string from libc.
    unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned()
}
