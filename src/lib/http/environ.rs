//! The CGI/WSGI view of a request, as pure functions: splitting the target,
//! percent-decoding PATH_INFO, url_prefix handling, CGI header names. The rules are
//! Waitress's (`parser.split_uri`, `task.WSGITask.get_environment`). They borrow
//! from the request wherever the answer is a part of it, and copy only to decode.
use std::borrow::Cow;

/// Split a request-target into (raw path, query without '?'), dropping any fragment.
/// Absolute-form targets keep only their path ("http://h/p?q" → "/p", "q"). A target
/// starting with "//" is all path (Waitress #260), not a network location.
pub fn split_target(target: &[u8]) -> (&[u8], &[u8]) {
    let mut rest = target;
    if !rest.starts_with(b"//") {
        if let Some(after_scheme) = strip_scheme(rest) {
            // authority up to the first '/', '?' or '#'
            let end = after_scheme
                .iter()
                .position(|&b| b == b'/' || b == b'?' || b == b'#')
                .unwrap_or(after_scheme.len());
            rest = &after_scheme[end..];
        }
    }
    let rest = match rest.iter().position(|&b| b == b'#') {
        Some(i) => &rest[..i],
        None => rest,
    };
    match rest.iter().position(|&b| b == b'?') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, b""),
    }
}

/// "http://" or "https://" (any case) → what follows it.
fn strip_scheme(target: &[u8]) -> Option<&[u8]> {
    for scheme in [&b"http://"[..], &b"https://"[..]] {
        if target.len() >= scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return Some(&target[scheme.len()..]);
        }
    }
    None
}

/// %XX → byte; an invalid escape is kept as is (Python's `unquote_to_bytes`). A path
/// without escapes is returned as it is.
pub fn percent_decode(path: &[u8]) -> Cow<'_, [u8]> {
    if !path.contains(&b'%') {
        return Cow::Borrowed(path);
    }
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'%' && i + 2 < path.len() {
            if let (Some(h), Some(l)) = (hex(path[i + 1]), hex(path[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(path[i]);
        i += 1;
    }
    Cow::Owned(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// (SCRIPT_NAME, PATH_INFO) from the decoded path and the normalized url_prefix
/// ("" or "/x" without a trailing slash). Waitress `get_environment`: leading slashes
/// collapse to one; a path equal to the prefix gives PATH_INFO ""; a path under
/// prefix + "/" loses the prefix; SCRIPT_NAME is the prefix in every case.
pub fn script_and_path<'a>(decoded_path: &'a [u8], url_prefix: &'a str) -> (&'a [u8], &'a [u8]) {
    let mut path = decoded_path;
    if path.starts_with(b"/") {
        while path.len() > 1 && path[1] == b'/' {
            path = &path[1..];
        }
    }
    let prefix = url_prefix.as_bytes();
    if prefix.is_empty() {
        return (b"", path);
    }
    if path == prefix {
        return (prefix, b"");
    }
    if path.len() > prefix.len() && path.starts_with(prefix) && path[prefix.len()] == b'/' {
        return (prefix, &path[prefix.len()..]);
    }
    (prefix, path)
}

/// "x-foo" → "X_FOO" (the CGI spelling, without the HTTP_ prefix).
pub fn cgi_header_name(lowercase_name: &[u8]) -> String {
    lowercase_name
        .iter()
        .map(|&b| match b {
            b'-' => '_',
            b => (b as char).to_ascii_uppercase(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let split = |t: &[u8]| {
            let (p, q) = split_target(t);
            (p.to_vec(), q.to_vec())
        };
        assert_eq!(split(b"/a/b?x=1#f"), (b"/a/b".to_vec(), b"x=1".to_vec()));
        assert_eq!(split(b"//a/b?x"), (b"//a/b".to_vec(), b"x".to_vec()));
        assert_eq!(split(b"http://h:80/p?q"), (b"/p".to_vec(), b"q".to_vec()));
        assert_eq!(split(b"HTTPS://h"), (b"".to_vec(), b"".to_vec()));
        assert_eq!(split(b"*"), (b"*".to_vec(), b"".to_vec()));
        assert_eq!(split(b"/?"), (b"/".to_vec(), b"".to_vec()));
    }

    #[test]
    fn decoding() {
        assert_eq!(&*percent_decode(b"/a%20b%2Fc"), b"/a b/c");
        assert_eq!(&*percent_decode(b"/%zz%4"), b"/%zz%4");
        assert_eq!(&*percent_decode(b"%e2%82%ac"), "\u{20ac}".as_bytes());
        assert_eq!(&*percent_decode(b"%"), b"%");
        assert!(matches!(
            percent_decode(b"/plain"),
            Cow::Borrowed(b"/plain")
        ));
    }

    #[test]
    fn prefixes() {
        let sp = |p: &str, pre: &str| {
            let (s, p) = script_and_path(p.as_bytes(), pre);
            (
                String::from_utf8(s.to_vec()).unwrap(),
                String::from_utf8(p.to_vec()).unwrap(),
            )
        };
        assert_eq!(sp("///a", ""), ("".into(), "/a".into()));
        assert_eq!(sp("/app", "/app"), ("/app".into(), "".into()));
        assert_eq!(sp("/app/x", "/app"), ("/app".into(), "/x".into()));
        assert_eq!(sp("/apple", "/app"), ("/app".into(), "/apple".into()));
    }

    #[test]
    fn cgi_names() {
        assert_eq!(cgi_header_name(b"x-forwarded-for"), "X_FORWARDED_FOR");
    }
}
