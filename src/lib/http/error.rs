//! `RequestError`: the one place a malformed or unservable request becomes a status
//! and an error response (Waitress `utilities.Error.to_response` + `task.ErrorTask`),
//! and `Malformed`: the one table of the conditions that make a request a 400, each
//! with the text its error body carries.
use super::head::Version;
use std::borrow::Cow;

/// Why a request cannot be served. `status()` is the only request-error → status map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// 400: the condition says what was wrong.
    BadRequest(Malformed),
    /// 431: the head is larger than max_request_header_size (`limit`).
    HeaderTooLarge { limit: usize },
    /// 413: the body is larger than max_request_body_size (`limit`).
    BodyTooLarge { limit: u64 },
    /// 501: a transfer coding or method we do not implement.
    NotImplemented(Unsupported),
    /// 505: a major version other than 1.
    VersionNotSupported,
    /// 408: the request head did not arrive within request_head_timeout.
    RequestTimeout,
    /// 500: the server failed (e.g. a spill file could not be written), or the app did.
    Internal(String),
}

/// The conditions that make a request malformed (400) — the one table of them — and
/// the text each puts in the error body.
///
/// Where Waitress rejects the same condition the text is Waitress's own
/// (`parser.py`, `receiver.py`, `proxy_headers.py`), so clients and test suites
/// written against Waitress read the same words. The conditions after those are ones
/// Waitress 3.0.2 lets through and RFC 9112 does not; their texts are ours (the
/// README lists them among the differences from Waitress).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Malformed {
    // ----- Waitress's conditions, in Waitress's words -----
    /// A bare CR or LF in the request line (`parser.parse_header`).
    BareCrLfInRequestLine,
    /// A bare CR or LF in a field line, which is quoted (`parser.get_header_lines`).
    BareCrLfInHeader(String),
    /// A field line that is not `token ":" OWS value OWS`: no colon, whitespace
    /// before the colon, a name that is not a token, control characters in the value
    /// (`parser.parse_header`, `HEADER_FIELD_RE`).
    InvalidHeader,
    /// A line starting with whitespace (obs-fold), which is quoted. Waitress refuses
    /// it as the first field line; RFC 9112 §5.2 lets a server refuse it anywhere,
    /// and we do (`parser.get_header_lines`).
    FoldedHeaderLine(String),
    /// The request line is not `method SP target SP HTTP/d.d` (`parser.crack_first_line`).
    StartLine,
    /// A method that is a token but not upper case, which is quoted
    /// (`parser.crack_first_line`).
    MethodCase(String),
    /// A Content-Length that is not all digits, or more than one (Waitress joins
    /// repeated fields with ", ", which then fails its digit check) (`parser.parse_header`).
    ContentLength,
    /// A request-target with bytes outside VCHAR: raw UTF-8, controls, NUL (RFC 9112
    /// §3.2; Waitress accepts them; the text is its `split_uri` error).
    BadUri,
    /// A chunk size that is not hex digits (`receiver.ChunkedReceiver`).
    ChunkSize,
    /// A malformed chunk extension (`receiver.ChunkedReceiver`).
    ChunkExtension,
    /// Chunk data not followed by CRLF (`receiver.ChunkedReceiver`).
    ChunkNotTerminated,
    /// A trusted proxy header that does not parse, by name (`proxy_headers.py`).
    ProxyHeader(String),

    // ----- Conditions Waitress lets through, in our words -----
    /// A request-target in a form its method cannot have (RFC 9112 §3.2): `*` for
    /// anything but OPTIONS, or neither origin- nor absolute-form.
    TargetForm,
    /// HTTP/1.1 without Host (RFC 9112 §3.2).
    HostMissing,
    /// A Host that is not a valid authority (RFC 9112 §3.2).
    HostInvalid,
    /// More than one Host (RFC 9112 §3.2).
    HostRepeated,
    /// More than one Content-Type (RFC 9110 §5.3: a singleton field).
    ContentTypeRepeated,
    /// Both Content-Length and Transfer-Encoding (RFC 9112 §6.3: smuggling).
    LengthAndTransferEncoding,
    /// Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1).
    TransferEncodingInHttp10,
    /// An empty Transfer-Encoding, or `chunked` not applied exactly once, last
    /// (RFC 9112 §6.1).
    ChunkedNotFinal,
    /// A bare CR or LF in chunked framing outside a chunk size (RFC 9112 §7.1).
    BareCrLfInChunkedFraming,
    /// A chunk-size line or trailer section over our limits.
    ChunkedLineTooLong,
    /// A malformed trailer field (RFC 9112 §7.1.2).
    TrailerField,
}

