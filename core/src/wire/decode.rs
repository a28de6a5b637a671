//! Frame decoding. Every length is checked against its limit and against the bytes that are
//! actually there before anything is allocated.

use super::frame::*;

/// Smallest and largest payload length of each frame type; `UnknownType` for other bytes.
fn payload_bounds(kind: u8) -> Result<(&'static str, usize, usize), DecodeError> {
    let name = kind_name(kind).ok_or(DecodeError::UnknownType(kind))?;
    let (min, max) = match kind {
        // version, token, n_env, n_meta
        T_REQUEST_HEAD => (2 + TOKEN_LEN + 4 + 4, MAX_HEAD),
        T_BODY_CHUNK | T_RESPONSE_CHUNK => (1, MAX_CHUNK),
        T_BODY_END | T_FLUSH | T_RESPONSE_END => (0, 0),
        T_BODY_ERROR | T_RESPONSE_ABORT => (0, MAX_MESSAGE),
        T_BODY_REQUEST => (4, 4),
        // code, status length, n
        T_RESPONSE_HEAD => (2 + 4 + 4, MAX_HEAD),
        // code, message length
        T_RESPONSE_ERROR => (2 + 4, 2 + 4 + MAX_MESSAGE),
        // offset, len
        T_RESPONSE_FILE => (RESPONSE_FILE_LEN, RESPONSE_FILE_LEN),
        _ => unreachable!("kind_name knows {kind:#04x}"),
    };
    Ok((name, min, max))
}

/// Checks a frame header: known type, payload length within the type's bounds.
/// Returns the payload length.
pub(crate) fn check_header(header: &[u8; HEADER_LEN]) -> Result<usize, DecodeError> {
    let kind = header[0];
    let (name, min, max) = payload_bounds(kind)?;
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    if len as u64 > max as u64 {
        return Err(DecodeError::TooLarge { kind: name, len: len as u64, max: max as u64 });
    }
    let len = len as usize;
    if len < min {
        return Err(DecodeError::Malformed(match kind {
            T_BODY_CHUNK | T_RESPONSE_CHUNK => "empty chunk",
            _ => "payload too short for its frame type",
        }));
    }
    Ok(len)
}

/// Incremental decode of the frame at the start of `buf`.
///
/// `Ok(None)`: `buf` does not hold a whole frame yet (the header is checked as soon as its bytes
/// are there, so an unknown type or an oversize length fails at once). `Ok(Some((frame, n)))`:
/// the frame used the first `n` bytes of `buf`.
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, DecodeError> {
    let Some(&kind) = buf.first() else { return Ok(None) };
    if kind_name(kind).is_none() {
        return Err(DecodeError::UnknownType(kind));
    }
    let Some(header) = buf.first_chunk::<HEADER_LEN>() else { return Ok(None) };
    let len = check_header(header)?;
    let Some(payload) = buf[HEADER_LEN..].get(..len) else { return Ok(None) };
    let frame = parse_payload(kind, payload)?;
    Ok(Some((frame, HEADER_LEN + len)))
}

