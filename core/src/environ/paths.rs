//! SCRIPT_NAME / PATH_INFO, split the way mod_wsgi splits them.

/// Runs of `/` become one `/` (Apache's `ap_no2slash`).
pub fn collapse_slashes(p: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(p.len());
    for &c in p {
        if c == b'/' && out.last() == Some(&b'/') {
            continue;
        }
        out.push(c);
    }
    out
}

/// SCRIPT_NAME is the request path minus its path info; both have duplicate slashes collapsed.
/// A mount at `/` yields SCRIPT_NAME `""`, and a trailing `/` of SCRIPT_NAME moves to PATH_INFO
/// so that SCRIPT_NAME + PATH_INFO is the request path.
pub fn split_script_name(uri: &[u8], path_info: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let uri = collapse_slashes(uri);
    let mut pi = collapse_slashes(path_info);
    let mut script = if !pi.is_empty() && uri.ends_with(&pi) { uri[..uri.len() - pi.len()].to_vec() } else { uri };
    if script.last() == Some(&b'/') {
        script.pop();
        if pi.is_empty() {
            pi = b"/".to_vec();
        } else if pi[0] != b'/' {
            pi.insert(0, b'/');
        }
    }
    (script, pi)
}
