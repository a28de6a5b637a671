//! What the Apache parent tells the spawner it exec's (src/daemon/spawner.rs), as the value
//! of one environment variable: no secrets (the tokens travel through a pipe), only pids,
//! descriptor numbers, group names and socket paths (hex-encoded: any bytes are safe).
use std::ffi::c_int;

/// Bumped when the format changes: a spawner exec'd from a module replaced on disk since the
/// parent loaded it refuses the hand-over instead of misreading it.
const VERSION: &str = "2";

/// One daemon group as the parent hands it over.
#[derive(Debug, PartialEq, Eq)]
pub struct GroupHandoff {
    /// Index in the registry.
    pub id: usize,
    pub name: String,
    /// The group's listening socket.
    pub listen_fd: c_int,
    pub socket_path: String,
    /// The error log of the `<VirtualHost>` the group is defined in, opened by the parent
    /// (becomes the daemon processes' stderr); -1: none of its own, the main error log.
    pub log_fd: c_int,
}

/// What the parent tells the spawner (the environment value, without secrets).
#[derive(Debug, PartialEq, Eq)]
pub struct Handoff {
    pub parent_pid: i32,
    /// Read end of the pipe carrying the groups' tokens (32 bytes each, in group order).
    pub token_fd: c_int,
    pub groups: Vec<GroupHandoff>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

impl Handoff {
    pub fn encode(&self) -> String {
        let groups: Vec<String> = self
            .groups
            .iter()
            .map(|g| {
                format!(
                    "{}:{}:{}:{}:{}",
                    g.id,
                    g.listen_fd,
                    g.log_fd,
                    hex(g.name.as_bytes()),
                    hex(g.socket_path.as_bytes())
                )
            })
            .collect();
        format!("{VERSION};{};{};{}", self.parent_pid, self.token_fd, groups.join(","))
    }

    pub fn decode(s: &str) -> Option<Handoff> {
        let mut parts = s.split(';');
        if parts.next()? != VERSION {
            return None;
        }
        let parent_pid = parts.next()?.parse().ok()?;
        let token_fd = parts.next()?.parse().ok()?;
        let list = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let mut groups = Vec::new();
        for g in list.split(',').filter(|g| !g.is_empty()) {
            let f: Vec<&str> = g.split(':').collect();
            let [id, fd, log_fd, name, path] = f[..] else { return None };
            groups.push(GroupHandoff {
                id: id.parse().ok()?,
                name: String::from_utf8(unhex(name)?).ok()?,
                listen_fd: fd.parse().ok()?,
                socket_path: String::from_utf8(unhex(path)?).ok()?,
                log_fd: log_fd.parse().ok()?,
            });
        }
        Some(Handoff { parent_pid, token_fd, groups })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handoff_round_trip() {
        let h = Handoff {
            parent_pid: 42,
            token_fd: 7,
            groups: vec![
                GroupHandoff {
                    id: 0,
                    name: "a:b,c;d".into(),
                    listen_fd: 9,
                    socket_path: "/run/x.42.0.sock".into(),
                    log_fd: -1,
                },
                GroupHandoff { id: 1, name: "é".into(), listen_fd: 10, socket_path: "/tmp/y".into(), log_fd: 11 },
            ],
        };
        assert_eq!(Handoff::decode(&h.encode()), Some(h));
        let empty = Handoff { parent_pid: 1, token_fd: 3, groups: vec![] };
        assert_eq!(Handoff::decode(&empty.encode()), Some(empty));
        for bad in [
            "",
            "1;1;3;",
            "2;x;3;",
            "2;1;3;0:9:6",
            "2;1;3;0:9:-1:zz:00",
            "2;1;3;0:9:61:00",
            "2;1;3;0:9:x:61:00",
            "2;1;3;;extra",
        ] {
            assert_eq!(Handoff::decode(bad), None, "{bad}");
        }
    }
}
