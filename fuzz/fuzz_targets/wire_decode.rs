//! Fuzzes the daemon wire decoder (`wsgi_rs_core::wire`): no input may panic, a decoded frame
//! must re-encode to exactly the bytes it consumed, and `FrameReader` must agree with `decode`.
#![no_main]

use std::io::{Cursor, ErrorKind};

use libfuzzer_sys::fuzz_target;
use wsgi_rs_core::wire::{DecodeError, FrameReader, decode, encode};

fuzz_target!(|data: &[u8]| {
    let decoded = decode(data);
    if let Ok(Some((frame, n))) = &decoded {
        let mut out = Vec::new();
        encode(frame, &mut out);
        assert_eq!(out, &data[..*n], "re-encoding differs: {frame:?}");
        assert_eq!(decode(&data[..n - 1]), Ok(None), "a strict prefix decoded");
    }

    // The blocking reader sees the same bytes as a stream.
    let mut reader = FrameReader::new(Cursor::new(data));
    let read = reader.read_frame();
    match (&decoded, read) {
        (Ok(Some((frame, n))), Ok(Some(got))) => {
            assert_eq!(&got, frame);
            assert_eq!(reader.get_mut().position(), *n as u64, "reader read past the frame");
        }
        (Ok(None), Ok(None)) => assert!(data.is_empty()),
        (Ok(None), Err(e)) => assert_eq!(e.kind(), ErrorKind::UnexpectedEof),
        (Err(want), Err(e)) => {
            assert_eq!(e.kind(), ErrorKind::InvalidData);
            assert_eq!(e.get_ref().and_then(|e| e.downcast_ref::<DecodeError>()), Some(want));
        }
        (d, r) => panic!("decode gave {d:?} but FrameReader gave {r:?}"),
    }

    // Keep reading the rest of the stream frame by frame until it ends or fails.
    let mut reader = FrameReader::new(Cursor::new(data));
    let mut rest = data;
    loop {
        match reader.read_frame() {
            Ok(Some(frame)) => {
                let (want, n) = decode(rest).expect("reader accepted").expect("reader had a frame");
                assert_eq!(frame, want);
                rest = &rest[n..];
            }
            Ok(None) => {
                assert!(rest.is_empty());
                break;
            }
            Err(_) => break,
        }
    }
});
