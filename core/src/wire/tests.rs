use std::io::{self, Cursor, ErrorKind, Read};

use super::*;

fn enc(f: &Frame) -> Vec<u8> {
    let mut v = Vec::new();
    encode(f, &mut v);
    v
}

fn pairs(list: &[(&[u8], &[u8])]) -> Pairs {
    list.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
}

fn token() -> [u8; TOKEN_LEN] {
    let mut t = [0u8; TOKEN_LEN];
    for (i, b) in t.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37) ^ 0xA5;
    }
    t
}

fn binary() -> Vec<u8> {
    vec![0, 0xFF, b'a', 0, 0xFE, 0x80, b'\n', 0]
}

/// One frame of every type, with edge-case contents.
fn samples() -> Vec<Frame> {
    vec![
        Frame::RequestHead(RequestHead {
            token: token(),
            env: pairs(&[
                (b"REQUEST_METHOD", b"GET"),
                (b"PATH_INFO", b"/a\0b\xff"),
                (b"", b""),
                (&[0xFF, 0], &[0, 0xFF]),
            ]),
            meta: pairs(&[(b"group", b"g1")]),
        }),
        Frame::RequestHead(RequestHead { token: [0; TOKEN_LEN], env: vec![], meta: vec![] }),
        Frame::RequestHead(RequestHead { token: [0xFF; TOKEN_LEN], env: vec![], meta: pairs(&[(b"k", b"")]) }),
        Frame::BodyChunk(binary()),
        Frame::BodyChunk(vec![0]),
        Frame::BodyChunk(vec![0xFF; MAX_CHUNK]),
        Frame::BodyEnd,
        Frame::BodyError("client closed the connection: é".into()),
        Frame::BodyError(String::new()),
        Frame::BodyRequest(1),
        Frame::BodyRequest(65536),
        Frame::BodyRequest(MAX_CHUNK as u32),
        Frame::ResponseHead {
            code: 200,
            status: b"200 OK".to_vec(),
            headers: pairs(&[(b"Content-Type", b"text/plain"), (b"X-Bin", &[0, 0xFF])]),
        },
        Frame::ResponseHead { code: 0, status: vec![], headers: vec![] },
        Frame::ResponseHead { code: u16::MAX, status: binary(), headers: pairs(&[(b"", b"")]) },
        Frame::ResponseChunk(binary()),
        Frame::ResponseChunk(vec![b'x']),
        Frame::Flush,
        Frame::ResponseEnd,
        Frame::ResponseAbort("generator raised ValueError".into()),
        Frame::ResponseAbort(String::new()),
        Frame::ResponseError { code: 503, message: "daemon busy".into() },
        Frame::ResponseError { code: 500, message: String::new() },
        Frame::ResponseError { code: 504, message: "x".repeat(MAX_MESSAGE) },
    ]
}

#[test]
fn round_trip_every_frame() {
    for f in samples() {
        let bytes = enc(&f);
        assert_eq!(bytes[0], f.kind());
        let len = u32::from_be_bytes(bytes[1..5].try_into().unwrap()) as usize;
        assert_eq!(len + HEADER_LEN, bytes.len(), "{f:?}");
        let (g, n) = decode(&bytes).unwrap().unwrap();
        assert_eq!(n, bytes.len());
        assert_eq!(g, f);
        // Trailing data after the frame belongs to the next frame.
        let mut more = bytes.clone();
        more.extend_from_slice(&enc(&Frame::Flush));
        let (g, n) = decode(&more).unwrap().unwrap();
        assert_eq!((g, n), (f, bytes.len()));
    }
}

#[test]
fn exact_wire_layout() {
    assert_eq!(enc(&Frame::BodyEnd), [0x03, 0, 0, 0, 0]);
    assert_eq!(enc(&Frame::BodyRequest(0x0102_0304)), [0x05, 0, 0, 0, 4, 1, 2, 3, 4]);
    assert_eq!(enc(&Frame::BodyChunk(b"ab".to_vec())), [0x02, 0, 0, 0, 2, b'a', b'b']);
    assert_eq!(
        enc(&Frame::ResponseError { code: 503, message: "no".into() }),
        [0x15, 0, 0, 0, 8, 0x01, 0xF7, 0, 0, 0, 2, b'n', b'o']
    );
    assert_eq!(
        enc(&Frame::ResponseHead { code: 200, status: b"OK".to_vec(), headers: pairs(&[(b"a", b"b")]) }),
        [0x10, 0, 0, 0, 22, 0, 200, 0, 0, 0, 2, b'O', b'K', 0, 0, 0, 1, 0, 0, 0, 1, b'a', 0, 0, 0, 1, b'b']
    );
    let rh = enc(&Frame::RequestHead(RequestHead { token: [7; TOKEN_LEN], env: vec![], meta: vec![] }));
    let mut want = vec![0x01, 0, 0, 0, 42, 0, 1];
    want.extend_from_slice(&[7; TOKEN_LEN]);
    want.extend_from_slice(&[0; 8]);
    assert_eq!(rh, want);
}

