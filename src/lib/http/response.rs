//! Response framing: choosing how the body is delimited, and encoding the head. Pure:
//! the caller supplies the date. Validating what the app staged is the ABI's rule
//! book, `waitressd_sdk::rules` (shared with the SDK's test host).
//!
//! The rules are Waitress's `task.py` (`start_response`, `build_response_header`)
//! with one deliberate difference: an HTTP/1.1 response without Content-Length is sent
//! chunked and the connection stays open afterwards (Waitress closes it; chunked
//! framing makes that unnecessary). RFC 9112 §6.3 and RFC 9110 §6.4.1 decide what has
//! a body.
use super::head::Version;
use std::fmt::Write as _;

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
pub use waitressd_sdk::rules::StartError as HeaderError;
/// A status and header list the app staged, validated and normalised by the ABI's
/// rules (`waitressd_sdk::rules`: the SDK's test host applies the same ones).
pub use waitressd_sdk::rules::ValidStart as StagedHead;
pub use waitressd_sdk::rules::{reason_phrase, validate_start};

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
/// (the server derives it from a final write). `reserve`: body bytes the caller will
/// append to the head, so one allocation holds both. Waitress `build_response_header`.
pub fn encode_head(
    staged: &StagedHead,
    content_length: Option<u64>,
    exchange: Exchange,
    ident: &str,
    date: &str,
    reserve: usize,
) -> EncodedHead {
    let has_body = status_has_body(staged.status);
    let content_length = content_length.or(staged.content_length);
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

    // The fields, borrowed: the app's (no Content-Length where no body may be), then
    // the server's. Sorted by name as Waitress sends them; the sort is stable, so
    // same-named fields keep their order (RFC 9110 §5.3).
    let mut digits = [0u8; 20];
    let mut fields = Fields::default();
    for (name, value) in staged.headers() {
        if has_body || !name.eq_ignore_ascii_case(b"content-length") {
            fields.push(name, value);
        }
    }
    if has_body && staged.content_length.is_none() {
        if let Some(cl) = content_length {
            fields.push(b"Content-Length", decimal(cl, &mut digits));
        }
    }
    if framing == Framing::Chunked {
        fields.push(b"Transfer-Encoding", b"chunked");
    }
    match (exchange.version, close) {
        (_, true) => fields.push(b"Connection", b"close"),
        (Version::Http10, false) => fields.push(b"Connection", b"Keep-Alive"),
        (Version::Http11, false) => {}
    }
    if !ident.is_empty() {
        let name: &[u8] = if staged.has_header("server") {
            b"Via"
        } else {
            b"Server"
        };
        fields.push(name, ident.as_bytes());
    }
    if !staged.has_header("date") {
        fields.push(b"Date", date.as_bytes());
    }
    let fields = fields.sorted();

    let version = exchange.version.as_str().as_bytes();
    let size = version.len()
        + 5
        + staged.reason().len()
        + 2
        + fields
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum::<usize>()
        + 2;
    let mut bytes = Vec::with_capacity(size + reserve);
    bytes.extend_from_slice(version);
    bytes.push(b' ');
    let mut status_digits = [0u8; 20];
    bytes.extend_from_slice(decimal(u64::from(staged.status), &mut status_digits));
    bytes.push(b' ');
    bytes.extend_from_slice(staged.reason());
    bytes.extend_from_slice(b"\r\n");
    for (name, value) in fields {
        bytes.extend_from_slice(name);
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

/// `n` in decimal, written into `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// The response's fields while the head is built: on the stack for any usual
/// response, on the heap past `INLINE_FIELDS`.
#[derive(Default)]
struct Fields<'a> {
    inline: [(&'a [u8], &'a [u8]); INLINE_FIELDS],
    len: usize,
    spilled: Vec<(&'a [u8], &'a [u8])>,
}

/// Fields kept on the stack (the sort needs no buffer up to about 20 either).
const INLINE_FIELDS: usize = 20;

impl<'a> Fields<'a> {
    fn push(&mut self, name: &'a [u8], value: &'a [u8]) {
        if self.len < INLINE_FIELDS {
            self.inline[self.len] = (name, value);
            self.len += 1;
        } else {
            if self.spilled.is_empty() {
                self.spilled.extend_from_slice(&self.inline);
            }
            self.spilled.push((name, value));
        }
    }

    fn sorted(&mut self) -> &[(&'a [u8], &'a [u8])] {
        let fields: &mut [(&[u8], &[u8])] = if self.spilled.is_empty() {
            &mut self.inline[..self.len]
        } else {
            &mut self.spilled
        };
        fields.sort_by(|a, b| a.0.cmp(b.0));
        fields
    }
}

/// Append one chunk (RFC 9112 §7.1): size line, data, CRLF.
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    let _ = write!(HexLine(out), "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(status: u16, headers: &[(&str, &str)]) -> StagedHead {
        let h: Vec<(&[u8], &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        validate_start(status, b"", &h).unwrap()
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
        let h = encode_head(&s, None, ex(Version::Http11, true), "waitress", "D", 0);
        assert_eq!(
            text(&h),
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\nDate: D\r\nServer: waitress\r\n\r\n"
        );
        assert_eq!(h.framing, Framing::Length(5));
        assert!(!h.close);
    }

    #[test]
    fn http11_without_length_is_chunked_and_stays_open() {
        let h = encode_head(
            &staged(200, &[]),
            None,
            ex(Version::Http11, true),
            "w",
            "D",
            0,
        );
        assert_eq!(h.framing, Framing::Chunked);
        assert!(text(&h).contains("Transfer-Encoding: chunked\r\n"));
        assert!(!h.close);
    }

    #[test]
    fn http10_keep_alive_needs_a_length() {
        let s = staged(200, &[("Content-Length", "1")]);
        let h = encode_head(&s, None, ex(Version::Http10, true), "w", "D", 0);
        assert!(text(&h).contains("Connection: Keep-Alive\r\n"));
        let h = encode_head(
            &staged(200, &[]),
            None,
            ex(Version::Http10, true),
            "w",
            "D",
            0,
        );
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
            0,
        );
        assert!(text(&h).contains("Content-Length: 3\r\n"));
        let s = staged(204, &[("Content-Length", "0")]);
        let h = encode_head(&s, None, ex(Version::Http11, true), "w", "D", 0);
        assert_eq!(h.framing, Framing::NoBody);
        assert!(!text(&h).contains("Content-Length"));
        assert!(!text(&h).contains("Transfer-Encoding"));
    }

    #[test]
    fn many_fields_are_sorted_past_the_inline_ones() {
        let names: Vec<String> = (0..30).rev().map(|i| format!("X-{i:02}")).collect();
        let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
        let h = encode_head(
            &staged(200, &pairs),
            Some(0),
            ex(Version::Http11, true),
            "w",
            "D",
            0,
        );
        let t = text(&h);
        let order: Vec<&str> = t
            .lines()
            .skip(1)
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.split(':').next())
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
        assert_eq!(order.iter().filter(|n| n.starts_with("X-")).count(), 30);
        assert!(t.starts_with("HTTP/1.1 200 OK\r\n"), "{t}");
        assert!(t.ends_with("\r\n\r\n"));
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
            0,
        ));
        assert!(t.contains("Server: mine\r\n") && t.contains("Via: waitress\r\n"));
    }

    #[test]
    fn chunks() {
        let mut v = Vec::new();
        encode_chunk(&[b'x'; 26], &mut v);
        assert!(v.starts_with(b"1a\r\n"));
        assert!(v.ends_with(b"\r\n"));
    }
}
