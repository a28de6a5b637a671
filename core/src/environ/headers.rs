//! Request header names to CGI variable names, with mod_wsgi's filtering rules.

#[derive(Debug, PartialEq, Eq)]
pub enum HeaderKey {
    ContentType,
    ContentLength,
    /// `HTTP_` + upper-cased name with `-` turned into `_`.
    Http(Vec<u8>),
    /// Never exposed: `Proxy` (httpoxy), `Authorization` unless passed (`WSGIPassAuthorization` or
    /// `CGIPassAuth`), `Proxy-Authorization` unless `CGIPassAuth` passes it, names with characters
    /// outside `[A-Za-z0-9-]` (`X_Foo` would otherwise spoof `X-Foo`), empty names.
    Dropped,
}

/// `pass_authorization`: `WSGIPassAuthorization On`; `cgi_pass_auth`: Apache's `CGIPassAuth On`
/// (mod_wsgi exports both authorization headers then, as Apache's CGI helpers do).
pub fn header_key(name: &[u8], pass_authorization: bool, cgi_pass_auth: bool) -> HeaderKey {
    if name.is_empty() || !name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-') {
        return HeaderKey::Dropped;
    }
    if name.eq_ignore_ascii_case(b"content-type") {
        return HeaderKey::ContentType;
    }
    if name.eq_ignore_ascii_case(b"content-length") {
        return HeaderKey::ContentLength;
    }
    if name.eq_ignore_ascii_case(b"proxy") {
        return HeaderKey::Dropped;
    }
    if !(pass_authorization || cgi_pass_auth) && name.eq_ignore_ascii_case(b"authorization") {
        return HeaderKey::Dropped;
    }
    if !cgi_pass_auth && name.eq_ignore_ascii_case(b"proxy-authorization") {
        return HeaderKey::Dropped;
    }
    let mut k = Vec::with_capacity(5 + name.len());
    k.extend_from_slice(b"HTTP_");
    k.extend(name.iter().map(|c| if *c == b'-' { b'_' } else { c.to_ascii_uppercase() }));
    HeaderKey::Http(k)
}
