//! Request heads: `parse_head(bytes so far)` → a complete `RequestHead`, "need more",
//! or the `RequestError` that rejects it. Pure and incremental: the caller passes the
//! bytes received so far and calls again when more arrive.
//!
//! httparse tokenizes the header fields; around it we enforce what RFC 9112 demands
//! and httparse (or Waitress) lets through: no bare CR or LF (§2.2), no obs-fold
//! (§5.2), no whitespace before a colon (§5.1), exactly one framing (§6.1, §6.3), a
//! single final `chunked`, Host rules (§3.2), target forms (§3.2), version syntax
//! (§2.3). Every error comes out as a `RequestError` with a message that says what
//! was wrong.
use super::error::{quote_line, Malformed, RequestError, Unsupported};

/// The protocol versions we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Empty,
    Length(u64),
    Chunked,
}

/// Size limits (Waitress's names).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_request_header_size: usize,
    pub max_request_body_size: u64,
}

/// One header field: (lower-case name, value).
pub type Field = (Vec<u8>, Vec<u8>);

/// A parsed, validated request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// As received: methods are case-sensitive tokens (RFC 9110 §9.1).
    pub method: String,
    /// The raw request-target.
    pub target: Vec<u8>,
    pub version: Version,
    /// Arrival order, names lower-cased, values without surrounding whitespace.
    pub headers: Vec<Field>,
    pub body: BodyKind,
    /// Whether the client asked to keep the connection open (version default and
    /// Connection tokens).
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
}

impl RequestHead {
    /// The first value of a header, by lower-case name.
    pub fn header(&self, lowercase_name: &[u8]) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == lowercase_name)
            .map(|(_, v)| v.as_slice())
    }

    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }
}

/// The outcome of parsing the bytes received so far.
#[derive(Debug)]
pub enum ParseStatus {
    /// The head is complete; `consumed` bytes (including skipped empty lines before
    /// the request line and the final blank line) belong to it.
    Complete { head: RequestHead, consumed: usize },
    /// More bytes are needed.
    Partial,
}

/// Empty lines tolerated before the request line (RFC 9112 §2.2 "at least one").
const MAX_LEADING_EMPTY_LINES: usize = 8;

/// Parse a request head from the start of `buf`.
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<ParseStatus, RequestError> {
    let mut start = 0;
    for _ in 0..MAX_LEADING_EMPTY_LINES {
        if buf[start..].starts_with(b"\r\n") {
            start += 2;
        } else {
            break;
        }
    }
    let rest = &buf[start..];
    if rest == b"\r" {
        return Ok(ParseStatus::Partial);
    }
    let end = find(rest, b"\r\n\r\n");
    let scan_len = end.map_or(rest.len(), |e| e + 4);
    // Reject bare CR/LF as soon as they arrive rather than waiting for a head end
    // that a bare-LF client will never send.
    check_line_endings(&rest[..scan_len])?;
    let Some(end) = end else {
        if rest.len() > limits.max_request_header_size {
            return Err(header_too_large(limits));
        }
        return Ok(ParseStatus::Partial);
    };
    if end + 4 > limits.max_request_header_size {
        return Err(header_too_large(limits));
    }
    let head = parse_complete(&rest[..end + 2], limits)?;
    Ok(ParseStatus::Complete {
        head,
        consumed: start + end + 4,
    })
}

