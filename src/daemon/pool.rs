//! Idle connections from this Apache child to its daemon groups (wire protocol v2: a connection
//! carries any number of requests, one after another). One pool per group socket, shared by
//! all worker threads of the child: a thread takes a connection for one request and gives it
//! back only when that conversation ended exactly at a frame boundary (`ResponseEnd`, nothing
//! unread), so the next request starts on a clean stream.
//!
//! A pooled connection may have been closed by its daemon process at any time since (recycled,
//! restarted, killed): `client::forward` then sees the request refused unread (EPIPE on the
//! write, or ECONNRESET before any byte back) and sends it on a new connection.
//!
//! The pool is a process-wide static keyed by socket path: Apache children are forked per
//! generation, and the parent, which never forwards a request, leaves it empty for them.
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::time::Duration;

/// An idle connection and the socket timeouts set on it (set again only when a request of
/// another virtual host needs other ones).
pub struct Conn {
    pub stream: UnixStream,
    pub timeout: Option<Duration>,
}

impl Conn {
    pub fn new(stream: UnixStream) -> Self {
        Conn { stream, timeout: None }
    }

    /// Applies `t` as read and write timeout unless it is already set.
    pub fn set_timeout(&mut self, t: Duration) {
        if self.timeout != Some(t) {
            let _ = self.stream.set_read_timeout(Some(t));
            let _ = self.stream.set_write_timeout(Some(t));
            self.timeout = Some(t);
        }
    }
}

/// (socket path, idle connections, most recently used last).
static POOL: Mutex<Vec<(Vec<u8>, Vec<Conn>)>> = Mutex::new(Vec::new());

/// The most recently returned idle connection to `socket`, if any.
pub fn take(socket: &[u8]) -> Option<Conn> {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    pool.iter_mut().find(|(p, _)| p == socket).and_then(|(_, v)| v.pop())
}

/// Most idle connections kept per group. The pool never holds more than the child's worker
/// threads had requests in flight to the group at once (each gives back at most the one it
/// took); this only bounds what a daemon process may have to hold open per Apache child.
const MAX_IDLE: usize = 256;

/// Keeps `conn` for the next request to `socket`, unless [`MAX_IDLE`] are idle already (then it
/// is closed). Idle connections cost a daemon process a descriptor each, no thread.
pub fn give_back(socket: &[u8], conn: Conn) {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let idx = match pool.iter().position(|(p, _)| p == socket) {
        Some(i) => i,
        None => {
            pool.push((socket.to_vec(), Vec::new()));
            pool.len() - 1
        }
    };
    let idle = &mut pool[idx].1;
    if idle.len() < MAX_IDLE {
        idle.push(conn);
    }
    // else: `conn` is dropped (closed) after the lock is released with the guard.
}
