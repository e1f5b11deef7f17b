//! Response framing: validating the app's status and headers, choosing how the body is
//! delimited, and encoding the head. Pure: the caller supplies the date.
//!
//! The rules are Waitress's `task.py` (`start_response`, `build_response_header`)
//! with one deliberate difference: an HTTP/1.1 response without Content-Length is sent
//! chunked and the connection stays open afterwards (Waitress closes it; chunked
//! framing makes that unnecessary). RFC 9112 §6.3 and RFC 9110 §6.4.1 decide what has
//! a body.
use super::head::Version;
use std::fmt::Write as _;
// Headers the server owns: the ABI's list (Waitress `utilities.hop_by_hop`).
use waitressd_sdk::sys::HOP_BY_HOP_HEADERS as HOP_BY_HOP;

/// How the response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Content-Length bytes follow.
    Length(u64),
    /// Transfer-Encoding: chunked.
    Chunked,
    /// The body ends when the connection closes (HTTP/1.0 without a length).
    CloseDelimited,
    /// No body may follow: HEAD, 1xx, 204, 304.
    NoBody,
}

/// Why the app's status or headers were refused (`start()` → WD_E_INVALID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    Status(u16),
    /// CR, LF or NUL in the reason, a name or a value; or a name that is not a token.
    Syntax(String),
    /// Hop-by-hop headers belong to the server (PEP 3333, Waitress `hop_by_hop`).
    HopByHop(String),
    ContentLength(String),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Status(s) => write!(f, "status {s} is not a 3-digit code"),
            HeaderError::Syntax(what) => write!(f, "invalid header: {what}"),
            HeaderError::HopByHop(name) => write!(
                f,
                "{name:?} is a hop-by-hop header; it cannot be set by the app (see PEP 3333)"
            ),
            HeaderError::ContentLength(v) => write!(f, "Content-Length {v:?} is not a number"),
        }
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A status and header list the app staged, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedHead {
    pub status: u16,
    pub reason: String,
    /// Names capitalized as Waitress does ("content-type" → "Content-Type").
    pub headers: Vec<(String, Vec<u8>)>,
    /// The app's Content-Length, if it set one.
    pub content_length: Option<u64>,
}

impl StagedHead {
    /// Validate what the app passed to `start()` (PEP 3333: check at call time).
    pub fn new(
        status: u16,
        reason: &[u8],
        headers: &[(&[u8], &[u8])],
    ) -> Result<StagedHead, HeaderError> {
        if !(100..=999).contains(&status) {
            return Err(HeaderError::Status(status));
        }
        if reason.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(HeaderError::Syntax(
                "CR, LF or NUL in the reason phrase".into(),
            ));
        }
        let reason = if reason.is_empty() {
            reason_phrase(status).to_string()
        } else {
            String::from_utf8_lossy(reason).into_owned()
        };
        let mut out = Vec::with_capacity(headers.len());
        let mut content_length = None;
        for &(name, value) in headers {
            if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
                return Err(HeaderError::Syntax(format!(
                    "header name {:?} is not a token",
                    String::from_utf8_lossy(name)
                )));
            }
            if value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(HeaderError::Syntax(format!(
                    "CR, LF or NUL in the value of {}",
                    String::from_utf8_lossy(name)
                )));
            }
            let name = capitalize(name);
            let lower = name.to_ascii_lowercase();
            if HOP_BY_HOP.contains(&lower.as_str()) {
                return Err(HeaderError::HopByHop(name));
            }
            let value = trim_ows(value);
            if lower == "content-length" {
                let text = String::from_utf8_lossy(value).into_owned();
                if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                    return Err(HeaderError::ContentLength(text));
                }
                let n = text
                    .parse::<u64>()
                    .map_err(|_| HeaderError::ContentLength(text.clone()))?;
                if content_length.is_some_and(|cl| cl != n) {
                    return Err(HeaderError::ContentLength(text));
                }
                if content_length.is_some() {
                    continue; // an identical duplicate: keep one
                }
                content_length = Some(n);
            }
            out.push((name, value.to_vec()));
        }
        Ok(StagedHead {
            status,
            reason,
            headers: out,
            content_length,
        })
    }

    pub fn has_header(&self, lower_name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(lower_name))
    }
}

