//! The daemon wire protocol (v2): the frames an Apache child and a daemon process exchange over
//! a Unix stream socket (DESIGN §4). v2 keeps v1's frames; a connection carries requests one
//! after another: after `ResponseEnd` (nothing else ends a conversation cleanly) the Apache child
//! may send the next `RequestHead` on it, each with the token. Either side may close an idle
//! connection; the daemon closes one without reading anything of it, so an Apache child that
//! sent a head on it sees EPIPE or ECONNRESET before any byte back and may send it elsewhere.
//!
//! Every frame is `[u8 type][u32 big-endian payload length][payload]`; integers are big-endian
//! and byte strings are `u32 len + bytes`.
//!
//! ```text
//! client -> daemon                          daemon -> client
//! 0x01 RequestHead  u16 version, [u8;32]    0x05 BodyRequest    u32 max (1..=MAX_CHUNK)
//!      token, u32 n_env, n_env × (k, v),    0x10 ResponseHead   u16 code, bytes status,
//!      u32 n_meta, n_meta × (k, v)               u32 n, n × (name, value)
//! 0x02 BodyChunk    raw bytes (1..=MAX_CHUNK) 0x11 ResponseChunk raw bytes (1..=MAX_CHUNK)
//! 0x03 BodyEnd      empty                   0x12 Flush          empty
//! 0x04 BodyError    UTF-8 message           0x13 ResponseEnd    empty
//!                                           0x14 ResponseAbort  UTF-8 message
//!                                           0x15 ResponseError  u16 code, bytes message
//!                                           0x16 ResponseFile   u64 offset, u64 len
//!                                                (+ the file's descriptor, SCM_RIGHTS)
//! ```
//!
//! The meta pairs of a `RequestHead` are an open set (`daemon::RequestMeta`): a daemon ignores
//! keys it does not know, and keys added after v1 (`request_handler`, `handler_script`,
//! `ignore_activity`, `pushed`, `fdpass`, `script_mtime_us`) are sent only when not at their
//! default, so adding one is compatible in both directions and needs no new version; a new
//! frame type or field layout would, unless the receiver asks for it: `ResponseFile` (added to
//! v2) goes only to an Apache child whose head carries the meta key `fdpass=1`
//! (`RequestMeta::fdpass`), so a child that does not know the frame never sees it, and a daemon
//! that does not know the key ignores it and sends the file as `ResponseChunk`s. `VERSION`
//! stays 2: every v2 peer still reads every frame it gets.
//!
//! `ResponseFile` is the one frame with out-of-band data: the descriptor of the file travels
//! as `SCM_RIGHTS` ancillary data on the `sendmsg` that carries the frame's bytes (see
//! [`fds`]). Linux delivers it with the first `recvmsg` that returns any byte of that message
//! and stops that read at the message's end, so a reader that keeps received descriptors in
//! arrival order pops the oldest one when it decodes a `ResponseFile`: the sender sends exactly
//! one descriptor per such frame, and never one otherwise.
//!
//! The body's first window may follow the head unasked, announced by the head's `pushed` meta
//! key (`daemon::meta::Pushed`: one `BodyChunk`, and/or `BodyEnd`/`BodyError` when the body
//! ended within it); a daemon that does not know the key's value refuses the request. The rest
//! is pulled: the daemon sends `BodyRequest(max)` and the client answers with one `BodyChunk`,
//! `BodyEnd` or `BodyError`. Decoding is strict and canonical: lengths are checked
//! against their limits and against the bytes present before any allocation, trailing bytes,
//! unknown types, other versions and non-UTF-8 messages are errors, and a decoded frame
//! re-encodes to exactly the bytes it was decoded from.
mod buffered;
mod decode;
mod encode;
pub mod fds;
mod frame;
mod io;
#[cfg(test)]
mod tests;

pub use buffered::Buffered;
pub use decode::{PairsRef, RequestHeadRef, decode, parse_request_head};
pub use encode::{chunk_header, encode, encode_request_head};
pub use frame::*;
pub use io::FrameReader;

/// Compares two tokens in time independent of where they differ.
pub fn token_eq(a: &[u8; TOKEN_LEN], b: &[u8; TOKEN_LEN]) -> bool {
    let mut diff = 0u8;
    for i in 0..TOKEN_LEN {
        diff |= a[i] ^ b[i];
    }
    // Keep the optimiser from turning the loop into an early-exit comparison.
    std::hint::black_box(diff) == 0
}
