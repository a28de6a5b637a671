//! Descriptor passing on the daemon's Unix stream socket, for `ResponseFile` (see the module
//! doc): [`send_with_fd`] on the daemon's side, [`FdReader`] on the Apache child's side.
//!
//! Linux semantics relied upon (unix(7), net/unix/af_unix.c): the descriptors of one `sendmsg`
//! are attached to the first byte it queues; the receiver gets them with the first `recvmsg`
//! that returns any byte of that message, and that `recvmsg` returns no byte past the
//! message's end. A plain `read()` (or `recvmsg` without room for control data) closes them.
use std::collections::VecDeque;

use super::Buffered;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Most descriptors one received message may carry; a message with more is a protocol error
/// (the kernel closes what does not fit, so the arrival order could no longer be trusted).
/// Our daemon sends one per `ResponseFile`.
const MAX_FDS: usize = 4;

/// Control buffer, aligned for `cmsghdr` (its size is checked against `CMSG_SPACE` at use).
#[repr(C, align(8))]
struct Control([u8; 64]);

/// Sends the first bytes of `data` on the connected stream socket `sock` with `fd` attached
/// (`SCM_RIGHTS`: the peer receives a new descriptor for the same open file description).
/// Returns how many bytes went (at least 1 when `data` is not empty): the caller writes the rest
/// with plain writes (a blocking socket sends all unless a timeout or signal stops it). An
/// error means nothing was sent and the descriptor did not go. `MSG_NOSIGNAL`: a closed peer
/// is `EPIPE`, not a signal.
pub fn send_with_fd(sock: BorrowedFd<'_>, data: &[u8], fd: BorrowedFd<'_>) -> io::Result<usize> {
    assert!(!data.is_empty(), "descriptors need at least one byte to travel with");
    let mut control = Control([0; 64]);
    // SAFETY: CMSG_SPACE is arithmetic.
    let space = unsafe { libc::CMSG_SPACE(size_of::<RawFd>() as u32) } as usize;
    assert!(space <= control.0.len());
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
    // SAFETY: msghdr is plain data; every pointer set below outlives the sendmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space as _;
    // SAFETY: msg_control points to `space` zeroed, aligned bytes, enough for one header with
    // one descriptor (checked above), so CMSG_FIRSTHDR is not null and CMSG_DATA is in bounds.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd.as_raw_fd());
    }
    loop {
        // SAFETY: `msg` describes `data` and the control buffer, both live for the call.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The receiving side of descriptor passing: reads with `recvmsg` and a control buffer
/// (`MSG_CMSG_CLOEXEC`) and keeps the descriptors that came with the bytes, in arrival order,
/// until they are claimed; those left over are closed when it is dropped.
pub struct FdSource<'a> {
    sock: BorrowedFd<'a>,
    fds: VecDeque<OwnedFd>,
}

impl<'a> FdSource<'a> {
    pub fn new(sock: BorrowedFd<'a>) -> Self {
        FdSource { sock, fds: VecDeque::new() }
    }
}

impl Read for FdSource<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        recv(self.sock, out, &mut self.fds)
    }
}

/// A buffered reader over a Unix stream socket that receives descriptors passed with the data
/// ([`FdSource`]); [`FdReader::take_fd`] claims them.
pub type FdReader<'a> = Buffered<FdSource<'a>>;

impl<'a> FdReader<'a> {
    pub fn new(sock: BorrowedFd<'a>, capacity: usize) -> Self {
        Buffered::with_buffer(FdSource::new(sock), vec![0; capacity.max(1)].into_boxed_slice())
    }

    /// The oldest descriptor received and not claimed yet.
    pub fn take_fd(&mut self) -> Option<OwnedFd> {
        self.get_mut().fds.pop_front()
    }

    /// How many received descriptors are not claimed yet.
    pub fn pending_fds(&self) -> usize {
        self.get_ref().fds.len()
    }
}

