//! Response framing rules: what a response head may contain before Apache writes it.
//!
//! One set of rules, applied wherever a head enters Apache: in `start_response` (both modes:
//! the daemon runs it too) and again in the Apache child for the head a daemon process sends,
//! because code in a daemon process is less trusted than Apache (it may write raw frames).
//! Nothing here trusts the application to frame HTTP: Apache alone decides chunking,
//! keep-alive and connection handling.
//!
//! Pure: no Python, no Apache; unit-tested below and fuzzed through the daemon head check.

/// Headers that describe one connection rather than the response (RFC 9110 §7.6.1, PEP 3333
/// "hop-by-hop"): an application may not set them.
pub const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// What Apache needs to frame a checked head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    /// The status code (200..=999).
    pub code: u16,
    /// The declared `Content-Length`, if any: the body must be exactly this long.
    pub content_length: Option<u64>,
}

/// `NNN reason` (or a bare `NNN`, which mod_wsgi accepts): three digits, then a space and a
/// reason without control characters. A 1xx code is not a final status and is refused.
pub fn check_status(status: &[u8]) -> Result<u16, String> {
    let shown = String::from_utf8_lossy(status);
    let bad = || format!("invalid status line {shown:?}: expected 'NNN reason'");
    if status.len() < 3 || (status.len() > 3 && status[3] != b' ') || !status[..3].iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    if status.iter().any(|c| c.is_ascii_control() || *c == 0x7f) {
        return Err(format!("status line {shown:?} contains a control character"));
    }
    let code = status[..3].iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    if code < 100 {
        return Err(bad());
    }
    if code < 200 {
        return Err(format!("status line {shown:?} is informational (1xx), not a final status"));
    }
    Ok(code)
}

/// Header names: non-empty token characters (no spaces, colons, controls or non-ASCII);
/// values: no control characters except horizontal tab (so no CR/LF/NUL: no header injection).
/// Hop-by-hop headers are refused.
pub fn check_header(name: &[u8], value: &[u8]) -> Result<(), String> {
    let n = String::from_utf8_lossy(name);
    if name.is_empty() {
        return Err("header name must not be empty".into());
    }
    if name.iter().any(|c| c.is_ascii_control() || *c == b' ' || *c == b':' || *c >= 0x7f) {
        return Err(format!("header name {n:?} contains an invalid character"));
    }
    if value.iter().any(|c| (c.is_ascii_control() && *c != b'\t') || *c == 0x7f) {
        return Err(format!("header value for {n:?} contains a control character (CR/LF/NUL are not allowed)"));
    }
    if HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h.as_bytes())) {
        return Err(format!(
            "hop-by-hop header {n:?} is not allowed in a WSGI response (PEP 3333); Apache manages the connection"
        ));
    }
    Ok(())
}

/// A `Content-Length` value: optional blanks around a plain decimal (digits only: no sign, no
/// blanks inside) that fits an `i64`, as Apache's `apr_off_t` needs.
pub fn parse_content_length(value: &[u8]) -> Result<u64, String> {
    let bad = || {
        format!(
            "invalid Content-Length header value {:?}: expected a decimal number of bytes",
            String::from_utf8_lossy(value)
        )
    };
    let trimmed = value.trim_ascii();
    if trimmed.is_empty() || !trimmed.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let mut n: u64 = 0;
    for d in trimmed {
        n = n.checked_mul(10).and_then(|n| n.checked_add(u64::from(d - b'0'))).ok_or_else(bad)?;
    }
    if n > i64::MAX as u64 {
        return Err(bad());
    }
    Ok(n)
}

