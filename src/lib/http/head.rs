//! Request heads: `HeadScan::parse(bytes so far)` → a complete `RequestHead`, "need
//! more", or the `RequestError` that rejects it. Pure and incremental: the caller
//! passes the bytes received so far and calls again when more arrive; the scan
//! resumes where the last one stopped, so a head that trickles in a few bytes at a
//! time costs time linear in its size.
//!
//! One pass finds the blank line that ends the head and refuses bare CR or LF as soon
//! as they arrive (RFC 9112 §2.2). The complete head is then copied once into the
//! `RequestHead`, which holds the positions of its parts instead of copies of them
//! (names lower-cased in place). Around that we enforce what RFC 9112 demands and
//! Waitress lets through: no obs-fold (§5.2), no whitespace before a colon (§5.1),
//! exactly one framing (§6.1, §6.3), a single final `chunked`, Host rules (§3.2),
//! target forms (§3.2), version syntax (§2.3). Every error comes out as a
//! `RequestError` with a message that says what was wrong.
use super::error::{quote_line, Malformed, RequestError, Unsupported};
use waitressd_sdk::rules::is_token_byte;

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

/// Where a part of the head sits in `RequestHead::raw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn of(start: usize, end: usize) -> Span {
        // Heads are bounded by max_request_header_size, far below u32::MAX.
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
}

/// A parsed, validated request head: its bytes, once, and where its parts are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The request line and field lines as received, field names lower-cased.
    raw: Box<[u8]>,
    /// As received: methods are case-sensitive tokens (RFC 9110 §9.1).
    method: Span,
    /// The raw request-target.
    target: Span,
    /// (name, value) in arrival order; values without surrounding whitespace.
    fields: Vec<(Span, Span)>,
    pub version: Version,
    pub body: BodyKind,
    /// Whether the client asked to keep the connection open (version default and
    /// Connection tokens).
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
}

impl RequestHead {
    fn at(&self, span: Span) -> &[u8] {
        &self.raw[span.start as usize..span.end as usize]
    }

    /// The method: a token, so ASCII.
    pub fn method(&self) -> &str {
        std::str::from_utf8(self.method_bytes()).unwrap_or_default()
    }

    /// The method's bytes (no UTF-8 check: for comparisons and the app's view).
    pub fn method_bytes(&self) -> &[u8] {
        self.at(self.method)
    }

    /// The request-target as received.
    pub fn target(&self) -> &[u8] {
        self.at(self.target)
    }

