//! Fuzzes what the Apache child does with a daemon's response: decode the head frame, check it
//! (`framing::check_daemon_head`), then relay body chunks through `framing::BodyLimit`.
//! Whatever a daemon process sends, an accepted head carries no CR/LF/NUL, no hop-by-hop header,
//! a final status whose code matches the wire code, a Content-Length that fits i64 and agrees
//! with every Content-Length header; and the body relayed never exceeds that length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgi_rs_core::framing::{BodyLimit, HOP_BY_HOP, check_daemon_head, parse_content_length};
use wsgi_rs_core::wire::{Frame, decode};

fuzz_target!(|data: &[u8]| {
    // The input is a head payload, then a stream of frames: give the head its frame header so
    // the fuzzer need not find it, and read what follows as body frames.
    if data.len() < 2 {
        return;
    }
    let split = (data[0] as usize * 256 + data[1] as usize).min(data.len() - 2);
    let (payload, rest) = data[2..].split_at(split);
    let mut head = vec![0x10];
    head.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    head.extend_from_slice(payload);
    let Ok(Some((Frame::ResponseHead { code, status, headers }, _))) = decode(&head) else { return };
    let Ok(f) = check_daemon_head(code, &status, &headers) else { return };

    let bad = |b: &[u8]| b.iter().any(|c| matches!(c, b'\r' | b'\n' | 0));
    assert!(!bad(&status), "status line with CR/LF/NUL accepted: {status:?}");
    assert!((200..=999).contains(&f.code) && f.code == code);
    assert_eq!(&status[..3], f.code.to_string().as_bytes());
    for (k, v) in &headers {
        assert!(!bad(k) && !bad(v) && !k.is_empty(), "header with CR/LF/NUL accepted: {k:?}: {v:?}");
        assert!(!k.contains(&b':'), "header name with a colon accepted: {k:?}");
        assert!(!HOP_BY_HOP.iter().any(|h| k.eq_ignore_ascii_case(h.as_bytes())), "hop-by-hop accepted: {k:?}");
        if k.eq_ignore_ascii_case(b"content-length") {
            assert_eq!(parse_content_length(v).ok(), f.content_length);
        }
    }
    if let Some(cl) = f.content_length {
        assert!(cl <= i64::MAX as u64);
    }

    let mut limit = BodyLimit::new(f.content_length);
    let mut rest = rest;
    let mut sent = 0u64;
    while let Ok(Some((frame, n))) = decode(rest) {
        if let Frame::ResponseChunk(c) = &frame {
            let ok = limit.admit(c.len());
            assert!(ok <= c.len());
            sent += ok as u64;
        }
        rest = &rest[n..];
    }
    assert_eq!(sent, limit.relayed);
    if let Some(cl) = f.content_length {
        assert!(sent <= cl, "relayed {sent} bytes past Content-Length {cl}");
        assert_eq!(limit.short().is_some(), sent < cl);
    }
});
