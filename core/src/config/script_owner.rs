//! `script-user=` / `script-group=` (mod_wsgi's rule, checked in the Apache child before a
//! request is handed to the daemon group; a violation is a 403):
//! - `script-user`: the script and its directory are owned by that user, and neither is
//!   writable by group or others;
//! - `script-group`: the script and its directory belong to that group, and neither is
//!   writable by others.
//!
//! Pure: the caller stats the file (following links) and its directory. Users and groups are
//! compared by id (resolved when the configuration is read), not by name as mod_wsgi does, so
//! two names for one uid are the same owner.

/// The resolved option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerRule {
    User(u32),
    Group(u32),
}

/// What the rule looks at of a file or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owned {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// `None` if `file` (the script) and `dir` (its directory) satisfy `rule`, else why not.
pub fn script_owner_violation(rule: OwnerRule, file: Owned, dir: Owned) -> Option<String> {
    let (what_w, mask) = match rule {
        OwnerRule::User(_) => ("group or others", 0o022),
        OwnerRule::Group(_) => ("others", 0o002),
    };
    for (what, o) in [("WSGI script file", file), ("directory of the WSGI script file", dir)] {
        match rule {
            OwnerRule::User(uid) if o.uid != uid => {
                return Some(format!("{what} is owned by uid {}, not uid {uid} required by script-user=", o.uid));
            }
            OwnerRule::Group(gid) if o.gid != gid => {
                return Some(format!("{what} has group gid {}, not gid {gid} required by script-group=", o.gid));
            }
            _ => {}
        }
        if o.mode & mask != 0 {
            return Some(format!("{what} is writable by {what_w} (mode {:04o})", o.mode & 0o7777));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn o(uid: u32, gid: u32, mode: u32) -> Owned {
        Owned { uid, gid, mode }
    }

    #[test]
    fn script_user() {
        let rule = OwnerRule::User(1000);
        assert_eq!(script_owner_violation(rule, o(1000, 5, 0o644), o(1000, 5, 0o755)), None);
        // Group and world may read, never write; the group itself does not matter.
        assert_eq!(script_owner_violation(rule, o(1000, 0, 0o444), o(1000, 0, 0o1755)), None);
        let e = script_owner_violation(rule, o(33, 5, 0o644), o(1000, 5, 0o755)).unwrap();
        assert_eq!(e, "WSGI script file is owned by uid 33, not uid 1000 required by script-user=");
        let e = script_owner_violation(rule, o(1000, 5, 0o664), o(1000, 5, 0o755)).unwrap();
        assert_eq!(e, "WSGI script file is writable by group or others (mode 0664)");
        assert!(script_owner_violation(rule, o(1000, 5, 0o646), o(1000, 5, 0o755)).unwrap().contains("0646"));
        let e = script_owner_violation(rule, o(1000, 5, 0o644), o(0, 5, 0o755)).unwrap();
        assert!(e.starts_with("directory of the WSGI script file is owned by uid 0"), "{e}");
        let e = script_owner_violation(rule, o(1000, 5, 0o644), o(1000, 5, 0o775)).unwrap();
        assert_eq!(e, "directory of the WSGI script file is writable by group or others (mode 0775)");
        assert!(script_owner_violation(rule, o(1000, 5, 0o644), o(1000, 5, 0o1777)).is_some());
    }

    #[test]
    fn script_group() {
        let rule = OwnerRule::Group(50);
        // Any owner; group-writable is allowed (the group is the trusted party).
        assert_eq!(script_owner_violation(rule, o(7, 50, 0o664), o(8, 50, 0o775)), None);
        let e = script_owner_violation(rule, o(7, 51, 0o644), o(8, 50, 0o755)).unwrap();
        assert_eq!(e, "WSGI script file has group gid 51, not gid 50 required by script-group=");
        let e = script_owner_violation(rule, o(7, 50, 0o666), o(8, 50, 0o755)).unwrap();
        assert_eq!(e, "WSGI script file is writable by others (mode 0666)");
        let e = script_owner_violation(rule, o(7, 50, 0o644), o(8, 0, 0o755)).unwrap();
        assert!(e.starts_with("directory of the WSGI script file has group gid 0"), "{e}");
        let e = script_owner_violation(rule, o(7, 50, 0o644), o(8, 50, 0o757)).unwrap();
        assert_eq!(e, "directory of the WSGI script file is writable by others (mode 0757)");
    }
}