#[test]
fn request_head_from_borrowed_pairs_matches_owned() {
    let f = &samples()[0];
    let Frame::RequestHead(h) = f else { unreachable!() };
    let mut out = b"prefix".to_vec();
    encode_request_head(
        &h.token,
        h.env.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
        h.meta.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
        &mut out,
    );
    assert_eq!(&out[..6], b"prefix");
    assert_eq!(out[6..], enc(f)[..]);
}

#[test]
fn chunk_header_matches_encode() {
    let data = binary();
    for kind in [T_BODY_CHUNK, T_RESPONSE_CHUNK] {
        let mut manual = chunk_header(kind, data.len()).to_vec();
        manual.extend_from_slice(&data);
        let f = if kind == T_BODY_CHUNK {
            Frame::BodyChunk(data.clone())
        } else {
            Frame::ResponseChunk(data.clone())
        };
        assert_eq!(manual, enc(&f));
    }
}

#[test]
fn every_strict_prefix_is_incomplete() {
    for f in samples() {
        let bytes = enc(&f);
        // The 1 MiB chunk: check a sample of prefixes, all of them is slow in debug builds.
        let step = if bytes.len() > 100_000 { 997 } else { 1 };
        for cut in (0..bytes.len()).step_by(step).chain([bytes.len() - 1]) {
            assert_eq!(decode(&bytes[..cut]), Ok(None), "{:?} cut at {cut}", f.kind());
        }
    }
}

#[test]
fn unknown_type_rejected_from_first_byte() {
    for t in [0x00u8, 0x06, 0x0F, 0x16, 0x7F, 0xFF] {
        assert_eq!(decode(&[t]), Err(DecodeError::UnknownType(t)));
        assert_eq!(decode(&[t, 0, 0, 0, 0]), Err(DecodeError::UnknownType(t)));
    }
    assert_eq!(DecodeError::UnknownType(0x7F).to_string(), "frame type 0x7f unknown");
    assert_eq!(DecodeError::UnknownType(0x05).to_string(), "frame type 0x05 unknown");
}

#[test]
fn oversize_length_rejected_with_header_only() {
    let cases: [(u8, u64, &str, u64); 8] = [
        (T_REQUEST_HEAD, 20_000_000, "RequestHead", MAX_HEAD as u64),
        (T_RESPONSE_HEAD, u32::MAX as u64, "ResponseHead", MAX_HEAD as u64),
        (T_BODY_CHUNK, MAX_CHUNK as u64 + 1, "BodyChunk", MAX_CHUNK as u64),
        (T_RESPONSE_CHUNK, MAX_CHUNK as u64 + 1, "ResponseChunk", MAX_CHUNK as u64),
        (T_BODY_ERROR, MAX_MESSAGE as u64 + 1, "BodyError", MAX_MESSAGE as u64),
        (T_RESPONSE_ABORT, MAX_MESSAGE as u64 + 1, "ResponseAbort", MAX_MESSAGE as u64),
        (T_BODY_END, 1, "BodyEnd", 0),
        (T_BODY_REQUEST, 5, "BodyRequest", 4),
    ];
    for (t, len, kind, max) in cases {
        let mut h = vec![t];
        h.extend_from_slice(&(len as u32).to_be_bytes());
        assert_eq!(decode(&h), Err(DecodeError::TooLarge { kind, len, max }));
    }
    let e = DecodeError::TooLarge { kind: "RequestHead", len: 20_000_000, max: MAX_HEAD as u64 };
    assert_eq!(e.to_string(), "RequestHead payload of 20000000 bytes exceeds 16777216");
    // Exactly at the limit is accepted (as incomplete).
    let mut h = vec![T_REQUEST_HEAD];
    h.extend_from_slice(&(MAX_HEAD as u32).to_be_bytes());
    assert_eq!(decode(&h), Ok(None));
}

#[test]
fn zero_length_chunk_rejected() {
    assert_eq!(decode(&[T_BODY_CHUNK, 0, 0, 0, 0]), Err(DecodeError::Malformed("empty chunk")));
    assert_eq!(decode(&[T_RESPONSE_CHUNK, 0, 0, 0, 0]), Err(DecodeError::Malformed("empty chunk")));
}

