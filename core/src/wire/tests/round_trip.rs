use super::*;

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
    assert_eq!(
        enc(&Frame::ResponseFile { offset: 0x0102, len: 0x0A0B_0C0D }),
        [0x16, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0x0A, 0x0B, 0x0C, 0x0D]
    );
    let rh = enc(&Frame::RequestHead(RequestHead { token: [7; TOKEN_LEN], env: vec![], meta: vec![] }));
    let mut want = vec![0x01, 0, 0, 0, 42, 0, 2]; // version 2
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
        let f = if kind == T_BODY_CHUNK { Frame::BodyChunk(data.clone()) } else { Frame::ResponseChunk(data.clone()) };
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
