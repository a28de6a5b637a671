//! Frame types, limits and errors of the daemon protocol (v2).

use std::fmt;

/// Protocol version carried by every [`RequestHead`]. v2: a connection carries any number of
/// requests one after another (the frames are those of v1); a daemon of another version
/// refuses the head, so a module replaced on disk never half-speaks to an older one.
pub const VERSION: u16 = 2;
/// Length of the per-group secret token.
pub const TOKEN_LEN: usize = 32;

/// Largest payload of a `RequestHead` or `ResponseHead` frame.
pub const MAX_HEAD: usize = 16 * 1024 * 1024;
/// Largest payload of a `BodyChunk` / `ResponseChunk` frame, and largest `BodyRequest`.
pub const MAX_CHUNK: usize = 1024 * 1024;
/// Largest number of entries in the environ, the meta data, or the response headers.
pub const MAX_ENTRIES: usize = 10_000;
/// Largest message of a `BodyError`, `ResponseAbort` or `ResponseError` frame (bytes).
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Size of the frame header: `[u8 type][u32 big-endian payload length]`.
pub const HEADER_LEN: usize = 5;

// Client -> daemon.
pub const T_REQUEST_HEAD: u8 = 0x01;
pub const T_BODY_CHUNK: u8 = 0x02;
pub const T_BODY_END: u8 = 0x03;
pub const T_BODY_ERROR: u8 = 0x04;
// Daemon -> client.
pub const T_BODY_REQUEST: u8 = 0x05;
pub const T_RESPONSE_HEAD: u8 = 0x10;
pub const T_RESPONSE_CHUNK: u8 = 0x11;
pub const T_FLUSH: u8 = 0x12;
pub const T_RESPONSE_END: u8 = 0x13;
pub const T_RESPONSE_ABORT: u8 = 0x14;
pub const T_RESPONSE_ERROR: u8 = 0x15;
pub const T_RESPONSE_FILE: u8 = 0x16;

/// Payload length of a `ResponseFile` frame: `u64 offset, u64 len`.
pub const RESPONSE_FILE_LEN: usize = 16;

/// Key/value byte strings (environ, meta data, response headers), in wire order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// The first frame of a request: who sends it (token), the WSGI environ and side data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub token: [u8; TOKEN_LEN],
    pub env: Pairs,
    pub meta: Pairs,
}

/// One protocol frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// 0x01, client -> daemon.
    RequestHead(RequestHead),
    /// 0x02, client -> daemon: request body bytes (1..=MAX_CHUNK).
    BodyChunk(Vec<u8>),
    /// 0x03, client -> daemon: the request body is complete.
    BodyEnd,
    /// 0x04, client -> daemon: the client could not read the request body.
    BodyError(String),
    /// 0x05, daemon -> client: "send me up to `max` body bytes" (1..=MAX_CHUNK).
    BodyRequest(u32),
    /// 0x10, daemon -> client.
    ResponseHead { code: u16, status: Vec<u8>, headers: Pairs },
    /// 0x11, daemon -> client: response body bytes (1..=MAX_CHUNK).
    ResponseChunk(Vec<u8>),
    /// 0x12, daemon -> client: flush what was sent so far to the HTTP client.
    Flush,
    /// 0x13, daemon -> client: the response is complete.
    ResponseEnd,
    /// 0x14, daemon -> client: failure after the head was sent; the client cuts the connection.
    ResponseAbort(String),
    /// 0x15, daemon -> client: failure before any head; the client answers `code`.
    ResponseError { code: u16, message: String },
    /// 0x16, daemon -> client: `len` response body bytes of a regular file from `offset`. The
    /// file's open descriptor travels as `SCM_RIGHTS` data on the `sendmsg` that carries the
    /// frame's bytes (the frame alone cannot be decoded into a usable response). Sent only to a
    /// client that announced it takes it (meta key `fdpass`). `len` is at least 1 and
    /// `offset + len` fits an `i64` (an `off_t`).
    ResponseFile { offset: u64, len: u64 },
}

impl Frame {
    /// The type byte of this frame.
    pub fn kind(&self) -> u8 {
        match self {
            Frame::RequestHead(_) => T_REQUEST_HEAD,
            Frame::BodyChunk(_) => T_BODY_CHUNK,
            Frame::BodyEnd => T_BODY_END,
            Frame::BodyError(_) => T_BODY_ERROR,
            Frame::BodyRequest(_) => T_BODY_REQUEST,
            Frame::ResponseHead { .. } => T_RESPONSE_HEAD,
            Frame::ResponseChunk(_) => T_RESPONSE_CHUNK,
            Frame::Flush => T_FLUSH,
            Frame::ResponseEnd => T_RESPONSE_END,
            Frame::ResponseAbort(_) => T_RESPONSE_ABORT,
            Frame::ResponseError { .. } => T_RESPONSE_ERROR,
            Frame::ResponseFile { .. } => T_RESPONSE_FILE,
        }
    }
}

/// The name of a frame type, for messages; `None` if the type is unknown.
pub fn kind_name(kind: u8) -> Option<&'static str> {
    Some(match kind {
        T_REQUEST_HEAD => "RequestHead",
        T_BODY_CHUNK => "BodyChunk",
        T_BODY_END => "BodyEnd",
        T_BODY_ERROR => "BodyError",
        T_BODY_REQUEST => "BodyRequest",
        T_RESPONSE_HEAD => "ResponseHead",
        T_RESPONSE_CHUNK => "ResponseChunk",
        T_FLUSH => "Flush",
        T_RESPONSE_END => "ResponseEnd",
        T_RESPONSE_ABORT => "ResponseAbort",
        T_RESPONSE_ERROR => "ResponseError",
        T_RESPONSE_FILE => "ResponseFile",
        _ => return None,
    })
}

/// Why bytes are not a valid frame. Any of these closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The type byte names no frame.
    UnknownType(u8),
    /// A payload length or an entry count is over its limit. `kind` is a frame name for a
    /// payload length ("RequestHead") or ends with " entries" for a count.
    TooLarge { kind: &'static str, len: u64, max: u64 },
    /// A `RequestHead` of another protocol version.
    BadVersion(u16),
    /// Anything else: truncated fields, trailing bytes, empty chunk, invalid UTF-8, ...
    Malformed(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnknownType(t) => write!(f, "frame type {t:#04x} unknown"),
            DecodeError::TooLarge { kind, len, max } if kind.ends_with(" entries") => {
                write!(f, "{kind}: count {len} exceeds {max}")
            }
            DecodeError::TooLarge { kind, len, max } => {
                write!(f, "{kind} payload of {len} bytes exceeds {max}")
            }
            DecodeError::BadVersion(v) => {
                write!(f, "protocol version {v} unsupported (expected {VERSION})")
            }
            DecodeError::Malformed(what) => write!(f, "malformed frame: {what}"),
        }
    }
}

impl std::error::Error for DecodeError {}