#[test]
fn short_fixed_payloads_rejected() {
    assert!(matches!(decode(&[T_BODY_REQUEST, 0, 0, 0, 3]), Err(DecodeError::Malformed(_))));
    assert!(matches!(decode(&[T_REQUEST_HEAD, 0, 0, 0, 41]), Err(DecodeError::Malformed(_))));
    assert!(matches!(decode(&[T_RESPONSE_HEAD, 0, 0, 0, 9]), Err(DecodeError::Malformed(_))));
    assert!(matches!(decode(&[T_RESPONSE_ERROR, 0, 0, 0, 5]), Err(DecodeError::Malformed(_))));
}

#[test]
fn body_request_bounds() {
    for bad in [0u32, MAX_CHUNK as u32 + 1, u32::MAX] {
        let bytes = enc(&Frame::BodyRequest(bad));
        assert!(matches!(decode(&bytes), Err(DecodeError::Malformed(_))), "{bad}");
    }
}

#[test]
fn message_over_max_rejected() {
    let long = "m".repeat(MAX_MESSAGE + 1);
    for f in [
        Frame::BodyError(long.clone()),
        Frame::ResponseAbort(long.clone()),
        Frame::ResponseError { code: 500, message: long.clone() },
    ] {
        let bytes = enc(&f);
        assert!(matches!(decode(&bytes[..HEADER_LEN]), Err(DecodeError::TooLarge { .. })), "{f:?}");
    }
    // A message of exactly MAX_MESSAGE is fine.
    let ok = Frame::ResponseAbort("m".repeat(MAX_MESSAGE));
    assert_eq!(decode(&enc(&ok)).unwrap().unwrap().0, ok);
}

#[test]
fn non_utf8_message_rejected() {
    assert_eq!(
        decode(&[T_BODY_ERROR, 0, 0, 0, 2, 0xC3, 0x28]),
        Err(DecodeError::Malformed("message is not UTF-8"))
    );
}

/// Builds a ResponseHead payload by hand.
fn raw_frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![kind];
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

#[test]
fn count_larger_than_possible_rejected() {
    // ResponseHead claiming 1000 headers in a 10-byte payload.
    let mut p = vec![0, 200, 0, 0, 0, 0];
    p.extend_from_slice(&1000u32.to_be_bytes());
    let e = decode(&raw_frame(T_RESPONSE_HEAD, &p)).unwrap_err();
    assert!(matches!(e, DecodeError::Malformed(_)), "{e:?}");
    // Over MAX_ENTRIES.
    let mut p = vec![0, 200, 0, 0, 0, 0];
    p.extend_from_slice(&(MAX_ENTRIES as u32 + 1).to_be_bytes());
    let e = decode(&raw_frame(T_RESPONSE_HEAD, &p)).unwrap_err();
    assert_eq!(
        e,
        DecodeError::TooLarge { kind: "ResponseHead header entries", len: 10_001, max: 10_000 }
    );
    assert_eq!(e.to_string(), "ResponseHead header entries: count 10001 exceeds 10000");
    // RequestHead env count of u32::MAX.
    let mut p = vec![0, 1];
    p.extend_from_slice(&token());
    p.extend_from_slice(&u32::MAX.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes());
    assert!(matches!(decode(&raw_frame(T_REQUEST_HEAD, &p)), Err(DecodeError::TooLarge { .. })));
    // Meta count of 2 with room for exactly one entry.
    let mut p = vec![0, 1];
    p.extend_from_slice(&token());
    p.extend_from_slice(&0u32.to_be_bytes());
    p.extend_from_slice(&2u32.to_be_bytes());
    p.extend_from_slice(&[0; 8]);
    assert!(matches!(decode(&raw_frame(T_REQUEST_HEAD, &p)), Err(DecodeError::Malformed(_))));
    // MAX_ENTRIES entries are accepted.
    let many: Pairs = (0..MAX_ENTRIES).map(|i| (i.to_string().into_bytes(), vec![])).collect();
    let f = Frame::ResponseHead { code: 200, status: b"200 OK".to_vec(), headers: many };
    assert_eq!(decode(&enc(&f)).unwrap().unwrap().0, f);
}

#[test]
fn string_length_past_payload_rejected() {
    // Status line claiming 100 bytes in a 10-byte payload.
    let mut p = vec![0, 200];
    p.extend_from_slice(&100u32.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes());
    assert!(matches!(decode(&raw_frame(T_RESPONSE_HEAD, &p)), Err(DecodeError::Malformed(_))));
}

