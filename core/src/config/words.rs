//! Splitting a directive's argument text into words the way Apache's `ap_getword_conf` does:
//! blanks separate words; a word starting with `"` or `'` runs to the matching quote (a
//! backslash escapes that quote inside it). Used for `Require wsgi-group` arguments, which
//! Apache hands to authz providers unsplit.

/// The words of `line`.
pub fn conf_words(line: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        let mut w = Vec::new();
        if line[i] == b'"' || line[i] == b'\'' {
            let q = line[i];
            i += 1;
            while i < line.len() && line[i] != q {
                if line[i] == b'\\' && i + 1 < line.len() && line[i + 1] == q {
                    i += 1;
                }
                w.push(line[i]);
                i += 1;
            }
            i += 1;
        } else {
            while i < line.len() && !line[i].is_ascii_whitespace() {
                w.push(line[i]);
                i += 1;
            }
        }
        out.push(w);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::conf_words;

    #[test]
    fn splits_like_getword_conf() {
        let w =
            |s: &str| conf_words(s.as_bytes()).into_iter().map(|v| String::from_utf8(v).unwrap()).collect::<Vec<_>>();
        assert_eq!(w("editors  admins"), ["editors", "admins"]);
        assert_eq!(w(" \"site editors\" 'a b' x"), ["site editors", "a b", "x"]);
        assert_eq!(w(r#""say \"hi\"""#), [r#"say "hi""#]);
        assert_eq!(w("   "), Vec::<String>::new());
        assert_eq!(w("\"open"), ["open"]);
    }
}
