//! [`Buffered`]: a read buffer over a stream on a buffer its owner lends and takes back, so a
//! long-lived thread reads each request through the same allocation (a fresh buffer per request
//! costs a `malloc` past 1 KiB, which makes glibc consolidate its heap).
use std::io::{self, Read};

/// Reads `R` through a lent buffer: small reads are served from one larger read; a read at
/// least as large as the buffer goes straight into the caller's buffer when nothing is
/// buffered (as `std::io::BufReader` does).
pub struct Buffered<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
}

impl<R> Buffered<R> {
    /// Reads `inner` through `buf` (its length is the capacity; its contents are ignored; an
    /// empty one is replaced by a 1-byte buffer). [`take_buffer`](Self::take_buffer) gives it
    /// back.
    pub fn with_buffer(inner: R, buf: Box<[u8]>) -> Self {
        let buf = if buf.is_empty() { vec![0; 1].into_boxed_slice() } else { buf };
        Buffered { inner, buf, pos: 0, end: 0 }
    }

    /// The bytes read from the stream and not consumed yet.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    /// Takes the buffer back (for another reader): what it still held unread is dropped, and
    /// the reader goes on unbuffered.
    pub fn take_buffer(&mut self) -> Box<[u8]> {
        (self.pos, self.end) = (0, 0);
        std::mem::take(&mut self.buf)
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

impl<R: Read> Read for Buffered<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.end {
            if out.len() >= self.buf.len() {
                return self.inner.read(out);
            }
            self.end = self.inner.read(&mut self.buf)?;
            self.pos = 0;
        }
        let n = out.len().min(self.end - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that hands out at most `step` bytes per read and counts the reads.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
        reads: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            let n = out.len().min(self.step).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn small_reads_share_one_read_and_large_ones_bypass() {
        let data: Vec<u8> = (0..100u8).collect();
        let lent = vec![7u8; 16].into_boxed_slice();
        let ptr = lent.as_ptr();
        let mut r = Buffered::with_buffer(Trickle { data: &data, step: 1000, reads: 0 }, lent);
        let mut five = [0u8; 5];
        r.read_exact(&mut five).unwrap();
        assert_eq!(five, [0, 1, 2, 3, 4]);
        assert_eq!((r.get_ref().reads, r.buffer()), (1, &data[5..16]));
        r.read_exact(&mut five).unwrap();
        assert_eq!((five, r.get_ref().reads), ([5, 6, 7, 8, 9], 1));
        // A large read drains the buffer first, then goes straight to the stream.
        let mut big = [0u8; 40];
        r.read_exact(&mut big).unwrap();
        assert_eq!(&big[..], &data[10..50]);
        assert_eq!(r.get_ref().reads, 2);
        assert!(r.buffer().is_empty());
        let back = r.take_buffer();
        assert_eq!((back.as_ptr(), back.len()), (ptr, 16));
        // Unbuffered from now on: what remains comes as asked.
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, &data[50..]);
    }

    #[test]
    fn an_empty_buffer_is_replaced() {
        let mut r = Buffered::with_buffer(Trickle { data: b"ab", step: 1, reads: 0 }, Box::new([]));
        let mut two = [0u8; 2];
        r.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"ab");
    }
}
