//! Wire codec tests: shared sample frames and helpers; one file per theme below.
use super::*;

mod fuzz_like;
mod reader;
mod reject;
mod round_trip;

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
        Frame::ResponseFile { offset: 0, len: 1 },
        Frame::ResponseFile { offset: 1 << 40, len: (1 << 40) + 7 },
        Frame::ResponseFile { offset: 0, len: i64::MAX as u64 },
    ]
}
