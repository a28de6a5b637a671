use std::io::{self, Cursor, ErrorKind, Read};

use super::*;

#[test]
fn frame_reader_reads_frames_then_clean_eof() {
    let frames = samples();
    let mut stream = Vec::new();
    for f in &frames {
        encode(f, &mut stream);
    }
    let mut r = FrameReader::new(Cursor::new(stream));
    for f in &frames {
        assert_eq!(r.read_frame().unwrap().as_ref(), Some(f));
    }
    assert_eq!(r.read_frame().unwrap(), None);
    assert_eq!(r.read_frame().unwrap(), None);
}

/// Yields at most `step` bytes per read and an `Interrupted` error before each read.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    step: usize,
    interrupt: bool,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.interrupt = !self.interrupt;
        if self.interrupt {
            return Err(io::Error::new(ErrorKind::Interrupted, "signal"));
        }
        let n = buf.len().min(self.step).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn frame_reader_handles_short_reads_and_interrupts() {
    let frames = samples();
    let mut data = Vec::new();
    for f in &frames {
        encode(f, &mut data);
    }
    let mut r = FrameReader::new(Trickle { data, pos: 0, step: 3000, interrupt: false });
    for f in &frames {
        assert_eq!(r.read_frame().unwrap().as_ref(), Some(f));
    }
    assert_eq!(r.read_frame().unwrap(), None);
}

#[test]
fn frame_reader_does_not_read_ahead() {
    let mut data = enc(&Frame::BodyRequest(10));
    data.extend_from_slice(b"not a frame");
    let mut r = FrameReader::new(Cursor::new(data));
    assert_eq!(r.read_frame().unwrap(), Some(Frame::BodyRequest(10)));
    let mut rest = Vec::new();
    r.into_inner().read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"not a frame");
}

#[test]
fn frame_reader_eof_mid_frame() {
    for f in [&samples()[0], &Frame::ResponseChunk(binary()), &Frame::BodyEnd] {
        let bytes = enc(f);
        for cut in 1..bytes.len() {
            let mut r = FrameReader::new(Cursor::new(bytes[..cut].to_vec()));
            let e = r.read_frame().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "cut at {cut}");
        }
    }
}

#[test]
fn frame_reader_protocol_errors_are_invalid_data() {
    let cases: Vec<(Vec<u8>, DecodeError)> = vec![
        (vec![0x7F], DecodeError::UnknownType(0x7F)),
        (vec![0x7F, 0, 0, 0, 0, 1, 2, 3], DecodeError::UnknownType(0x7F)),
        (
            // A huge declared length is refused before anything is read or allocated.
            vec![T_RESPONSE_HEAD, 0xFF, 0xFF, 0xFF, 0xFF],
            DecodeError::TooLarge { kind: "ResponseHead", len: u32::MAX as u64, max: MAX_HEAD as u64 },
        ),
        (vec![T_BODY_CHUNK, 0, 0, 0, 0], DecodeError::Malformed("empty chunk")),
    ];
    for (bytes, want) in cases {
        let e = FrameReader::new(Cursor::new(bytes)).read_frame().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        let inner = e.get_ref().and_then(|e| e.downcast_ref::<DecodeError>());
        assert_eq!(inner, Some(&want));
    }
    let mut bad_version = enc(&samples()[1]);
    bad_version[HEADER_LEN + 1] = 9;
    let e = FrameReader::new(Cursor::new(bad_version)).read_frame().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData);
    assert_eq!(e.to_string(), "protocol version 9 unsupported (expected 2)");
}

/// A stream that declares a 16 MiB head and then ends: the reader must fail with
/// UnexpectedEof, having allocated only about what it received.
#[test]
fn frame_reader_large_declared_then_eof() {
    let mut data = vec![T_REQUEST_HEAD];
    data.extend_from_slice(&(MAX_HEAD as u32).to_be_bytes());
    data.extend_from_slice(&[0; 100]);
    let e = FrameReader::new(Cursor::new(data)).read_frame().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnexpectedEof);
}

#[test]
fn token_comparison() {
    let a = token();
    let mut b = a;
    assert!(token_eq(&a, &b));
    for i in [0, 15, TOKEN_LEN - 1] {
        b = a;
        b[i] ^= 1;
        assert!(!token_eq(&a, &b));
    }
    assert!(!token_eq(&[0; TOKEN_LEN], &[0xFF; TOKEN_LEN]));
}

#[test]
fn read_raw_gives_each_payload_in_one_reused_buffer() {
    let frames = samples();
    let mut stream = Vec::new();
    for f in &frames {
        encode(f, &mut stream);
    }
    // Small reads and interruptions, and a buffer reused across frames of every size.
    let mut r = FrameReader::new(Trickle { data: stream, pos: 0, step: 3, interrupt: false });
    let mut payload = Vec::with_capacity(4);
    for f in &frames {
        let kind = r.read_raw(&mut payload).unwrap().expect("a frame");
        assert_eq!(kind, f.kind());
        let mut one = vec![kind];
        one.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        one.extend_from_slice(&payload);
        assert_eq!(decode(&one).unwrap().map(|(d, _)| d).as_ref(), Some(f));
        if let Frame::RequestHead(h) = f {
            // The borrowed parse sees the same pairs as the owned decode.
            let b = parse_request_head(&payload).unwrap();
            assert_eq!(b.token, h.token);
            let owned = |v: &[(&[u8], &[u8])]| v.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect::<Pairs>();
            assert_eq!((owned(&b.env), owned(&b.meta)), (h.env.clone(), h.meta.clone()));
        }
    }
    assert_eq!(r.read_raw(&mut payload).unwrap(), None);
}

#[test]
fn read_raw_checks_the_header_and_the_whole_payload() {
    // An unknown type, an oversize length, and a payload cut short.
    let mut r = FrameReader::new(Cursor::new(vec![0x7f, 0, 0, 0, 0]));
    assert_eq!(r.read_raw(&mut Vec::new()).unwrap_err().kind(), ErrorKind::InvalidData);
    let mut r = FrameReader::new(Cursor::new(vec![T_BODY_REQUEST, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    assert_eq!(r.read_raw(&mut Vec::new()).unwrap_err().kind(), ErrorKind::InvalidData);
    let mut r = FrameReader::new(Cursor::new(vec![T_BODY_CHUNK, 0, 0, 0, 9, 1, 2, 3]));
    assert_eq!(r.read_raw(&mut Vec::with_capacity(64)).unwrap_err().kind(), ErrorKind::UnexpectedEof);
    let mut r = FrameReader::new(Cursor::new(vec![T_BODY_CHUNK, 0, 0, 0, 9, 1, 2, 3]));
    assert_eq!(r.read_raw(&mut Vec::new()).unwrap_err().kind(), ErrorKind::UnexpectedEof);
    // A trailing byte after a head's pairs.
    let mut head = Vec::new();
    encode(&samples().into_iter().find(|f| f.kind() == T_REQUEST_HEAD).unwrap(), &mut head);
    let mut payload = head[HEADER_LEN..].to_vec();
    payload.push(0);
    assert!(parse_request_head(&payload).is_err());
}