    /// Every field as (lower-case name, value), in arrival order.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        self.fields.iter().map(|&(n, v)| (self.at(n), self.at(v)))
    }

    /// The first value of a header, by lower-case name.
    pub fn header(&self, lowercase_name: &[u8]) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| *n == lowercase_name)
            .map(|(_, v)| v)
    }

    /// Every value of a header, by lower-case name, in arrival order.
    pub fn values<'a>(&'a self, lowercase_name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers()
            .filter(move |(n, _)| *n == lowercase_name)
            .map(|(_, v)| v)
    }

    pub fn is_head(&self) -> bool {
        self.method_bytes() == b"HEAD"
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

/// How far a head that is still arriving has been checked. Keep one per connection
/// and `reset` it once a head is consumed.
#[derive(Debug, Clone, Copy, Default)]
pub struct HeadScan {
    /// Bytes of the buffer already checked for line endings and the head's end.
    scanned: usize,
}

/// Parse a request head from the start of `buf`, scanning it all.
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<ParseStatus, RequestError> {
    HeadScan::default().parse(buf, limits)
}

impl HeadScan {
    /// Forget the scanned bytes (they were consumed).
    pub fn reset(&mut self) {
        self.scanned = 0;
    }

    /// Parse a request head from the start of `buf`, which holds the bytes of the
    /// previous call (if any) followed by new ones.
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<ParseStatus, RequestError> {
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
        let from = self.scanned.saturating_sub(start);
        match scan(rest, from) {
            Scan::Bare(at) => Err(bare_line_ending(rest, at)),
            Scan::More(upto) => {
                self.scanned = start + upto;
                if rest.len() > limits.max_request_header_size {
                    return Err(header_too_large(limits));
                }
                Ok(ParseStatus::Partial)
            }
            Scan::End(end) => {
                self.reset();
                if end > limits.max_request_header_size {
                    return Err(header_too_large(limits));
                }
                // The request line and field lines, each ending in CRLF.
                let head = parse_complete(&rest[..end - 2], limits)?;
                Ok(ParseStatus::Complete {
                    head,
                    consumed: start + end,
                })
            }
        }
    }
}

fn header_too_large(limits: &Limits) -> RequestError {
    RequestError::HeaderTooLarge {
        limit: limits.max_request_header_size,
    }
}

/// What one scan of the bytes so far found.
enum Scan {
    /// The head ends after this many bytes (its blank line included).
    End(usize),
    /// No end yet; every byte before this index is checked (a final CR waits for
    /// the byte after it).
    More(usize),
    /// A bare CR or LF at this index.
    Bare(usize),
}

/// Check `bytes[from..]`: every LF must follow a CR and every CR precede an LF; stop
/// at the first CRLFCRLF.
fn scan(bytes: &[u8], from: usize) -> Scan {
    let mut i = from;
    while i < bytes.len() {
        // Most bytes are neither: skip to the next line ending.
        let Some(off) = memchr::memchr2(b'\r', b'\n', &bytes[i..]) else {
            return Scan::More(bytes.len());
        };
        i += off;
        if bytes[i] == b'\r' {
            match bytes.get(i + 1) {
                None => return Scan::More(i),
                Some(b'\n') => {}
                Some(_) => return Scan::Bare(i),
            }
            i += 1;
        } else if i == 0 || bytes[i - 1] != b'\r' {
            return Scan::Bare(i);
        }
        // bytes[i] is the LF of a CRLF.
        if i >= 3 && &bytes[i - 3..=i] == b"\r\n\r\n" {
            return Scan::End(i + 1);
        }
        i += 1;
    }
    Scan::More(bytes.len())
}

/// The error for a bare CR or LF at `at`: Waitress names the line, the request line
/// or the field line quoted.
fn bare_line_ending(bytes: &[u8], at: usize) -> RequestError {
    let start = rfind(&bytes[..at], b"\r\n").map_or(0, |p| p + 2);
    if start == 0 {
        return Malformed::BareCrLfInRequestLine.into();
    }
    // The line ends at the next CR or LF: the same text however much has arrived.
    let end = bytes[at + 1..]
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .map_or(bytes.len(), |p| at + 1 + p);
    Malformed::BareCrLfInHeader(quote_line(&bytes[start..end])).into()
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// `head` is the request line and field lines, each ending in CRLF.
fn parse_complete(head: &[u8], limits: &Limits) -> Result<RequestHead, RequestError> {
    // Line endings are checked: the first CR is the request line's end.
    let line_end = memchr::memchr(b'\r', head).unwrap_or(head.len());
    let (method, target, version) = parse_request_line(&head[..line_end])?;
    let mut raw: Box<[u8]> = head.into();
    let fields = parse_fields(&mut raw, line_end + 2)?;
    let mut request = RequestHead {
        raw,
        method,
        target,
        fields,
        version,
        body: BodyKind::Empty,
        keep_alive: false,
        expect_continue: false,
    };
    check_target_form(&request)?;
    check_host(&request)?;
    if request.values(b"content-type").nth(1).is_some() {
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

/// Per byte: may it appear in a field value (VCHAR, obs-text, SP, HTAB: RFC 9110
/// §5.5), and in a Host (RFC 3986 reg-name, IP literals, port)? One table lookup
/// per byte. (Whether it is a `tchar` is the ABI rule book's table.)
const VALUE: u8 = 1;
const HOST: u8 = 2;
const BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c >= b' ' && c != 0x7f || c == b'\t' {
            table[b] |= VALUE;
        }
        b += 1;
    }
    let host = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%:[]";
    let mut i = 0;
    while i < host.len() {
        table[host[i] as usize] |= HOST;
        i += 1;
    }
    table
};

fn is_value_byte(b: u8) -> bool {
    BYTE_CLASS[b as usize] & VALUE != 0
}

/// request-line = method SP request-target SP HTTP-version (RFC 9112 §3).
fn parse_request_line(line: &[u8]) -> Result<(Span, Span, Version), RequestError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Malformed::StartLine.into());
    };
    if method.is_empty() || !method.iter().all(|&b| is_token_byte(b)) || target.is_empty() {
        return Err(Malformed::StartLine.into());
    }
    if method.iter().any(u8::is_ascii_lowercase) {
        // Waitress refuses lower-case methods rather than let a typo through
        // (`parser.crack_first_line`). ASCII by the token check above.
        return Err(Malformed::MethodCase(String::from_utf8_lossy(method).into_owned()).into());
    }
    // RFC 9112 §3.2: the target is VCHARs (percent-encoded beyond them).
    if !target.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(Malformed::BadUri.into());
    }
    let version = parse_version(version)?;
    let target_start = method.len() + 1;
    Ok((
        Span::of(0, method.len()),
        Span::of(target_start, target_start + target.len()),
        version,
    ))
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