/// Builds the frame of type `kind` (already checked by [`check_header`]) from its whole payload.
pub(crate) fn parse_payload(kind: u8, payload: &[u8]) -> Result<Frame, DecodeError> {
    let mut p = Parser { rest: payload };
    let frame = match kind {
        T_REQUEST_HEAD => {
            let h = parse_request_head(payload)?;
            let owned = |v: PairsRef<'_>| v.into_iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
            return Ok(Frame::RequestHead(RequestHead { token: h.token, env: owned(h.env), meta: owned(h.meta) }));
        }
        T_BODY_CHUNK => Frame::BodyChunk(p.rest_vec()),
        T_BODY_END => Frame::BodyEnd,
        T_BODY_ERROR => Frame::BodyError(utf8(p.rest_vec())?),
        T_BODY_REQUEST => {
            let max = p.u32()?;
            if max == 0 || max as usize > MAX_CHUNK {
                return Err(DecodeError::Malformed("BodyRequest size not in 1..=MAX_CHUNK"));
            }
            Frame::BodyRequest(max)
        }
        T_RESPONSE_HEAD => {
            let code = p.u16()?;
            let status = p.bytes()?.to_vec();
            let headers =
                p.pairs("ResponseHead header entries")?.into_iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
            Frame::ResponseHead { code, status, headers }
        }
        T_RESPONSE_CHUNK => Frame::ResponseChunk(p.rest_vec()),
        T_FLUSH => Frame::Flush,
        T_RESPONSE_END => Frame::ResponseEnd,
        T_RESPONSE_ABORT => Frame::ResponseAbort(utf8(p.rest_vec())?),
        T_RESPONSE_ERROR => {
            let code = p.u16()?;
            let message = utf8(p.bytes()?.to_vec())?;
            Frame::ResponseError { code, message }
        }
        T_RESPONSE_FILE => {
            let offset = p.u64()?;
            let len = p.u64()?;
            if len == 0 {
                return Err(DecodeError::Malformed("empty file range"));
            }
            if offset.checked_add(len).is_none_or(|end| end > i64::MAX as u64) {
                return Err(DecodeError::Malformed("file range past the largest file offset"));
            }
            Frame::ResponseFile { offset, len }
        }
        _ => return Err(DecodeError::UnknownType(kind)),
    };
    if !p.rest.is_empty() {
        return Err(DecodeError::Malformed("trailing bytes in payload"));
    }
    Ok(frame)
}

/// Key/value pairs borrowed from a payload.
pub type PairsRef<'a> = Vec<(&'a [u8], &'a [u8])>;

/// A `RequestHead` whose pairs borrow from the payload it was parsed from (what a daemon
/// decodes per request: no allocation per key and value).
#[derive(Debug)]
pub struct RequestHeadRef<'a> {
    pub token: [u8; TOKEN_LEN],
    pub env: PairsRef<'a>,
    pub meta: PairsRef<'a>,
}

/// Parses the whole payload of a `RequestHead` frame (after [`check_header`]), with the checks
/// [`decode`] makes; `decode` builds its owned frame from this.
pub fn parse_request_head(payload: &[u8]) -> Result<RequestHeadRef<'_>, DecodeError> {
    let mut p = Parser { rest: payload };
    let version = p.u16()?;
    if version != VERSION {
        return Err(DecodeError::BadVersion(version));
    }
    let token = *p.take(TOKEN_LEN)?.first_chunk::<TOKEN_LEN>().expect("took TOKEN_LEN");
    let env = p.pairs("RequestHead env entries")?;
    let meta = p.pairs("RequestHead meta entries")?;
    if !p.rest.is_empty() {
        return Err(DecodeError::Malformed("trailing bytes in payload"));
    }
    Ok(RequestHeadRef { token, env, meta })
}

/// Messages must be valid UTF-8 (the encoder only writes `String`s), which also keeps decoding
/// canonical: a decoded frame re-encodes to the very bytes it came from.
fn utf8(v: Vec<u8>) -> Result<String, DecodeError> {
    String::from_utf8(v).map_err(|_| DecodeError::Malformed("message is not UTF-8"))
}

struct Parser<'a> {
    rest: &'a [u8],
}

impl<'a> Parser<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::Malformed("field runs past the end of the payload"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes(b.try_into().expect("took 8")))
    }

    /// A `u32 len + bytes` string, borrowed.
    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()?;
        // On 64-bit targets this cannot truncate; on 32-bit a huge length fails `take`.
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.take(len)
    }

    fn rest_vec(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.rest).to_vec()
    }

    /// `u32 n` then n × (bytes key, bytes value). The count is checked against the limit and
    /// against the remaining payload (each pair needs at least 8 bytes) before allocating.
    fn pairs(&mut self, kind: &'static str) -> Result<PairsRef<'a>, DecodeError> {
        let n = self.u32()? as usize;
        if n > MAX_ENTRIES {
            return Err(DecodeError::TooLarge { kind, len: n as u64, max: MAX_ENTRIES as u64 });
        }
        if n > self.rest.len() / 8 {
            return Err(DecodeError::Malformed("entry count exceeds what the payload can hold"));
        }
        let mut pairs = Vec::with_capacity(n);
        for _ in 0..n {
            let k = self.bytes()?;
            let v = self.bytes()?;
            pairs.push((k, v));
        }
        Ok(pairs)
    }
}
