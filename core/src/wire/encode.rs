//! Frame encoding. The encoder trusts its caller to respect the limits (chunk sizes, message
//! sizes, entry counts): a frame that breaks them is encoded as given and rejected by the peer.

use super::frame::*;

/// Converts a length to its `u32` wire form. Lengths over 4 GiB cannot be framed; no caller
/// gets near that (heads are capped at 16 MiB by the peer), so this is a bug, not an input error.
fn len32(len: usize) -> u32 {
    u32::try_from(len).expect("wire: length does not fit in u32")
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, len32(b.len()));
    out.extend_from_slice(b);
}

/// The 5-byte header of a chunk frame (`T_BODY_CHUNK` or `T_RESPONSE_CHUNK`) of `len` bytes, so
/// a caller can write the header and then borrowed data without copying it into a frame.
pub fn chunk_header(kind: u8, len: usize) -> [u8; HEADER_LEN] {
    debug_assert!(kind == T_BODY_CHUNK || kind == T_RESPONSE_CHUNK, "not a chunk type: {kind:#04x}");
    debug_assert!((1..=MAX_CHUNK).contains(&len), "chunk of {len} bytes");
    header(kind, len32(len))
}

fn header(kind: u8, len: u32) -> [u8; HEADER_LEN] {
    let l = len.to_be_bytes();
    [kind, l[0], l[1], l[2], l[3]]
}

/// Appends a frame whose payload is written by `body`, patching the length afterwards.
fn framed(out: &mut Vec<u8>, kind: u8, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&header(kind, 0));
    body(out);
    let len = len32(out.len() - start - HEADER_LEN);
    out[start + 1..start + HEADER_LEN].copy_from_slice(&len.to_be_bytes());
}

fn simple(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    out.reserve(HEADER_LEN + payload.len());
    out.extend_from_slice(&header(kind, len32(payload.len())));
    out.extend_from_slice(payload);
}

/// Size of `n` pairs on the wire, and `n`.
fn pairs_size<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> (usize, usize) {
    pairs.fold((0, 0), |(size, n), (k, v)| (size + 8 + k.len() + v.len(), n + 1))
}

fn put_pairs<'a>(out: &mut Vec<u8>, n: usize, pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) {
    put_u32(out, len32(n));
    for (k, v) in pairs {
        put_bytes(out, k);
        put_bytes(out, v);
    }
}

/// Appends a `RequestHead` frame built from borrowed pairs (no copy of the environ). The
/// iterators are walked twice: once to size the frame, once to write it.
pub fn encode_request_head<'a>(
    token: &[u8; TOKEN_LEN],
    env: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    meta: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    out: &mut Vec<u8>,
) {
    let (env_size, n_env) = pairs_size(env.clone());
    let (meta_size, n_meta) = pairs_size(meta.clone());
    let payload = 2 + TOKEN_LEN + 4 + env_size + 4 + meta_size;
    out.reserve(HEADER_LEN + payload);
    let start = out.len();
    out.extend_from_slice(&header(T_REQUEST_HEAD, len32(payload)));
    put_u16(out, VERSION);
    out.extend_from_slice(token);
    put_pairs(out, n_env, env);
    put_pairs(out, n_meta, meta);
    debug_assert_eq!(out.len() - start, HEADER_LEN + payload, "iterators changed between passes");
}

fn borrow_pairs(p: &Pairs) -> impl Iterator<Item = (&[u8], &[u8])> + Clone {
    p.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))
}

/// Appends one frame to `out`.
pub fn encode(frame: &Frame, out: &mut Vec<u8>) {
    let kind = frame.kind();
    match frame {
        Frame::RequestHead(h) => encode_request_head(&h.token, borrow_pairs(&h.env), borrow_pairs(&h.meta), out),
        Frame::BodyChunk(b) | Frame::ResponseChunk(b) => simple(out, kind, b),
        Frame::BodyEnd | Frame::Flush | Frame::ResponseEnd => simple(out, kind, &[]),
        Frame::BodyError(m) | Frame::ResponseAbort(m) => simple(out, kind, m.as_bytes()),
        Frame::BodyRequest(max) => simple(out, kind, &max.to_be_bytes()),
        Frame::ResponseHead { code, status, headers } => framed(out, kind, |out| {
            put_u16(out, *code);
            put_bytes(out, status);
            put_pairs(out, headers.len(), borrow_pairs(headers));
        }),
        Frame::ResponseError { code, message } => framed(out, kind, |out| {
            put_u16(out, *code);
            put_bytes(out, message.as_bytes());
        }),
        Frame::ResponseFile { offset, len } => framed(out, kind, |out| {
            out.extend_from_slice(&offset.to_be_bytes());
            out.extend_from_slice(&len.to_be_bytes());
        }),
    }
}