impl Malformed {
    /// The error body's explanation.
    pub fn text(&self) -> Cow<'static, str> {
        let fixed = match self {
            Malformed::BareCrLfInRequestLine => "Bare CR or LF found in HTTP message",
            Malformed::BareCrLfInHeader(line) => {
                return format!("Bare CR or LF found in header line \"{line}\"").into()
            }
            Malformed::InvalidHeader => "Invalid header",
            Malformed::FoldedHeaderLine(line) => {
                return format!("Malformed header line \"{line}\"").into()
            }
            Malformed::StartLine => "Start line is invalid",
            Malformed::MethodCase(method) => {
                return format!("Malformed HTTP method \"{method}\"").into()
            }
            Malformed::ContentLength => "Content-Length is invalid",
            Malformed::BadUri => "Bad URI",
            Malformed::ChunkSize => "Invalid chunk size",
            Malformed::ChunkExtension => "Invalid chunk extension",
            Malformed::ChunkNotTerminated => "Chunk not properly terminated",
            Malformed::ProxyHeader(name) => return format!("Header \"{name}\" malformed.").into(),
            Malformed::TargetForm => "The request target is not valid for this method",
            Malformed::HostMissing => "The Host header is missing",
            Malformed::HostInvalid => "The Host header is not a valid host",
            Malformed::HostRepeated => "More than one Host header",
            Malformed::ContentTypeRepeated => "More than one Content-Type header",
            Malformed::LengthAndTransferEncoding => {
                "Both Content-Length and Transfer-Encoding are present"
            }
            Malformed::TransferEncodingInHttp10 => "Transfer-Encoding in an HTTP/1.0 request",
            Malformed::ChunkedNotFinal => "chunked must be the final transfer coding, applied once",
            Malformed::BareCrLfInChunkedFraming => "Bare CR or LF found in chunked framing",
            Malformed::ChunkedLineTooLong => "Chunk size line or trailers too long",
            Malformed::TrailerField => "Invalid trailer field",
        };
        fixed.into()
    }
}

/// What we do not implement (501).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    /// A transfer coding other than chunked (Waitress's words, `parser.parse_header`).
    TransferCoding,
    /// CONNECT: a 2xx would turn the connection into a tunnel (RFC 9112 §6.3 rule 2).
    Connect,
}

impl Unsupported {
    fn text(self) -> &'static str {
        match self {
            Unsupported::TransferCoding => "Transfer-Encoding requested is not supported.",
            Unsupported::Connect => "CONNECT is not supported",
        }
    }
}

/// A line quoted in an error body: latin-1, as Waitress decodes it, and cut short so
/// a hostile line is not echoed whole.
pub(crate) fn quote_line(line: &[u8]) -> String {
    const MAX_QUOTED: usize = 256;
    line.iter()
        .take(MAX_QUOTED)
        .map(|&b| char::from(b))
        .collect()
}

impl From<Malformed> for RequestError {
    fn from(m: Malformed) -> RequestError {
        RequestError::BadRequest(m)
    }
}

impl RequestError {
    pub fn status(&self) -> u16 {
        match self {
            RequestError::BadRequest(_) => 400,
            RequestError::HeaderTooLarge { .. } => 431,
            RequestError::BodyTooLarge { .. } => 413,
            RequestError::NotImplemented(_) => 501,
            RequestError::VersionNotSupported => 505,
            RequestError::RequestTimeout => 408,
            RequestError::Internal(_) => 500,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            RequestError::BadRequest(_) => "Bad Request",
            RequestError::HeaderTooLarge { .. } => "Request Header Fields Too Large",
            RequestError::BodyTooLarge { .. } => "Request Entity Too Large",
            RequestError::NotImplemented(_) => "Not Implemented",
            RequestError::VersionNotSupported => "HTTP Version Not Supported",
            RequestError::RequestTimeout => "Request Timeout",
            RequestError::Internal(_) => "Internal Server Error",
        }
    }

    /// A failure on our side (not the client's input): the operator must hear of it.
    pub fn is_server_fault(&self) -> bool {
        matches!(self, RequestError::Internal(_))
    }