/// The field lines of `raw`, from `from` on (each ends in CRLF; line endings are
/// already checked): a field line is `token ":" OWS value OWS`. No colon, an empty
/// name, whitespace before the colon (RFC 9112 §5.1), a name that is not a token, a
/// control character in the value (RFC 9110 §5.5) or a folded line (§5.2) fails
/// it. Names are lower-cased in place.
fn parse_fields(raw: &mut [u8], from: usize) -> Result<Vec<(Span, Span)>, RequestError> {
    let lines = memchr::memchr_iter(b'\n', &raw[from.min(raw.len())..]).count();
    let mut fields = Vec::with_capacity(lines);
    let mut pos = from;
    while pos < raw.len() {
        let line_end = memchr::memchr(b'\r', &raw[pos..]).map_or(raw.len(), |p| pos + p);
        let line = &raw[pos..line_end];
        if let Some(b' ' | b'\t') = line.first() {
            return Err(Malformed::FoldedHeaderLine(quote_line(line)).into());
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            return Err(Malformed::InvalidHeader.into());
        };
        let name = &line[..colon];
        let value = &line[colon + 1..];
        if name.is_empty()
            || !name.iter().all(|&b| is_token_byte(b))
            || !value.iter().all(|&b| is_value_byte(b))
        {
            return Err(Malformed::InvalidHeader.into());
        }
        // OWS around the value: SP and HTAB (no other control byte is left).
        let lead = value.len() - value.trim_ascii_start().len();
        let trimmed = value.trim_ascii().len();
        let value_start = pos + colon + 1 + lead;
        raw[pos..pos + colon].make_ascii_lowercase();
        fields.push((
            Span::of(pos, pos + colon),
            Span::of(value_start, value_start + trimmed),
        ));
        pos = line_end + 2;
    }
    Ok(fields)
}

