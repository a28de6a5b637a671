use std::io::{Cursor, ErrorKind};

use super::*;

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
    let seeds: Vec<Vec<u8>> =
        samples().iter().filter(|f| !matches!(f, Frame::BodyChunk(c) if c.len() > 1000)).map(enc).collect();
    let kinds = [
        T_REQUEST_HEAD,
        T_BODY_CHUNK,
        T_BODY_END,
        T_BODY_ERROR,
        T_BODY_REQUEST,
        T_RESPONSE_HEAD,
        T_RESPONSE_CHUNK,
        T_FLUSH,
        T_RESPONSE_END,
        T_RESPONSE_ABORT,
        T_RESPONSE_ERROR,
        T_RESPONSE_FILE,
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