fn header_too_large(limits: &Limits) -> RequestError {
    RequestError::HeaderTooLarge {
        limit: limits.max_request_header_size,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Every LF must follow a CR and every CR must precede an LF (a trailing CR may
/// still get its LF).
fn check_line_endings(bytes: &[u8]) -> Result<(), RequestError> {
    for (i, &b) in bytes.iter().enumerate() {
        let bare = match b {
            b'\n' => i == 0 || bytes[i - 1] != b'\r',
            b'\r' => i + 1 < bytes.len() && bytes[i + 1] != b'\n',
            _ => false,
        };
        if bare {
            // Waitress names the line: the request line, or the field line quoted.
            let start = rfind(&bytes[..i], b"\r\n").map_or(0, |p| p + 2);
            if start == 0 {
                return Err(Malformed::BareCrLfInRequestLine.into());
            }
            let end = find(&bytes[i..], b"\r\n").map_or(bytes.len(), |p| i + p);
            return Err(Malformed::BareCrLfInHeader(quote_line(&bytes[start..end])).into());
        }
    }
    Ok(())
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// `head` is the request line and field lines, each ending in CRLF.
fn parse_complete(head: &[u8], limits: &Limits) -> Result<RequestHead, RequestError> {
    let line_end = find(head, b"\r\n").unwrap_or(head.len());
    let (method, target, version) = parse_request_line(&head[..line_end])?;
    let fields = &head[line_end + 2..];
    let headers = parse_fields(fields)?;

    let mut request = RequestHead {
        method,
        target,
        version,
        headers,
        body: BodyKind::Empty,
        keep_alive: false,
        expect_continue: false,
    };
    check_target_form(&request)?;
    check_host(&request)?;
    if request
        .headers
        .iter()
        .filter(|(n, _)| n == b"content-type")
        .count()
        > 1
    {
        // A singleton field (RFC 9110 §8.3): two would let the app and a proxy in
        // front disagree about the body. Waitress joins them; we refuse.
        return Err(Malformed::ContentTypeRepeated.into());
    }
    request.body = body_kind(&request, limits)?;
    request.keep_alive = wants_keep_alive(&request);
    request.expect_continue = request
        .header(b"expect")
        .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"));
    Ok(request)
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// request-line = method SP request-target SP HTTP-version (RFC 9112 §3).
fn parse_request_line(line: &[u8]) -> Result<(String, Vec<u8>, Version), RequestError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Malformed::StartLine.into());
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) || target.is_empty() {
        return Err(Malformed::StartLine.into());
    }
    // ASCII by the token check above.
    let method = String::from_utf8_lossy(method).into_owned();
    if method != method.to_ascii_uppercase() {
        // Waitress refuses lower-case methods rather than let a typo through
        // (`parser.crack_first_line`).
        return Err(Malformed::MethodCase(method).into());
    }
    // RFC 9112 §3.2: the target is VCHARs (percent-encoded beyond them).
    if !target.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(Malformed::BadUri.into());
    }
    let version = parse_version(version)?;
    Ok((method, target.to_vec(), version))
}

/// HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3).
fn parse_version(v: &[u8]) -> Result<Version, RequestError> {
    let digits = match v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            (*major, *minor)
        }
        _ => return Err(Malformed::StartLine.into()),
    };
    match digits {
        (b'1', b'0') => Ok(Version::Http10),
        // A higher minor of major 1 is answered as 1.1 (RFC 9110 §6.2).
        (b'1', _) => Ok(Version::Http11),
        _ => Err(RequestError::VersionNotSupported),
    }
}

/// Field lines through httparse, after the checks it does not make.
fn parse_fields(fields: &[u8]) -> Result<Vec<Field>, RequestError> {
    if fields.is_empty() {
        return Ok(Vec::new());
    }
    let lines = fields.windows(2).filter(|w| w == b"\r\n").count();
    for line in fields.split(|&b| b == b'\n') {
        match line.first() {
            Some(b' ') | Some(b'\t') => {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                return Err(Malformed::FoldedHeaderLine(quote_line(line)).into());
            }
            _ => {}
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        // A field line is `token ":" OWS value OWS`: no colon, an empty name,
        // whitespace before the colon (RFC 9112 §5.1), a name that is not a token or
        // a control character in the value (RFC 9110 §5.5) all fail it.
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(Malformed::InvalidHeader.into());
        };
        let name = &line[..colon];
        let value = &line[colon + 1..];
        if name.is_empty()
            || !name.iter().all(|&b| is_tchar(b))
            || value.iter().any(|&b| (b < b' ' && b != b'\t') || b == 0x7f)
        {
            return Err(Malformed::InvalidHeader.into());
        }
    }
    // The checks above guarantee httparse sees only well-formed lines; it gives us
    // the name/value split with OWS trimmed.
    let mut slots = vec![httparse::EMPTY_HEADER; lines + 1];
    let mut with_end = Vec::with_capacity(fields.len() + 2);
    with_end.extend_from_slice(fields);
    with_end.extend_from_slice(b"\r\n");
    let parsed = match httparse::parse_headers(&with_end, &mut slots) {
        Ok(httparse::Status::Complete((_, headers))) => headers,
        Ok(httparse::Status::Partial) | Err(_) => return Err(Malformed::InvalidHeader.into()),
    };
    Ok(parsed
        .iter()
        .map(|h| {
            (
                h.name.as_bytes().to_ascii_lowercase(),
                trim(h.value).to_vec(),
            )
        })
        .collect())
}