/// Checks a whole head: status, every header, and at most one Content-Length value (repeats
/// of the same value are tolerated; different values are refused).
pub fn check_head<'a, I>(status: &[u8], headers: I) -> Result<Framing, String>
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    let code = check_status(status)?;
    let mut content_length = None;
    for (name, value) in headers {
        check_header(name, value)?;
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_content_length(value)?;
            match content_length {
                Some(prev) if prev != n => {
                    return Err(format!("two different Content-Length headers ({prev} and {n})"));
                }
                _ => content_length = Some(n),
            }
        }
    }
    Ok(Framing { code, content_length })
}

/// Whether a response with this code to this request carries a body Apache will send: not for
/// HEAD, 204 or 304 (a Content-Length there describes the representation, not what is sent).
pub fn body_expected(code: u16, head_request: bool) -> bool {
    !(head_request || code == 204 || code == 304)
}

/// Checks the head a daemon process sent (its wire `code` must be the status line's), as the
/// Apache child does before anything reaches the client.
pub fn check_daemon_head(code: u16, status: &[u8], headers: &[(Vec<u8>, Vec<u8>)]) -> Result<Framing, String> {
    let f = check_head(status, headers.iter().map(|(k, v)| (k.as_slice(), v.as_slice())))?;
    if f.code != code {
        return Err(format!("code {code} does not match status line code {}", f.code));
    }
    Ok(f)
}

/// Counts the body relayed against the declared Content-Length: never lets more through, and
/// says at the end whether the body came up short.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit {
    pub declared: Option<u64>,
    /// Bytes let through so far.
    pub relayed: u64,
    /// Bytes refused because they went beyond `declared`.
    pub dropped: u64,
}

impl BodyLimit {
    pub fn new(declared: Option<u64>) -> Self {
        BodyLimit { declared, relayed: 0, dropped: 0 }
    }

    /// How many of the next `n` bytes `admit` would let through, without counting them.
    pub fn room(&self, n: u64) -> u64 {
        self.declared.map_or(n, |cl| cl.saturating_sub(self.relayed).min(n))
    }

    /// How many of the next `n` bytes may go to the client.
    pub fn admit(&mut self, n: usize) -> usize {
        let ok = match self.declared {
            Some(cl) => cl.saturating_sub(self.relayed).min(n as u64) as usize,
            None => n,
        };
        self.relayed += ok as u64;
        self.dropped += (n - ok) as u64;
        ok
    }