/// RFC 9112 §3.2: origin-form for everything, absolute-form too, asterisk-form only
/// with OPTIONS; CONNECT (authority-form) is not served.
fn check_target_form(r: &RequestHead) -> Result<(), RequestError> {
    // A 2xx answer to CONNECT turns the connection into a tunnel (RFC 9112 §6.3
    // rule 2); a server without tunnels must not let an app answer it.
    if r.method_bytes() == b"CONNECT" {
        return Err(RequestError::NotImplemented(Unsupported::Connect));
    }
    let t = r.target();
    let mut lower = [0u8; 8];
    let n = t.len().min(8);
    lower[..n].copy_from_slice(&t[..n]);
    lower.make_ascii_lowercase();
    let lower = &lower[..n];
    let absolute = lower.starts_with(b"http://") || lower.starts_with(b"https://");
    let ok = if t == b"*" {
        r.method_bytes() == b"OPTIONS"
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
    let mut hosts = r.values(b"host");
    match (hosts.next(), hosts.next(), r.version) {
        (None, _, Version::Http11) => Err(Malformed::HostMissing.into()),
        (None, _, Version::Http10) => Ok(()),
        (Some(host), None, _) => {
            let valid = host.iter().all(|&b| BYTE_CLASS[b as usize] & HOST != 0);
            if valid {
                Ok(())
            } else {
                Err(Malformed::HostInvalid.into())
            }
        }
        (Some(_), Some(_), _) => Err(Malformed::HostRepeated.into()),
    }
}

/// The comma-separated tokens of every `name` header, trimmed, empties dropped
/// (compare them case-insensitively).
fn tokens<'a>(r: &'a RequestHead, name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    r.values(name)
        .flat_map(|v| v.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// RFC 9112 §6.1–6.3: exactly one way to find the body's end.
fn body_kind(r: &RequestHead, limits: &Limits) -> Result<BodyKind, RequestError> {
    let mut lengths = r.values(b"content-length");
    let (first_length, second_length) = (lengths.next(), lengths.next());
    if r.header(b"transfer-encoding").is_some() {
        if r.version == Version::Http10 {
            return Err(Malformed::TransferEncodingInHttp10.into());
        }
        if first_length.is_some() {
            return Err(Malformed::LengthAndTransferEncoding.into());
        }
        let (mut codings, mut chunked, mut last_is_chunked) = (0, 0, false);
        for coding in tokens(r, b"transfer-encoding") {
            codings += 1;
            last_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
            chunked += usize::from(last_is_chunked);
        }
        if codings == 0 || chunked > 1 || (chunked == 1 && !last_is_chunked) {
            return Err(Malformed::ChunkedNotFinal.into());
        }
        if codings > 1 || chunked == 0 {
            return Err(RequestError::NotImplemented(Unsupported::TransferCoding));
        }
        return Ok(BodyKind::Chunked);
    }
    match (first_length, second_length) {
        (None, _) => Ok(BodyKind::Empty),
        (Some(v), None) => {
            if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
                return Err(Malformed::ContentLength.into());
            }
            // At most 19 digits: fits in a u64.
            let n = v.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
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
        (Some(_), Some(_)) => Err(Malformed::ContentLength.into()),
    }
}

/// RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive".
fn wants_keep_alive(r: &RequestHead) -> bool {
    let mut keep_alive = false;
    for token in tokens(r, b"connection") {
        if token.eq_ignore_ascii_case(b"close") {
            return false;
        }
        keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
    }
    match r.version {
        Version::Http11 => true,
        Version::Http10 => keep_alive,
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
        assert_eq!(h.method(), "GET");
        assert_eq!(h.target(), b"/a?b");
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

    /// Feed `input` to one HeadScan in pieces of `step` bytes, as a connection does.
    fn trickle(input: &[u8], step: usize, limits: &Limits) -> Result<ParseStatus, RequestError> {
        let mut scan = HeadScan::default();
        let mut end = 0;
        loop {
            end = (end + step).min(input.len());
            match scan.parse(&input[..end], limits)? {
                ParseStatus::Partial if end < input.len() => {}
                done => return Ok(done),
            }
        }
    }

    #[test]
    fn a_head_in_pieces_parses_as_the_whole() {
        let cases: &[&str] = &[
            "GET /x HTTP/1.1\r\nHost: h\r\nX-Long: abcdef\r\n\r\n",
            "\r\n\r\nGET / HTTP/1.0\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
            "GET / HTTP/1.1\nHost: x\n\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
        ];
        for case in cases {
            let whole = format!("{:?}", parse_head(case.as_bytes(), &LIMITS));
            for step in 1..6 {
                let pieces = format!("{:?}", trickle(case.as_bytes(), step, &LIMITS));
                assert_eq!(pieces, whole, "{case:?} in pieces of {step}");
            }
        }
    }

    #[test]
    fn a_trickled_head_is_scanned_once() {
        // 256 KiB of fields arriving 7 bytes at a time: each call scans only the new
        // bytes (plus at most a held-back CR), so the scan position only advances.
        let limits = Limits {
            max_request_header_size: 1 << 20,
            max_request_body_size: 0,
        };
        let mut req = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        let mut fields = 1;
        while req.len() < 256 * 1024 {
            req.extend_from_slice(b"X-Filler: abcdefghijklmnopqrstuvwxyz\r\n");
            fields += 1;
        }
        req.extend_from_slice(b"\r\n");
        let mut scan = HeadScan::default();
        let mut end = 0;
        let mut last_scanned = 0;
        let head = loop {
            end = (end + 7).min(req.len());
            match scan.parse(&req[..end], &limits).unwrap() {
                ParseStatus::Partial => {
                    assert!(scan.scanned >= last_scanned && scan.scanned + 1 >= end);
                    last_scanned = scan.scanned;
                }
                ParseStatus::Complete { head, consumed } => {
                    assert_eq!(consumed, req.len());
                    break head;
                }
            }
        };
        assert_eq!(head.headers().len(), fields);
        assert_eq!(
            head.header(b"x-filler"),
            Some(&b"abcdefghijklmnopqrstuvwxyz"[..])
        );
    }

    #[test]
    fn names_are_lower_cased_and_values_trimmed_in_place() {
        let h = parse("GET / HTTP/1.1\r\nHOST: x\r\nX-Two:\t a b \t\r\nEmpty:\r\n\r\n").unwrap();
        let fields: Vec<(&[u8], &[u8])> = h.headers().collect();
        assert_eq!(
            fields,
            vec![
                (&b"host"[..], &b"x"[..]),
                (b"x-two", b"a b"),
                (b"empty", b""),
            ]
        );
        assert_eq!(h.method(), "GET");
        assert_eq!(h.target(), b"/");
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