/// OWS around a value. Field values hold no control bytes by the time they are
/// trimmed (`parse_fields` refuses them), so ASCII whitespace here is SP and HTAB.
fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

/// RFC 9112 §3.2: origin-form for everything, absolute-form too, asterisk-form only
/// with OPTIONS, authority-form only with CONNECT.
fn check_target_form(r: &RequestHead) -> Result<(), RequestError> {
    // A 2xx answer to CONNECT turns the connection into a tunnel (RFC 9112 §6.3
    // rule 2); a server without tunnels must not let an app answer it.
    if r.method == "CONNECT" {
        return Err(RequestError::NotImplemented(Unsupported::Connect));
    }
    let t = &r.target;
    let lower: Vec<u8> = t.iter().take(8).map(u8::to_ascii_lowercase).collect();
    let absolute = lower.starts_with(b"http://") || lower.starts_with(b"https://");
    let ok = if r.method == "CONNECT" {
        !t.starts_with(b"/") && t.contains(&b':') && !absolute && t.as_slice() != b"*"
    } else if t.as_slice() == b"*" {
        r.method == "OPTIONS"
    } else {
        t.starts_with(b"/") || absolute
    };
    if ok {
        Ok(())
    } else {
        Err(Malformed::TargetForm.into())
    }
}

/// RFC 9112 §3.2: HTTP/1.1 needs exactly one Host; never more than one.
fn check_host(r: &RequestHead) -> Result<(), RequestError> {
    let hosts: Vec<&[u8]> = r
        .headers
        .iter()
        .filter(|(n, _)| n == b"host")
        .map(|(_, v)| v.as_slice())
        .collect();
    match (hosts.len(), r.version) {
        (0, Version::Http11) => Err(Malformed::HostMissing.into()),
        (0, Version::Http10) => Ok(()),
        (1, _) => {
            let valid = hosts[0]
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%:[]".contains(&b));
            if valid {
                Ok(())
            } else {
                Err(Malformed::HostInvalid.into())
            }
        }
        _ => Err(Malformed::HostRepeated.into()),
    }
}

