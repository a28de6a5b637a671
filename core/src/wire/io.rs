//! Blocking frame reader over a stream (the daemon socket).

use std::io::{self, ErrorKind, Read};

use super::decode::{check_header, parse_payload};
use super::frame::*;

/// The payload buffer grows with the bytes actually received, starting at this size, so a
/// peer that declares a large frame and then stalls holds little memory.
const FIRST_READ: usize = 64 * 1024;

/// Reads whole frames from `R`: the 5-byte header first, then exactly the payload. It never
/// reads past the end of the current frame and never holds more than that frame's declared
/// (already bounds-checked) payload.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
}

impl<R: Read> FrameReader<R> {
    pub fn new(r: R) -> Self {
        FrameReader { inner: r }
    }

    /// The next frame. `Ok(None)` on a clean end of stream before a frame's first byte;
    /// `Err(UnexpectedEof)` if the stream ends inside a frame; `Err(InvalidData)` wrapping a
    /// [`DecodeError`] on a protocol error (the connection is then unusable).
    pub fn read_frame(&mut self) -> io::Result<Option<Frame>> {
        // A fresh buffer: it grows with the bytes received (read_payload) and a chunk's payload
        // is handed over as is.
        let mut payload = Vec::new();
        let Some(kind) = self.read_raw(&mut payload)? else { return Ok(None) };
        match kind {
            // The length is already checked non-zero.
            T_BODY_CHUNK => Ok(Some(Frame::BodyChunk(payload))),
            T_RESPONSE_CHUNK => Ok(Some(Frame::ResponseChunk(payload))),
            kind => parse_payload(kind, &payload).map(Some).map_err(invalid),
        }
    }

    /// The next frame, undecoded: its type, with its payload (length-checked by type, as
    /// [`read_frame`](Self::read_frame) checks it) in `payload`, whose allocation is reused.
    /// `Ok(None)` and errors as for `read_frame`.
    pub fn read_raw(&mut self, payload: &mut Vec<u8>) -> io::Result<Option<u8>> {
        let mut header = [0u8; HEADER_LEN];
        let got = read_full(&mut self.inner, &mut header)?;
        if got == 0 {
            return Ok(None);
        }
        if got < HEADER_LEN {
            // Report an unknown type even when the stream ends right after it.
            if kind_name(header[0]).is_none() {
                return Err(invalid(DecodeError::UnknownType(header[0])));
            }
            return Err(eof_in_frame());
        }
        let len = check_header(&header).map_err(invalid)?;
        payload.clear();
        if payload.capacity() >= len {
            // A buffer already that large: read straight into it.
            payload.resize(len, 0);
            let n = read_full(&mut self.inner, payload)?;
            if n < len {
                return Err(eof_in_frame());
            }
        } else {
            // Grown as data arrives (see read_payload), so a peer that stalls holds little.
            *payload = read_payload(&mut self.inner, len)?;
        }
        Ok(Some(header[0]))
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

fn invalid(e: DecodeError) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, e)
}

fn eof_in_frame() -> io::Error {
    io::Error::new(ErrorKind::UnexpectedEof, "end of stream inside a frame")
}

/// Reads until `buf` is full or the stream ends; returns how many bytes were read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Reads exactly `len` bytes. The buffer's capacity never exceeds `len` and grows (doubling
/// from [`FIRST_READ`]) only as data arrives.
fn read_payload(r: &mut impl Read, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(len.min(FIRST_READ));
    while buf.len() < len {
        if buf.len() == buf.capacity() {
            let more = (len - buf.len()).min(buf.capacity());
            buf.reserve_exact(more);
        }
        let start = buf.len();
        let end = buf.capacity().min(len);
        buf.resize(end, 0);
        let got = read_full(r, &mut buf[start..end]);
        match got {
            Ok(n) if n == end - start => {}
            Ok(n) => {
                buf.truncate(start + n);
                return Err(eof_in_frame());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(buf)
}