/// What the request contributes to the framing decision.
#[derive(Debug, Clone, Copy)]
pub struct Exchange {
    pub version: Version,
    /// The client asked to keep the connection (version default + Connection).
    pub keep_alive: bool,
    pub is_head: bool,
    /// The server wants to close after this response (e.g. it is shutting down).
    pub force_close: bool,
}

/// The encoded head and what it commits the body to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedHead {
    pub bytes: Vec<u8>,
    pub framing: Framing,
    /// The connection must close after this response.
    pub close: bool,
}

/// Whether a response with this status carries a body (RFC 9110 §6.4.1).
pub fn status_has_body(status: u16) -> bool {
    !(100..200).contains(&status) && status != 204 && status != 304
}

/// Encode the head of `staged` for `exchange`. `content_length` overrides the app's
/// (the server derives it from a final write). Waitress `build_response_header`.
pub fn encode_head(
    staged: &StagedHead,
    content_length: Option<u64>,
    exchange: Exchange,
    ident: &str,
    date: &str,
) -> EncodedHead {
    let has_body = status_has_body(staged.status);
    let content_length = content_length.or(staged.content_length);
    let mut headers: Vec<(&str, std::borrow::Cow<'_, [u8]>)> = staged
        .headers
        .iter()
        .filter(|(n, _)| has_body || !n.eq_ignore_ascii_case("content-length"))
        .map(|(n, v)| (n.as_str(), std::borrow::Cow::Borrowed(v.as_slice())))
        .collect();
    let length_text;
    if has_body && staged.content_length.is_none() {
        if let Some(cl) = content_length {
            length_text = cl.to_string();
            headers.push(("Content-Length", length_text.as_bytes().into()));
        }
    }

    let mut close = exchange.force_close || !exchange.keep_alive;
    let framing = match (has_body, content_length) {
        (false, _) => Framing::NoBody,
        (true, Some(n)) => Framing::Length(n),
        (true, None) if exchange.is_head => Framing::NoBody,
        (true, None) => match exchange.version {
            Version::Http11 => Framing::Chunked,
            Version::Http10 => {
                close = true;
                Framing::CloseDelimited
            }
        },
    };
    if framing == Framing::Chunked {
        headers.push(("Transfer-Encoding", b"chunked".as_slice().into()));
    }
    match (exchange.version, close) {
        (_, true) => headers.push(("Connection", b"close".as_slice().into())),
        (Version::Http10, false) => headers.push(("Connection", b"Keep-Alive".as_slice().into())),
        (Version::Http11, false) => {}
    }
    if staged.has_header("server") {
        if !ident.is_empty() {
            headers.push(("Via", ident.as_bytes().into()));
        }
    } else if !ident.is_empty() {
        headers.push(("Server", ident.as_bytes().into()));
    }
    if !staged.has_header("date") {
        headers.push(("Date", date.as_bytes().into()));
    }
    // Waitress sorts by name; a stable sort keeps same-named headers in order
    // (RFC 9110 §5.3).
    headers.sort_by(|a, b| a.0.cmp(b.0));

    let mut bytes = Vec::with_capacity(128 + headers.len() * 32);
    let mut line = String::with_capacity(64);
    let _ = write!(
        line,
        "{} {} {}\r\n",
        exchange.version.as_str(),
        staged.status,
        staged.reason
    );
    bytes.extend_from_slice(line.as_bytes());
    for (name, value) in &headers {
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"\r\n");
    EncodedHead {
        bytes,
        framing,
        close,
    }
}

/// "content-type" → "Content-Type" (Waitress capitalizes each dash-separated part).
fn capitalize(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for &b in name {
        let c = b as char;
        if upper {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c.to_ascii_lowercase());
        }
        upper = b == b'-';
    }
    out
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |p| p + 1);
    &v[start..end]
}

/// Append one chunk (RFC 9112 §7.1): size line, data, CRLF.
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    let _ = write!(HexLine(out), "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The body length of an encoded whole response (everything after its head), for
/// the access log.
pub fn body_length(response: &[u8]) -> u64 {
    response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |end| (response.len() - end - 4) as u64)
}

/// The last chunk with an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

