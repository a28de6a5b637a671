//! What the Apache parent tells the spawner it exec's (src/daemon/spawner.rs), as the value
//! of one environment variable: no secrets (the tokens travel through a pipe), only pids,
//! descriptor numbers, group names and socket paths (hex-encoded: any bytes are safe).
use std::ffi::c_int;

const VERSION: &str = "1";

/// What the parent tells the spawner (the environment value, without secrets).
#[derive(Debug, PartialEq, Eq)]
pub struct Handoff {
    pub parent_pid: i32,
    /// Read end of the pipe carrying the groups' tokens (32 bytes each, in group order).
    pub token_fd: c_int,
    /// (registry index, group name, listening descriptor, socket path).
    pub groups: Vec<(usize, String, c_int, String)>,
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
            .map(|(id, name, fd, path)| format!("{id}:{fd}:{}:{}", hex(name.as_bytes()), hex(path.as_bytes())))
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
            let [id, fd, name, path] = f[..] else { return None };
            let name = String::from_utf8(unhex(name)?).ok()?;
            let path = String::from_utf8(unhex(path)?).ok()?;
            groups.push((id.parse().ok()?, name, fd.parse().ok()?, path));
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
            groups: vec![(0, "a:b,c;d".into(), 9, "/run/x.42.0.sock".into()), (1, "é".into(), 10, "/tmp/y".into())],
        };
        assert_eq!(Handoff::decode(&h.encode()), Some(h));
        let empty = Handoff { parent_pid: 1, token_fd: 3, groups: vec![] };
        assert_eq!(Handoff::decode(&empty.encode()), Some(empty));
        for bad in ["", "2;1;3;", "1;x;3;", "1;1;3;0:9:6", "1;1;3;0:9:zz:00", "1;1;3;;extra"] {
            assert_eq!(Handoff::decode(bad), None, "{bad}");
        }
    }
}
