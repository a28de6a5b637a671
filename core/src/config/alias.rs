//! `WSGIScriptAlias` URL matching, with mod_alias's rule that runs of `/` count as one.

/// Length of the part of `uri` matched by the alias prefix `alias`, or `None`. The alias must end
/// at a path-segment boundary: `/app` matches `/app` and `/app/x`, not `/apple`. A trailing `/`
/// of the alias is matched but left in the remainder, so `/` + `/x` keeps PATH_INFO `/x` (the
/// caller joins a directory target ending in `/` without doubling it).
pub fn alias_match(uri: &[u8], alias: &[u8]) -> Option<usize> {
    let (mut a, mut u) = (0usize, 0usize);
    while a < alias.len() {
        if alias[a] == b'/' {
            if uri.get(u) != Some(&b'/') {
                return None;
            }
            while alias.get(a) == Some(&b'/') {
                a += 1;
            }
            if a == alias.len() {
                break;
            }
            while uri.get(u) == Some(&b'/') {
                u += 1;
            }
        } else {
            if uri.get(u) != Some(&alias[a]) {
                return None;
            }
            a += 1;
            u += 1;
        }
    }
    if a > 0 && alias[a - 1] != b'/' && u < uri.len() && uri[u] != b'/' {
        return None;
    }
    Some(u)
}

#[cfg(test)]
mod tests {
    use super::alias_match;

    #[test]
    fn matches_on_segment_boundaries() {
        assert_eq!(alias_match(b"/app", b"/app"), Some(4));
        assert_eq!(alias_match(b"/app/x", b"/app"), Some(4));
        assert_eq!(alias_match(b"/apple", b"/app"), None);
        assert_eq!(alias_match(b"//app//x", b"/app"), Some(5));
        assert_eq!(alias_match(b"/anything", b"/"), Some(0));
        assert_eq!(alias_match(b"/", b"/"), Some(0));
        assert_eq!(alias_match(b"/wsgi/x.wsgi", b"/wsgi/"), Some(5));
        assert_eq!(alias_match(b"/wsgi", b"/wsgi/"), None);
        assert_eq!(alias_match(b"/other", b"/app"), None);
    }
}