/// One `recvmsg` into `buf`; descriptors that came with the bytes are appended to `fds`.
fn recv(sock: BorrowedFd<'_>, buf: &mut [u8], fds: &mut VecDeque<OwnedFd>) -> io::Result<usize> {
    let mut control = Control([0; 64]);
    // SAFETY: CMSG_SPACE is arithmetic.
    let space = unsafe { libc::CMSG_SPACE((MAX_FDS * size_of::<RawFd>()) as u32) } as usize;
    assert!(space <= control.0.len());
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() };
    // SAFETY: msghdr is plain data; every pointer set below outlives the recvmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space as _;
    let n = loop {
        // SAFETY: `msg` describes `buf` and the control buffer, both live and writable.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    // SAFETY: the kernel filled msg_control with msg_controllen bytes of well-formed headers;
    // CMSG_FIRSTHDR/NXTHDR stay within them, and each SCM_RIGHTS header holds
    // (cmsg_len - CMSG_LEN(0)) / 4 descriptors, now open in this process and owned by nobody.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let bytes = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let data = libc::CMSG_DATA(c) as *const RawFd;
                for i in 0..bytes / size_of::<RawFd>() {
                    fds.push_back(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("more than {MAX_FDS} descriptors passed with one message"),
        ));
    }
    // A peer that passes descriptors no frame claims (one per message, byte by byte) must
    // not fill this process's descriptor table: a reader holds at most MAX_FDS unclaimed.
    // (Each recvmsg stops after one message that carried some, and a reader refills only
    // when it has consumed its buffer, so an honest peer leaves at most one unclaimed.)
    if fds.len() > MAX_FDS {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "descriptors passed that no frame claims"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::net::UnixStream;

    fn ino(fd: &OwnedFd) -> u64 {
        std::fs::File::from(fd.try_clone().unwrap()).metadata().unwrap().ino()
    }

    #[test]
    fn descriptor_arrives_with_its_bytes_in_order() {
        let (a, b) = UnixStream::pair().unwrap();
        let dir = std::env::temp_dir();
        let f1 = std::fs::File::open(&dir).unwrap();
        let f2 = std::fs::File::open("/proc/self/exe").unwrap();
        (&a).write_all(b"plain-").unwrap();
        assert_eq!(send_with_fd(a.as_fd(), b"one", f1.as_fd()).unwrap(), 3);
        (&a).write_all(b"-mid-").unwrap();
        assert_eq!(send_with_fd(a.as_fd(), b"two", f2.as_fd()).unwrap(), 3);
        drop(a);
        // One byte per recvmsg: a descriptor comes with the first byte of its message, not
        // before (a larger read may return bytes before it too, never bytes after it).
        let mut r = FdReader::new(b.as_fd(), 1);
        let mut got = Vec::new();
        let mut seen = Vec::new();
        let mut one = [0u8; 1];
        while r.read(&mut one).unwrap() == 1 {
            got.push(one[0]);
            seen.push(r.pending_fds());
            if got.ends_with(b"o") && got.len() == 7 {
                let fd = r.take_fd().expect("fd with 'one'");
                assert_eq!(ino(&fd), f1.metadata().unwrap().ino());
            }
        }
        assert_eq!(got, b"plain-one-mid-two");
        assert!(seen[..6].iter().all(|&n| n == 0), "{seen:?}");
        assert_eq!(seen[6], 1, "{seen:?}");
        let fd = r.take_fd().expect("fd with 'two'");
        assert_eq!(ino(&fd), f2.metadata().unwrap().ino());
        assert!(r.take_fd().is_none());
    }

    #[test]
    fn large_reads_bypass_the_buffer_and_still_collect() {
        let (a, b) = UnixStream::pair().unwrap();
        let f = std::fs::File::open("/proc/self/exe").unwrap();
        send_with_fd(a.as_fd(), &[7u8; 100], f.as_fd()).unwrap();
        (&a).write_all(&[8u8; 100]).unwrap();
        drop(a);
        let mut r = FdReader::new(b.as_fd(), 16);
        let mut big = [0u8; 1000];
        // The read stops at the end of the message that carried the descriptor.
        assert_eq!(r.read(&mut big).unwrap(), 100);
        assert_eq!(r.pending_fds(), 1);
        assert_eq!(r.read(&mut big).unwrap(), 100);
        assert_eq!(big[0], 8);
        assert_eq!(r.read(&mut big).unwrap(), 0);
    }

    #[test]
    fn unclaimed_descriptors_are_bounded() {
        let (a, b) = UnixStream::pair().unwrap();
        let f = std::fs::File::open("/proc/self/exe").unwrap();
        for _ in 0..MAX_FDS + 1 {
            send_with_fd(a.as_fd(), b"x", f.as_fd()).unwrap();
        }
        let mut r = FdReader::new(b.as_fd(), 16);
        let mut one = [0u8; 16];
        for _ in 0..MAX_FDS {
            assert_eq!(r.read(&mut one).unwrap(), 1);
        }
        assert_eq!(r.pending_fds(), MAX_FDS);
        assert_eq!(r.read(&mut one).unwrap_err().kind(), io::ErrorKind::InvalidData);
        // Claiming them keeps a reader going.
        let (a, b) = UnixStream::pair().unwrap();
        for _ in 0..MAX_FDS * 3 {
            send_with_fd(a.as_fd(), b"x", f.as_fd()).unwrap();
        }
        drop(a);
        let mut r = FdReader::new(b.as_fd(), 16);
        let mut n = 0;
        while r.read(&mut one).unwrap() == 1 {
            assert!(r.take_fd().is_some());
            n += 1;
        }
        assert_eq!(n, MAX_FDS * 3);
    }

    #[test]
    fn too_many_descriptors_in_one_message_is_an_error() {
        let (a, b) = UnixStream::pair().unwrap();
        let f = std::fs::File::open("/proc/self/exe").unwrap();
        // Python-style send of MAX_FDS + 1 descriptors in one message.
        let n = MAX_FDS + 1;
        let mut control = Control([0; 64]);
        let data = [1u8];
        let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: 1 };
        // SAFETY: as in send_with_fd, with `n` descriptors (CMSG_SPACE checked to fit).
        unsafe {
            let space = libc::CMSG_SPACE((n * size_of::<RawFd>()) as u32) as usize;
            assert!(space <= 64);
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.0.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = space as _;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN((n * size_of::<RawFd>()) as u32) as _;
            for i in 0..n {
                std::ptr::write_unaligned((libc::CMSG_DATA(c) as *mut RawFd).add(i), f.as_raw_fd());
            }
            assert_eq!(libc::sendmsg(a.as_raw_fd(), &msg, 0), 1);
        }
        let mut r = FdReader::new(b.as_fd(), 16);
        let e = r.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