    /// The explanation shown in the body (Waitress's words where it has them:
    /// "exceeds max_header of 262144").
    pub fn detail(&self) -> Cow<'_, str> {
        match self {
            RequestError::BadRequest(m) => m.text(),
            RequestError::NotImplemented(u) => u.text().into(),
            RequestError::Internal(m) => m.as_str().into(),
            RequestError::HeaderTooLarge { limit } => {
                format!("exceeds max_header of {limit}").into()
            }
            RequestError::BodyTooLarge { limit } => format!("exceeds max_body of {limit}").into(),
            RequestError::VersionNotSupported => "only HTTP/1.0 and HTTP/1.1 are supported".into(),
            RequestError::RequestTimeout => "the request head did not arrive in time".into(),
        }
    }

    /// The whole response, in Waitress's format: a short text/plain body
    /// "{reason}\r\n\r\n{detail}\r\n\r\n(generated by {ident})", headers sorted by
    /// name, and `Connection: close` (the connection is closed after it). The one
    /// place an error response is built: for a request that could not be parsed
    /// (`conn`) and for one the server or the app failed (`worker::task`). A HEAD
    /// request gets the head alone.
    pub fn to_response(
        &self,
        version: Version,
        is_head: bool,
        ident: &str,
        date: &str,
    ) -> ErrorResponse {
        let tag = if ident.is_empty() { "server" } else { ident };
        let body = format!(
            "{}\r\n\r\n{}\r\n\r\n(generated by {tag})",
            self.reason(),
            self.detail()
        );
        let mut out = format!(
            "{} {} {}\r\nConnection: close\r\nContent-Length: {}\r\nContent-Type: text/plain; charset=utf-8\r\nDate: {date}\r\n",
            version.as_str(),
            self.status(),
            self.reason(),
            body.len()
        );
        if !ident.is_empty() {
            out.push_str("Server: ");
            out.push_str(ident);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        let body_bytes = if is_head { 0 } else { body.len() as u64 };
        if !is_head {
            out.push_str(&body);
        }
        ErrorResponse {
            status: self.status(),
            bytes: out.into_bytes(),
            body_bytes,
        }
    }
}

/// An error response, encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    pub status: u16,
    /// Head and body, ready for the socket.
    pub bytes: Vec<u8>,
    /// How many of `bytes` are body (for the access log).
    pub body_bytes: u64,
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status(), self.reason(), self.detail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_internal_errors_are_the_servers_fault() {
        assert!(RequestError::Internal("disk full".into()).is_server_fault());
        for client in [
            Malformed::InvalidHeader.into(),
            RequestError::HeaderTooLarge { limit: 1 },
            RequestError::BodyTooLarge { limit: 1 },
            RequestError::NotImplemented(Unsupported::TransferCoding),
            RequestError::VersionNotSupported,
            RequestError::RequestTimeout,
        ] {
            assert!(!client.is_server_fault(), "{client:?}");
        }
    }

    #[test]
    fn waitress_format() {
        let r = RequestError::from(Malformed::InvalidHeader).to_response(
            Version::Http11,
            false,
            "waitress",
            "D",
        );
        assert_eq!(r.status, 400);
        assert_eq!(r.body_bytes, 56);
        assert_eq!(
            String::from_utf8(r.bytes).unwrap(),
            "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 56\r\nContent-Type: text/plain; charset=utf-8\r\nDate: D\r\nServer: waitress\r\n\r\nBad Request\r\n\r\nInvalid header\r\n\r\n(generated by waitress)"
        );
    }

    #[test]
    fn waitress_texts() {
        let text = |e: RequestError| e.detail().into_owned();
        assert_eq!(
            text(RequestError::HeaderTooLarge { limit: 262144 }),
            "exceeds max_header of 262144"
        );
        assert_eq!(
            text(RequestError::BodyTooLarge { limit: 10 }),
            "exceeds max_body of 10"
        );
        assert_eq!(
            text(Malformed::MethodCase("get".into()).into()),
            "Malformed HTTP method \"get\""
        );
        assert_eq!(
            text(Malformed::BareCrLfInHeader("X: a\rb".into()).into()),
            "Bare CR or LF found in header line \"X: a\rb\""
        );
        assert_eq!(text(Malformed::ChunkSize.into()), "Invalid chunk size");
        assert_eq!(
            text(RequestError::NotImplemented(Unsupported::TransferCoding)),
            "Transfer-Encoding requested is not supported."
        );
        assert_eq!(quote_line(b"caf\xe9"), "caf\u{e9}");
        assert_eq!(quote_line(&[b'a'; 1000]).len(), 256);
    }

    #[test]
    fn statuses() {
        assert_eq!(RequestError::HeaderTooLarge { limit: 1 }.status(), 431);
        assert_eq!(RequestError::BodyTooLarge { limit: 1 }.status(), 413);
        assert_eq!(
            RequestError::NotImplemented(Unsupported::Connect).status(),
            501
        );
        assert_eq!(RequestError::VersionNotSupported.status(), 505);
        let r = RequestError::Internal("x".into()).to_response(Version::Http10, false, "", "D");
        let t = String::from_utf8(r.bytes).unwrap();
        assert!(t.starts_with("HTTP/1.0 500 Internal Server Error\r\n"));
        assert!(!t.contains("Server:"));
        assert!(t.ends_with("(generated by server)"));
        let head = RequestError::Internal("x".into()).to_response(Version::Http11, true, "", "D");
        assert!(head.bytes.ends_with(b"Date: D\r\n\r\n"));
        assert_eq!(head.body_bytes, 0);
    }
}
