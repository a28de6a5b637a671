use super::*;

#[test]
fn unknown_type_rejected_from_first_byte() {
    for t in [0x00u8, 0x06, 0x0F, 0x17, 0x7F, 0xFF] {
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
fn response_file_range_rules() {
    let file = |offset: u64, len: u64| enc(&Frame::ResponseFile { offset, len });
    assert_eq!(decode(&file(0, 0)), Err(DecodeError::Malformed("empty file range")));
    let past = DecodeError::Malformed("file range past the largest file offset");
    assert_eq!(decode(&file(u64::MAX, 1)), Err(past.clone()));
    assert_eq!(decode(&file(1, i64::MAX as u64)), Err(past.clone()));
    assert_eq!(decode(&file(0, i64::MAX as u64 + 1)), Err(past));
    // The largest range that fits an off_t is accepted.
    let f = Frame::ResponseFile { offset: 1, len: i64::MAX as u64 - 1 };
    assert_eq!(decode(&enc(&f)), Ok(Some((f, HEADER_LEN + RESPONSE_FILE_LEN))));
    // The payload is exactly 16 bytes.
    assert!(matches!(decode(&[T_RESPONSE_FILE, 0, 0, 0, 15]), Err(DecodeError::Malformed(_))));
    assert_eq!(
        decode(&[T_RESPONSE_FILE, 0, 0, 0, 17]),
        Err(DecodeError::TooLarge { kind: "ResponseFile", len: 17, max: 16 })
    );
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
    assert_eq!(decode(&[T_BODY_ERROR, 0, 0, 0, 2, 0xC3, 0x28]), Err(DecodeError::Malformed("message is not UTF-8")));
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
    assert_eq!(e, DecodeError::TooLarge { kind: "ResponseHead header entries", len: 10_001, max: 10_000 });
    assert_eq!(e.to_string(), "ResponseHead header entries: count 10001 exceeds 10000");
    // RequestHead env count of u32::MAX.
    let mut p = VERSION.to_be_bytes().to_vec();
    p.extend_from_slice(&token());
    p.extend_from_slice(&u32::MAX.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes());
    assert!(matches!(decode(&raw_frame(T_REQUEST_HEAD, &p)), Err(DecodeError::TooLarge { .. })));
    // Meta count of 2 with room for exactly one entry.
    let mut p = VERSION.to_be_bytes().to_vec();
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
        assert_eq!(decode(&bytes), Err(DecodeError::Malformed("trailing bytes in payload")), "{f:?}");
    }
}

#[test]
fn bad_version_rejected() {
    // v1 (one request per connection) and a future v3 are both refused.
    for v in [1u16, 3] {
        let mut bytes = enc(&samples()[1]);
        bytes[HEADER_LEN..HEADER_LEN + 2].copy_from_slice(&v.to_be_bytes());
        assert_eq!(decode(&bytes), Err(DecodeError::BadVersion(v)));
    }
    assert_eq!(DecodeError::BadVersion(1).to_string(), "protocol version 1 unsupported (expected 2)");
}