    /// `Some(declared)` when fewer bytes than declared were relayed.
    pub fn short(&self) -> Option<u64> {
        self.declared.filter(|cl| self.relayed < *cl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_rules() {
        assert_eq!(check_status(b"200 OK"), Ok(200));
        assert_eq!(check_status(b"404 "), Ok(404));
        assert_eq!(check_status(b"200"), Ok(200));
        assert_eq!(check_status(b"599 Custom"), Ok(599));
        assert!(check_status(b"20").is_err());
        assert!(check_status(b"20x OK").is_err());
        assert!(check_status(b"200OK").is_err());
        assert!(check_status(b"200 OK\r\nX: y").is_err());
        assert!(check_status(b"200 OK\x7f").is_err());
        assert!(check_status(b"099 Low").is_err());
        let e = check_status(b"100 Continue").unwrap_err();
        assert!(e.contains("informational"), "{e}");
        assert!(check_status(b"103 Early Hints").is_err());
        assert!(check_status(b"199 x").is_err());
    }

    #[test]
    fn header_rules() {
        assert!(check_header(b"X-Ok", b"a\tb").is_ok());
        assert!(check_header(b"", b"v").is_err());
        assert!(check_header(b"X Bad", b"v").is_err());
        assert!(check_header(b"X-Bad:", b"v").is_err());
        assert!(check_header(b"X-\xe9", b"v").is_err());
        assert!(check_header(b"X-Inject", b"a\r\nSet-Cookie: x").is_err());
        assert!(check_header(b"X-Nul", b"a\0b").is_err());
        assert!(check_header(b"X-Lf", b"a\nb").is_err());
    }

    #[test]
    fn hop_by_hop_refused_in_any_case() {
        for h in HOP_BY_HOP {
            let e = check_header(h.as_bytes(), b"x").unwrap_err();
            assert!(e.contains("hop-by-hop"), "{h}: {e}");
            assert!(check_header(h.to_ascii_uppercase().as_bytes(), b"x").is_err(), "{h}");
        }
        assert!(check_header(b"Transfer-Encoding", b"chunked").is_err());
        assert!(check_header(b"Connection-Id", b"1").is_ok());
        assert!(check_header(b"X-Upgrade", b"1").is_ok());
    }

    #[test]
    fn content_length_values() {
        assert_eq!(parse_content_length(b"0"), Ok(0));
        assert_eq!(parse_content_length(b" 42 "), Ok(42));
        assert_eq!(parse_content_length(b"\t7"), Ok(7));
        assert_eq!(parse_content_length(b"9223372036854775807"), Ok(i64::MAX as u64));
        for bad in [
            &b"9223372036854775808"[..],
            b"18446744073709551616",
            b"99999999999999999999999",
            b"-1",
            b"+1",
            b"1 2",
            b"",
            b"  ",
            b"0x10",
            b"1e3",
            b"12a",
        ] {
            let e = parse_content_length(bad).unwrap_err();
            assert!(e.contains(&String::from_utf8_lossy(bad).to_string()), "{e}");
        }
    }

    #[test]
    fn head_checks_duplicates_and_reports() {
        let h = |v: &[(&'static [u8], &'static [u8])]| v.to_vec();
        let ok = check_head(b"200 OK", h(&[(b"Content-Type", b"text/plain"), (b"Content-Length", b"5")])).unwrap();
        assert_eq!(ok, Framing { code: 200, content_length: Some(5) });
        let none = check_head(b"201 Created", h(&[])).unwrap();
        assert_eq!(none.content_length, None);
        let same = check_head(b"200 OK", h(&[(b"Content-Length", b"5"), (b"content-length", b" 5")])).unwrap();
        assert_eq!(same.content_length, Some(5));
        let e = check_head(b"200 OK", h(&[(b"Content-Length", b"5"), (b"Content-Length", b"6")])).unwrap_err();
        assert!(e.contains("two different Content-Length"), "{e}");
        assert!(check_head(b"200 OK", h(&[(b"Transfer-Encoding", b"chunked")])).is_err());
        assert!(check_head(b"101 Switching Protocols", h(&[])).is_err());
    }

    #[test]
    fn daemon_head_code_must_match() {
        let h = vec![(b"Content-Length".to_vec(), b"3".to_vec())];
        assert_eq!(check_daemon_head(200, b"200 OK", &h), Ok(Framing { code: 200, content_length: Some(3) }));
        let e = check_daemon_head(200, b"404 Not Found", &h).unwrap_err();
        assert!(e.contains("code 200 does not match status line code 404"), "{e}");
    }

    #[test]
    fn body_limit_cuts_and_reports() {
        let mut b = BodyLimit::new(Some(6));
        assert_eq!(b.room(10), 6);
        assert_eq!(b.admit(4), 4);
        assert_eq!((b.room(10), b.room(1)), (2, 1));
        assert_eq!(b.short(), Some(6));
        assert_eq!(b.admit(5), 2);
        assert_eq!(b.admit(3), 0);
        assert_eq!((b.relayed, b.dropped, b.short()), (6, 6, None));
        assert_eq!(b.room(1), 0);
        let mut open = BodyLimit::new(None);
        assert_eq!(open.room(u64::MAX), u64::MAX);
        assert_eq!(open.admit(1 << 20), 1 << 20);
        assert_eq!(open.short(), None);
    }

    #[test]
    fn bodies() {
        assert!(body_expected(200, false));
        assert!(!body_expected(200, true));
        assert!(!body_expected(204, false));
        assert!(!body_expected(304, false));
        assert!(body_expected(404, false));
    }
}