#[test]
fn trailing_bytes_rejected() {
    for f in [
        Frame::RequestHead(RequestHead { token: token(), env: pairs(&[(b"a", b"b")]), meta: vec![] }),
        Frame::ResponseHead { code: 200, status: b"200 OK".to_vec(), headers: vec![] },
        Frame::ResponseError { code: 500, message: "x".into() },
    ] {
        let mut bytes = enc(&f);
        bytes.push(0);
        let len = (bytes.len() - HEADER_LEN) as u32;
        bytes[1..5].copy_from_slice(&len.to_be_bytes());
        assert_eq!(
            decode(&bytes),
            Err(DecodeError::Malformed("trailing bytes in payload")),
            "{f:?}"
        );
    }
}

#[test]
fn bad_version_rejected() {
    let mut bytes = enc(&samples()[1]);
    bytes[HEADER_LEN..HEADER_LEN + 2].copy_from_slice(&2u16.to_be_bytes());
    assert_eq!(decode(&bytes), Err(DecodeError::BadVersion(2)));
    assert_eq!(
        DecodeError::BadVersion(2).to_string(),
        "protocol version 2 unsupported (expected 1)"
    );
}

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
    assert_eq!(e.to_string(), "protocol version 9 unsupported (expected 1)");
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

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Checks the decoder's contract on `data`: no panic, a decoded frame re-encodes to the bytes
/// it consumed, every prefix of those bytes is incomplete (checked cheaply on a few cuts), and
/// FrameReader agrees with `decode`.
fn check_input(data: &[u8]) -> bool {
    let decoded = decode(data);
    let mut r = FrameReader::new(Cursor::new(data));
    let read = r.read_frame();
    match &decoded {
        Ok(Some((f, n))) => {
            assert!(*n <= data.len());
            assert_eq!(enc(f), data[..*n], "{f:?}");
            assert_eq!(decode(&data[..n - 1]), Ok(None));
            assert_eq!(read.unwrap().as_ref(), Some(f));
            assert_eq!(r.get_mut().position(), *n as u64);
            true
        }
        Ok(None) => {
            match read {
                Ok(None) => assert!(data.is_empty()),
                Err(e) => assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "{data:?}"),
                Ok(Some(f)) => panic!("reader decoded {f:?} from an incomplete frame"),
            }
            false
        }
        Err(want) => {
            let e = read.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidData);
            let got = e.get_ref().and_then(|e| e.downcast_ref::<DecodeError>());
            assert_eq!(got, Some(want));
            false
        }
    }
}

#[test]
fn pseudo_random_inputs_never_panic_and_round_trip() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let seeds: Vec<Vec<u8>> = samples()
        .iter()
        .filter(|f| !matches!(f, Frame::BodyChunk(c) if c.len() > 1000))
        .map(enc)
        .collect();
    let kinds = [
        T_REQUEST_HEAD, T_BODY_CHUNK, T_BODY_END, T_BODY_ERROR, T_BODY_REQUEST, T_RESPONSE_HEAD,
        T_RESPONSE_CHUNK, T_FLUSH, T_RESPONSE_END, T_RESPONSE_ABORT, T_RESPONSE_ERROR,
    ];
    let mut ok = 0;
    for i in 0..100_000 {
        let data: Vec<u8> = match i % 4 {
            // Raw noise.
            0 => (0..rng.below(64)).map(|_| rng.next() as u8).collect(),
            // A valid type and a small length, then noise.
            1 => {
                let len = rng.below(80);
                let mut d = vec![kinds[rng.below(kinds.len())]];
                d.extend_from_slice(&(len as u32).to_be_bytes());
                d.extend((0..len + rng.below(3)).map(|_| rng.next() as u8));
                d
            }
            // A valid frame with a few bytes mutated.
            2 => {
                let mut d = seeds[rng.below(seeds.len())].clone();
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(d.len());
                    d[at] = match rng.below(3) {
                        0 => rng.next() as u8,
                        1 => d[at].wrapping_add(1),
                        _ => d[at].wrapping_sub(1),
                    };
                }
                d
            }
            // A valid frame, truncated or extended.
            _ => {
                let mut d = seeds[rng.below(seeds.len())].clone();
                if rng.below(2) == 0 {
                    d.truncate(rng.below(d.len() + 1));
                } else {
                    d.extend((0..rng.below(8)).map(|_| rng.next() as u8));
                }
                d
            }
        };
        if check_input(&data) {
            ok += 1;
        }
    }
    // The generator must reach the success paths too, not only the error ones.
    assert!(ok > 10_000, "only {ok} inputs decoded");
}