/// The comma-separated tokens of every `name` header, lower-cased, empties dropped.
fn tokens(r: &RequestHead, name: &[u8]) -> Vec<Vec<u8>> {
    r.headers
        .iter()
        .filter(|(n, _)| n == name)
        .flat_map(|(_, v)| v.split(|&b| b == b','))
        .map(|t| trim(t).to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// RFC 9112 §6.1–6.3: exactly one way to find the body's end.
fn body_kind(r: &RequestHead, limits: &Limits) -> Result<BodyKind, RequestError> {
    let lengths: Vec<&[u8]> = r
        .headers
        .iter()
        .filter(|(n, _)| n == b"content-length")
        .map(|(_, v)| v.as_slice())
        .collect();
    let has_te = r.headers.iter().any(|(n, _)| n == b"transfer-encoding");
    if has_te {
        if r.version == Version::Http10 {
            return Err(Malformed::TransferEncodingInHttp10.into());
        }
        if !lengths.is_empty() {
            return Err(Malformed::LengthAndTransferEncoding.into());
        }
        let codings = tokens(r, b"transfer-encoding");
        let chunked_count = codings
            .iter()
            .filter(|c| c.as_slice() == b"chunked")
            .count();
        if codings.is_empty()
            || chunked_count > 1
            || (chunked_count == 1 && codings.last().map(Vec::as_slice) != Some(b"chunked"))
        {
            return Err(Malformed::ChunkedNotFinal.into());
        }
        if codings.len() > 1 || chunked_count == 0 {
            return Err(RequestError::NotImplemented(Unsupported::TransferCoding));
        }
        return Ok(BodyKind::Chunked);
    }
    match lengths.as_slice() {
        [] => Ok(BodyKind::Empty),
        [v] => {
            if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
                return Err(Malformed::ContentLength.into());
            }
            let n: u64 = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(Malformed::ContentLength)?;
            if n > limits.max_request_body_size {
                return Err(RequestError::BodyTooLarge {
                    limit: limits.max_request_body_size,
                });
            }
            Ok(if n == 0 {
                BodyKind::Empty
            } else {
                BodyKind::Length(n)
            })
        }
        _ => Err(Malformed::ContentLength.into()),
    }
}

/// RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive".
fn wants_keep_alive(r: &RequestHead) -> bool {
    let conn = tokens(r, b"connection");
    if conn.iter().any(|t| t.as_slice() == b"close") {
        return false;
    }
    match r.version {
        Version::Http11 => true,
        Version::Http10 => conn.iter().any(|t| t.as_slice() == b"keep-alive"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_request_header_size: 8192,
        max_request_body_size: 1000,
    };

    fn parse(s: &str) -> Result<RequestHead, RequestError> {
        match parse_head(s.as_bytes(), &LIMITS)? {
            ParseStatus::Complete { head, consumed } => {
                assert_eq!(consumed, s.len(), "consumed all of {s:?}");
                Ok(head)
            }
            ParseStatus::Partial => panic!("partial: {s:?}"),
        }
    }

    fn err(s: &str) -> u16 {
        match parse_head(s.as_bytes(), &LIMITS) {
            Err(e) => e.status(),
            Ok(_) => 0,
        }
    }

    #[test]
    fn accepts() {
        let h = parse("GET /a?b HTTP/1.1\r\nHost: x\r\nX-A:  v  \r\n\r\n").unwrap();
        assert_eq!(h.method, "GET");
        assert_eq!(h.target, b"/a?b");
        assert_eq!(h.version, Version::Http11);
        assert_eq!(h.header(b"x-a"), Some(&b"v"[..]));
        assert!(h.keep_alive);
        assert_eq!(h.body, BodyKind::Empty);
        // leading empty lines
        let h = parse("\r\n\r\nGET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(!h.keep_alive);
        // versions
        assert_eq!(
            parse("GET / HTTP/1.2\r\nHost: x\r\n\r\n").unwrap().version,
            Version::Http11
        );
        // forms
        parse("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        parse("GET http://x/y HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(err("CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n"), 501);
        // framing
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
                .unwrap()
                .body,
            BodyKind::Length(5)
        );
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n")
                .unwrap()
                .body,
            BodyKind::Chunked
        );
        // keep-alive tokens
        assert!(
            !parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: foo , CLOSE\r\n\r\n")
                .unwrap()
                .keep_alive
        );
        assert!(
            parse("GET / HTTP/1.0\r\nConnection: Keep-Alive, Upgrade\r\n\r\n")
                .unwrap()
                .keep_alive
        );
        assert!(
            parse(
                "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n"
            )
            .unwrap()
            .expect_continue
        );
        // obs-text in values is allowed
        parse("GET / HTTP/1.1\r\nHost: x\r\nX: caf\u{e9}\r\n\r\n").unwrap();
    }

    #[test]
    fn rejects() {
        // request line
        assert_eq!(err("GET  / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(err("GET / HTTP/1.1 \r\nHost: x\r\n\r\n"), 400);
        assert_eq!(err("G@T / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(err("GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(err("GET / http/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(err("GET / HTTP/1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(err("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
        assert_eq!(err("GET / HTTP/0.9\r\nHost: x\r\n\r\n"), 505);
        assert_eq!(err("GET foo HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(err("GET * HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(err("CONNECT /x HTTP/1.1\r\nHost: x\r\n\r\n"), 501);
        // line endings
        assert_eq!(err("GET / HTTP/1.1\nHost: x\n\n"), 400);
        assert_eq!(err("GET / HTTP/1.1\r\nHost: x\rY\r\n\r\n"), 400);
        // fields
        assert_eq!(err("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n"), 400);
        assert_eq!(err("GET / HTTP/1.1\r\nHost: x\r\nX : a\r\n\r\n"), 400);
        assert_eq!(err("GET / HTTP/1.1\r\nHost: x\r\n: a\r\n\r\n"), 400);
        assert_eq!(err("GET / HTTP/1.1\r\nHost: x\r\nX(: a\r\n\r\n"), 400);
        assert_eq!(err("GET / HTTP/1.1\r\nHost: x\r\nX: a\x00\r\n\r\n"), 400);
        assert_eq!(err("GET / HTTP/1.1\r\nHost: x\r\nX: a\x7f\r\n\r\n"), 400);
        assert_eq!(err("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"), 400);
        // host
        assert_eq!(err("GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(err("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(err("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
        assert_eq!(err("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
        // framing
        assert_eq!(err("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
        assert_eq!(
            err("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"),
            400
        );
        assert_eq!(
            err("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1,1\r\n\r\n"),
            400
        );
        assert_eq!(
            err("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
            400
        );
        assert_eq!(
            err("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\n"),
            400
        );
        assert_eq!(
            err("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"),
            400
        );
        assert_eq!(
            err("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n"),
            413
        );
        assert_eq!(
            err("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
        assert_eq!(
            err("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
            501
        );
        assert_eq!(
            err("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            501
        );
        assert_eq!(
            err("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n"),
            501
        );
        assert_eq!(
            err("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            400
        );
        assert_eq!(err("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
        assert_eq!(
            err("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\n"),
            400
        );
    }

    #[test]
    fn each_condition_is_named_as_waitress_names_it() {
        let cond = |s: &str| match parse(s) {
            Err(RequestError::BadRequest(m)) => m,
            other => panic!("{s:?}: {other:?}"),
        };
        let cases: &[(&str, Malformed)] = &[
            (
                "GET / HTTP/1.1\nHost: x\n\n",
                Malformed::BareCrLfInRequestLine,
            ),
            (
                "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
                Malformed::BareCrLfInHeader("X: a\rb".into()),
            ),
            (
                "GET / HTTP/1.1\r\nHost: x\r\nX : a\r\n\r\n",
                Malformed::InvalidHeader,
            ),
            (
                "GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
                Malformed::InvalidHeader,
            ),
            (
                "GET / HTTP/1.1\r\nHost: x\r\nX: \x01\r\n\r\n",
                Malformed::InvalidHeader,
            ),
            (
                "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
                Malformed::FoldedHeaderLine(" b".into()),
            ),
            ("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", Malformed::StartLine),
            ("GET / HTTP/1.x\r\nHost: x\r\n\r\n", Malformed::StartLine),
            ("G@T / HTTP/1.1\r\nHost: x\r\n\r\n", Malformed::StartLine),
            (
                "get / HTTP/1.1\r\nHost: x\r\n\r\n",
                Malformed::MethodCase("get".into()),
            ),
            (
                "GET /caf\u{e9} HTTP/1.1\r\nHost: x\r\n\r\n",
                Malformed::BadUri,
            ),
            ("GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n", Malformed::BadUri),
            ("GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n", Malformed::BadUri),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
                Malformed::ContentLength,
            ),
            (
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: a\r\nContent-type: a\r\n\r\n",
                Malformed::ContentTypeRepeated,
            ),
            ("GET * HTTP/1.1\r\nHost: x\r\n\r\n", Malformed::TargetForm),
            ("GET / HTTP/1.1\r\n\r\n", Malformed::HostMissing),
        ];
        for (input, want) in cases {
            assert_eq!(&cond(input), want, "{input:?}");
        }
        // Raw bytes outside VCHAR: overlong UTF-8, raw UTF-8.
        for target in [&b"/\xC0\xAF"[..], b"/caf\xc3\xa9"] {
            let mut req = b"GET ".to_vec();
            req.extend_from_slice(target);
            req.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
            assert_eq!(
                parse_head(&req, &LIMITS).unwrap_err(),
                RequestError::BadRequest(Malformed::BadUri)
            );
        }
    }

    #[test]
    fn sizes_and_partials() {
        let small = Limits {
            max_request_header_size: 32,
            max_request_body_size: 10,
        };
        assert!(matches!(
            parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n", &small),
            Ok(ParseStatus::Partial)
        ));
        let big = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(40));
        assert_eq!(
            parse_head(big.as_bytes(), &small).unwrap_err(),
            RequestError::HeaderTooLarge { limit: 32 }
        );
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20));
        assert_eq!(
            parse_head(big.as_bytes(), &small).unwrap_err(),
            RequestError::HeaderTooLarge { limit: 32 }
        );
        // a bare LF is rejected before the head ends
        assert!(parse_head(b"GET / HTTP/1.1\nHo", &LIMITS).is_err());
    }

    #[test]
    fn every_prefix_is_partial_and_the_whole_is_the_same() {
        let req = "GET /x HTTP/1.1\r\nHost: h\r\nX-Long: abcdef\r\n\r\n";
        let whole = parse(req).unwrap();
        for i in 0..req.len() {
            match parse_head(&req.as_bytes()[..i], &LIMITS) {
                Ok(ParseStatus::Partial) => {}
                other => panic!("prefix {i}: {other:?}"),
            }
        }
        assert_eq!(parse(req).unwrap(), whole);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..20_000 {
            let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
            let n = (x % 64) as usize;
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf.push(match x % 8 {
                    0 => b'\r',
                    1 => b'\n',
                    2 => b':',
                    3 => b' ',
                    _ => (x >> 8) as u8,
                });
            }
            let _ = parse_head(&buf, &LIMITS);
        }
    }
}
