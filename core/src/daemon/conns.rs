//! What a daemon process's worker threads wait on (wire protocol v2): the group's listening
//! socket and the idle connections Apache children keep open between requests, in one epoll
//! instance shared by the process's workers.
//!
//! - The listener is registered level-triggered with `EPOLLEXCLUSIVE`: a new connection wakes
//!   one waiting process of the group (not every thread of every process, as `poll` on the
//!   shared socket did), and, in that process, one thread (epoll_wait waiters are exclusive).
//! - An idle connection is registered `EPOLLONESHOT`: when its next request head arrives (or
//!   its Apache child closes it) exactly one worker gets it, takes it out of the table and owns
//!   it until it parks it again (re-armed) or closes it. No other thread can see it meanwhile.
//!
//! Ids are never reused (the table is keyed by a counter, not by descriptor number), so a
//! stale event for a connection closed since cannot pick up another connection.
//!
//! Closing: a connection is closed without reading when the process stops (`close_idle`, and
//! by the kernel at exit). Its Apache child then sees EPIPE (nothing sent yet) or ECONNRESET
//! (its request head unread) and resends the request on a new connection; see
//! src/daemon/client.rs in the module for that contract.
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The epoll token of the listening socket; connections get ids from 1.
const LISTENER: u64 = 0;

/// What `wait` saw.
pub enum Ready {
    /// The listener is readable: try to accept.
    Listener,
    /// An idle connection has something to read (or was closed): its id for [`Conns::take`].
    Conn(u64),
    /// Timeout, interruption, or an error (the caller re-checks its stop condition).
    Nothing,
}

pub struct Conns {
    epfd: OwnedFd,
    idle: Mutex<HashMap<u64, Arc<UnixStream>>>,
    next_id: AtomicU64,
}

fn ctl(epfd: RawFd, op: libc::c_int, fd: RawFd, events: u32, id: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: id };
    // SAFETY: epoll_ctl on our epoll descriptor with a valid event struct; `fd` is open (owned
    // by the caller or the table for the duration of the call).
    if unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

const CONN_EVENTS: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32;

impl Conns {
    /// A new epoll instance watching `listener` (the group's socket, non-blocking).
    pub fn new(listener: RawFd) -> io::Result<Conns> {
        // SAFETY: epoll_create1 has no preconditions; the result is a new descriptor we own.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by epoll_create1 and is owned by nobody else.
        let epfd = unsafe { OwnedFd::from_raw_fd(fd) };
        ctl(epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, listener, (libc::EPOLLIN | libc::EPOLLEXCLUSIVE) as u32, LISTENER)?;
        Ok(Conns { epfd, idle: Mutex::new(HashMap::new()), next_id: AtomicU64::new(LISTENER + 1) })
    }

    /// Waits up to `timeout_ms` for the listener or an idle connection.
    pub fn wait(&self, timeout_ms: i32) -> Ready {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: room for one event; the epoll descriptor lives as long as `self`.
        let n = unsafe { libc::epoll_wait(self.epfd.as_raw_fd(), &mut ev, 1, timeout_ms) };
        match (n, ev.u64) {
            (1, LISTENER) => Ready::Listener,
            (1, id) => Ready::Conn(id),
            _ => Ready::Nothing,
        }
    }

    /// Takes the idle connection `id` (None: closed by `close_idle` since the event).
    pub fn take(&self, id: u64) -> Option<Arc<UnixStream>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).remove(&id)
    }

    /// Keeps `conn` for its next request: `id` is its id if it came from [`Conns::take`], None
    /// for a connection accepted just now. Closes it instead when `stopping()` (checked under
    /// the table's lock, so a connection parked concurrently with `close_idle` is never left
    /// behind) or when it cannot be watched.
    pub fn park(&self, conn: Arc<UnixStream>, id: Option<u64>, stopping: impl Fn() -> bool) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if stopping() {
            return;
        }
        let fd = conn.as_raw_fd();
        let (op, id) = match id {
            Some(id) => (libc::EPOLL_CTL_MOD, id),
            None => (libc::EPOLL_CTL_ADD, self.next_id.fetch_add(1, Ordering::Relaxed)),
        };
        // Inserted before it is armed: the event may fire at once in another thread.
        idle.insert(id, conn);
        if ctl(self.epfd.as_raw_fd(), op, fd, CONN_EVENTS, id).is_err() {
            idle.remove(&id);
        }
    }

    /// Closes every idle connection (the process is stopping). Their Apache children resend
    /// whatever they sent on them: nothing of it was read.
    pub fn close_idle(&self) {
        let drained: Vec<Arc<UnixStream>> =
            self.idle.lock().unwrap_or_else(|e| e.into_inner()).drain().map(|(_, c)| c).collect();
        drop(drained);
    }
}