struct HexLine<'a>(&'a mut Vec<u8>);
impl std::fmt::Write for HexLine<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// The standard reason phrase (RFC 9110 §15), for apps that pass an empty one.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(status: u16, headers: &[(&str, &str)]) -> StagedHead {
        let h: Vec<(&[u8], &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        StagedHead::new(status, b"", &h).unwrap()
    }

    fn ex(version: Version, keep_alive: bool) -> Exchange {
        Exchange {
            version,
            keep_alive,
            is_head: false,
            force_close: false,
        }
    }

    fn text(h: &EncodedHead) -> String {
        String::from_utf8(h.bytes.clone()).unwrap()
    }

    #[test]
    fn http11_with_length_keeps_alive_and_sorts_headers() {
        let s = staged(
            200,
            &[("content-type", "text/plain"), ("Content-Length", "5")],
        );
        let h = encode_head(&s, None, ex(Version::Http11, true), "waitress", "D");
        assert_eq!(
            text(&h),
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\nDate: D\r\nServer: waitress\r\n\r\n"
        );
        assert_eq!(h.framing, Framing::Length(5));
        assert!(!h.close);
    }

    #[test]
    fn http11_without_length_is_chunked_and_stays_open() {
        let h = encode_head(&staged(200, &[]), None, ex(Version::Http11, true), "w", "D");
        assert_eq!(h.framing, Framing::Chunked);
        assert!(text(&h).contains("Transfer-Encoding: chunked\r\n"));
        assert!(!h.close);
    }

    #[test]
    fn http10_keep_alive_needs_a_length() {
        let s = staged(200, &[("Content-Length", "1")]);
        let h = encode_head(&s, None, ex(Version::Http10, true), "w", "D");
        assert!(text(&h).contains("Connection: Keep-Alive\r\n"));
        let h = encode_head(&staged(200, &[]), None, ex(Version::Http10, true), "w", "D");
        assert_eq!(h.framing, Framing::CloseDelimited);
        assert!(h.close);
        assert!(text(&h).contains("Connection: close\r\n"));
    }

    #[test]
    fn derived_length_and_no_body_statuses() {
        let h = encode_head(
            &staged(200, &[]),
            Some(3),
            ex(Version::Http11, true),
            "w",
            "D",
        );
        assert!(text(&h).contains("Content-Length: 3\r\n"));
        let s = staged(204, &[("Content-Length", "0")]);
        let h = encode_head(&s, None, ex(Version::Http11, true), "w", "D");
        assert_eq!(h.framing, Framing::NoBody);
        assert!(!text(&h).contains("Content-Length"));
        assert!(!text(&h).contains("Transfer-Encoding"));
    }

    #[test]
    fn app_server_header_turns_ident_into_via() {
        let s = staged(200, &[("Server", "mine"), ("Content-Length", "0")]);
        let t = text(&encode_head(
            &s,
            None,
            ex(Version::Http11, true),
            "waitress",
            "D",
        ));
        assert!(t.contains("Server: mine\r\n") && t.contains("Via: waitress\r\n"));
    }

    #[test]
    fn refuses_bad_headers() {
        let bad = |n: &str, v: &str| StagedHead::new(200, b"", &[(n.as_bytes(), v.as_bytes())]);
        assert!(matches!(
            bad("Connection", "close"),
            Err(HeaderError::HopByHop(_))
        ));
        assert!(matches!(
            bad("Transfer-Encoding", "chunked"),
            Err(HeaderError::HopByHop(_))
        ));
        assert!(matches!(bad("X-A", "a\r\nb"), Err(HeaderError::Syntax(_))));
        assert!(matches!(bad("X A", "a"), Err(HeaderError::Syntax(_))));
        assert!(matches!(
            bad("Content-Length", "-1"),
            Err(HeaderError::ContentLength(_))
        ));
        assert!(matches!(
            StagedHead::new(42, b"", &[]),
            Err(HeaderError::Status(42))
        ));
    }

    #[test]
    fn chunks() {
        let mut v = Vec::new();
        encode_chunk(&[b'x'; 26], &mut v);
        assert!(v.starts_with(b"1a\r\n"));
        assert!(v.ends_with(b"\r\n"));
    }
}
