//! Who the server runs as, and whether that user can read a path. Checked before Apache starts
//! so that a wrong path or permission is one clear line, not a traceback in the error log.
//!
//! Users and groups are resolved with `getent`/`id` (NSS-aware, no unsafe code here); access
//! is decided from the mode bits of the path and every ancestor (ACLs are not consulted).
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Fail;

/// The account Apache's workers and the daemon processes switch to when started as root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub user: String,
    pub group: String,
    pub uid: u32,
    /// Primary and supplementary group ids of `user` (plus `group`).
    pub gids: Vec<u32>,
}

pub fn euid() -> u32 {
    // The owner of /proc/self is the effective uid of this process.
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}

fn getent(db: &str, name: &str) -> Option<Vec<String>> {
    let out = Command::new("getent").args([db, name]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let line = String::from_utf8_lossy(&out.stdout).lines().next()?.to_string();
    Some(line.split(':').map(str::to_string).collect())
}

/// Resolves --user/--group for a server started as root (default www-data and the user's
/// primary group). Refuses root: the application must not run with Apache's privileges.
pub fn resolve_run_as(user: Option<&str>, group: Option<&str>) -> Result<RunAs, Fail> {
    let user = user.unwrap_or("www-data");
    let pw = getent("passwd", user).ok_or_else(|| Fail(format!("--user {user}: no such user")))?;
    let uid: u32 =
        pw.get(2).and_then(|s| s.parse().ok()).ok_or_else(|| Fail(format!("--user {user}: bad passwd entry")))?;
    let primary: u32 = pw.get(3).and_then(|s| s.parse().ok()).unwrap_or(u32::MAX);
    if uid == 0 {
        return Err(Fail(format!("--user {user}: refusing to run the application as root; choose another user")));
    }
    let (group, gid) = match group {
        Some(g) => {
            let gr = getent("group", g).ok_or_else(|| Fail(format!("--group {g}: no such group")))?;
            (g.to_string(), gr.get(2).and_then(|s| s.parse().ok()).unwrap_or(u32::MAX))
        }
        None => {
            let gr = getent("group", &primary.to_string())
                .ok_or_else(|| Fail(format!("--user {user}: primary group {primary} has no name; pass --group")))?;
            (gr[0].clone(), primary)
        }
    };
    if gid == 0 {
        return Err(Fail(format!("--group {group}: refusing to run the application with group root")));
    }
    let mut gids = vec![primary, gid];
    if let Ok(out) = Command::new("id").args(["-G", user]).output() {
        gids.extend(String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|s| s.parse::<u32>().ok()));
    }
    Ok(RunAs { user: user.to_string(), group, uid, gids })
}

/// What `who` needs on the last component of a path.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Read a file.
    Read,
    /// List and enter a directory.
    List,
}

/// Whether `who` (None: this process) can reach and read `path`. For this process the real
/// open is tried; for another user the mode bits of `path` and its ancestors decide.
pub fn can_read(path: &Path, need: Need, who: Option<&RunAs>) -> bool {
    let Some(who) = who else {
        return match need {
            Need::Read => std::fs::File::open(path).is_ok(),
            Need::List => std::fs::read_dir(path).is_ok(),
        };
    };
    let Ok(abs) = std::fs::canonicalize(path) else { return false };
    let allowed = |p: &Path, bits: u32| -> bool {
        let Ok(m) = std::fs::metadata(p) else { return false };
        let mode = m.mode();
        let shift = if m.uid() == who.uid {
            6
        } else if who.gids.contains(&m.gid()) {
            3
        } else {
            0
        };
        (mode >> shift) & bits == bits
    };
    let mut dir = abs.parent().map(Path::to_path_buf);
    while let Some(d) = dir {
        if !allowed(&d, 0o1) {
            return false;
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    allowed(&abs, if need == Need::Read { 0o4 } else { 0o5 })
}

/// How error messages name `who`.
pub fn describe_who(who: Option<&RunAs>) -> String {
    match who {
        Some(w) => format!("user {}", w.user),
        None => "this user".to_string(),
    }
}

/// `path` made absolute against the current directory (without resolving symlinks).
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_bits_decide_for_another_user() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("wsgi-express-access-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("inner")).unwrap();
        std::fs::write(dir.join("inner/f"), "x").unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.join("inner/f"), std::fs::Permissions::from_mode(0o644)).unwrap();
        // A uid and groups that own nothing here: only the "other" bits count.
        let stranger = RunAs { user: "x".into(), group: "x".into(), uid: 4_000_000, gids: vec![4_000_000] };
        std::fs::set_permissions(dir.join("inner"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(can_read(&dir.join("inner/f"), Need::Read, Some(&stranger)));
        std::fs::set_permissions(dir.join("inner"), std::fs::Permissions::from_mode(0o750)).unwrap();
        assert!(!can_read(&dir.join("inner/f"), Need::Read, Some(&stranger)));
        assert!(!can_read(&dir.join("inner"), Need::List, Some(&stranger)));
        assert!(!can_read(&dir.join("missing"), Need::Read, Some(&stranger)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
