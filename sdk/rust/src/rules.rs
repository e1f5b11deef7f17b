//! The host's rules for what an app sends: which status lines and headers `start()`
//! accepts, how they are normalised, and how much of a file goes out when it is the
//! whole body. One implementation, called by the server (`src/lib/http/response.rs`,
//! `src/lib/worker/task.rs`) and by [`crate::testing::TestHost`], so an app's unit
//! tests see exactly what the server would do. Pure functions; no I/O.
//!
//! The rules are `include/waitressd_app.h` (the `start` and `send_file` comments),
//! which follow Waitress's `task.py` (`start_response`, `build_response_header`) and
//! its file wrapper (`buffers.ReadOnlyFileBasedBuffer.prepare`).
use crate::sys::HOP_BY_HOP_HEADERS;
use std::fmt;

/// Why `start()` refused a status or header list (the host answers WD_E_INVALID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError {
    /// A status outside 100..=999.
    Status(u16),
    /// CR, LF or NUL in the reason, a name or a value; or a name that is not a token.
    Syntax(String),
    /// Hop-by-hop headers belong to the server (PEP 3333, Waitress `hop_by_hop`).
    HopByHop(String),
    /// A Content-Length that is not all digits, or two that differ.
    ContentLength(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Status(s) => write!(f, "status {s} is not a 3-digit code"),
            StartError::Syntax(what) => write!(f, "invalid header: {what}"),
            StartError::HopByHop(name) => write!(
                f,
                "{name:?} is a hop-by-hop header; it cannot be set by the app (see PEP 3333)"
            ),
            StartError::ContentLength(v) => {
                write!(
                    f,
                    "Content-Length {v:?} is not a number, or disagrees with another"
                )
            }
        }
    }
}

impl std::error::Error for StartError {}

/// A status line and header list that `start()` accepted, as the server sends them.
///
/// Held as one buffer (`text`: the reason phrase, then each field's name and value
/// back to back) and the fields' positions in it: two allocations whatever the
/// number of headers, where a list of owned pairs would take two per header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidStart {
    pub status: u16,
    text: Vec<u8>,
    reason_end: usize,
    /// Per field, where its name starts, where its value starts (the name's end)
    /// and where the value ends, in `text`.
    fields: Vec<[usize; 3]>,
    /// The app's Content-Length, if it set one.
    pub content_length: Option<u64>,
}

impl ValidStart {
    /// The app's reason phrase (bytes as given: latin-1 for WSGI bridges), or the
    /// standard one when the app gave none.
    pub fn reason(&self) -> &[u8] {
        &self.text[..self.reason_end]
    }

    /// The fields in the app's order: names in Capitalized-Dash-Form (as Waitress
    /// sends them; ASCII, being tokens), values trimmed of surrounding spaces and
    /// tabs, an identical duplicate Content-Length kept once.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        self.fields
            .iter()
            .map(|&[name, value, end]| (&self.text[name..value], &self.text[value..end]))
    }

    /// Whether a header of this name (compared case-insensitively) is present.
    pub fn has_header(&self, name: &str) -> bool {
        self.headers()
            .any(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
    }

    /// Drop the app's Content-Length (the server derives a truer one).
    pub fn remove_content_length(&mut self) {
        let text = &self.text;
        self.fields
            .retain(|&[name, value, _]| !text[name..value].eq_ignore_ascii_case(b"content-length"));
        self.content_length = None;
    }

    /// Declare the body's length, replacing any the app gave.
    pub fn set_content_length(&mut self, len: u64) {
        self.remove_content_length();
        self.push_field(b"Content-Length", len.to_string().as_bytes());
        self.content_length = Some(len);
    }

    /// Append a field whose name is already in Capitalized-Dash-Form.
    fn push_field(&mut self, name: &[u8], value: &[u8]) {
        let start = self.text.len();
        self.text.extend_from_slice(name);
        let value_start = self.text.len();
        self.text.extend_from_slice(value);
        self.fields.push([start, value_start, self.text.len()]);
    }
}

/// Validate what an app passed to `start()` (PEP 3333: check at call time).
pub fn validate_start(
    status: u16,
    reason: &[u8],
    headers: &[(&[u8], &[u8])],
) -> Result<ValidStart, StartError> {
    if !(100..=999).contains(&status) {
        return Err(StartError::Status(status));
    }
    if reason.iter().any(is_forbidden_in_value) {
        return Err(StartError::Syntax(
            "CR, LF or NUL in the reason phrase".into(),
        ));
    }
    let reason = if reason.is_empty() {
        reason_phrase(status).as_bytes()
    } else {
        reason
    };
    let size = reason.len()
        + headers
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum::<usize>();
    let mut valid = ValidStart {
        status,
        text: Vec::with_capacity(size),
        reason_end: reason.len(),
        fields: Vec::with_capacity(headers.len()),
        content_length: None,
    };
    valid.text.extend_from_slice(reason);
    for &(name, value) in headers {
        if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
            return Err(StartError::Syntax(format!(
                "header name {:?} is not a token",
                String::from_utf8_lossy(name)
            )));
        }
        if value.iter().any(is_forbidden_in_value) {
            return Err(StartError::Syntax(format!(
                "CR, LF or NUL in the value of {}",
                String::from_utf8_lossy(name)
            )));
        }
        if HOP_BY_HOP_HEADERS
            .iter()
            .any(|h| h.as_bytes().eq_ignore_ascii_case(name))
        {
            return Err(StartError::HopByHop(capitalize(name)));
        }
        let value = trim_ows(value);
        if name.eq_ignore_ascii_case(b"content-length") {
            let text = || String::from_utf8_lossy(value).into_owned();
            let n = parse_digits(value).ok_or_else(|| StartError::ContentLength(text()))?;
            match valid.content_length {
                Some(cl) if cl != n => return Err(StartError::ContentLength(text())),
                Some(_) => continue, // an identical duplicate: keep one
                None => valid.content_length = Some(n),
            }
        }
        let start = valid.text.len();
        capitalize_into(name, &mut valid.text);
        let value_start = valid.text.len();
        valid.text.extend_from_slice(value);
        valid.fields.push([start, value_start, valid.text.len()]);
    }
    Ok(valid)
}

/// A file region that is the whole body (`send_file` with WD_FILE_LAST while the
/// headers are still staged): how many bytes go out, and whether the app's
/// Content-Length must be replaced by that number. Waitress sends
/// `min(declared, region)` (its file wrapper's `prepare(size)`), so a declared length
/// shorter than the file is honoured and only a longer one is replaced.
pub fn whole_body_file(declared: Option<u64>, region: u64) -> FileBody {
    match declared {
        Some(cl) if cl <= region => FileBody {
            len: cl,
            replace_length: false,
        },
        Some(_) => FileBody {
            len: region,
            replace_length: true,
        },
        None => FileBody {
            len: region,
            replace_length: false,
        },
    }
}

/// See [`whole_body_file`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileBody {
    /// Bytes of the region that are sent.
    pub len: u64,
    /// The declared Content-Length is longer than the file: drop it (the server then
    /// derives the length from `len`).
    pub replace_length: bool,
}

/// RFC 9110 `tchar`: what a header name may be made of.
pub fn is_token_byte(b: u8) -> bool {
    TOKEN_BYTES[b as usize]
}

/// `is_token_byte` for every byte, so a header name costs a lookup per byte.
const TOKEN_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let specials = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < specials.len() {
        table[specials[i] as usize] = true;
        i += 1;
    }
    table
};

fn is_forbidden_in_value(b: &u8) -> bool {
    matches!(*b, b'\r' | b'\n' | 0)
}

/// "content-type" → "Content-Type" (Waitress capitalizes each dash-separated part).
pub fn capitalize(name: &[u8]) -> String {
    let mut out = Vec::with_capacity(name.len());
    capitalize_into(name, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// `capitalize`, appended to `out`.
pub fn capitalize_into(name: &[u8], out: &mut Vec<u8>) {
    let mut upper = true;
    out.extend(name.iter().map(|&b| {
        let c = if upper {
            b.to_ascii_uppercase()
        } else {
            b.to_ascii_lowercase()
        };
        upper = b == b'-';
        c
    }));
}

/// All ASCII digits, and no more than fit in a u64.
fn parse_digits(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
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

    fn start(headers: &[(&str, &str)]) -> Result<ValidStart, StartError> {
        let h: Vec<(&[u8], &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        validate_start(200, b"", &h)
    }

    #[test]
    fn refuses_what_the_header_forbids() {
        let bad = |n: &str, v: &str| start(&[(n, v)]);
        assert!(matches!(
            bad("Connection", "close"),
            Err(StartError::HopByHop(_))
        ));
        assert!(matches!(
            bad("transfer-encoding", "chunked"),
            Err(StartError::HopByHop(_))
        ));
        assert!(matches!(bad("X-A", "a\r\nb"), Err(StartError::Syntax(_))));
        assert!(matches!(bad("X-A", "a\0b"), Err(StartError::Syntax(_))));
        assert!(matches!(bad("X A", "a"), Err(StartError::Syntax(_))));
        assert!(matches!(bad("", "a"), Err(StartError::Syntax(_))));
        assert!(matches!(
            bad("Content-Length", "-1"),
            Err(StartError::ContentLength(_))
        ));
        assert!(matches!(
            bad("Content-Length", ""),
            Err(StartError::ContentLength(_))
        ));
        assert!(matches!(
            bad("Content-Length", "99999999999999999999999"),
            Err(StartError::ContentLength(_))
        ));
        assert!(matches!(
            start(&[("Content-Length", "1"), ("content-length", "2")]),
            Err(StartError::ContentLength(_))
        ));
        assert_eq!(validate_start(42, b"", &[]), Err(StartError::Status(42)));
        assert!(matches!(
            validate_start(200, b"O\rK", &[]),
            Err(StartError::Syntax(_))
        ));
    }

    #[test]
    fn normalises_what_it_accepts() {
        let v = start(&[
            ("content-length", " 2 "),
            ("Content-Length", "2"),
            ("x-ONE-two", "\tv "),
        ])
        .unwrap();
        assert_eq!(
            v.headers().collect::<Vec<_>>(),
            vec![(&b"Content-Length"[..], &b"2"[..]), (b"X-One-Two", b"v")]
        );
        assert_eq!(v.content_length, Some(2));
        assert_eq!(v.reason(), b"OK");
        assert_eq!(
            validate_start(200, b"Fine \xe9", &[]).unwrap().reason(),
            b"Fine \xe9"
        );
        let mut v = v;
        v.set_content_length(7);
        assert_eq!(
            v.headers().collect::<Vec<_>>(),
            vec![(&b"X-One-Two"[..], &b"v"[..]), (b"Content-Length", b"7")]
        );
    }

    #[test]
    fn a_file_body_honours_a_shorter_length_and_replaces_a_longer_one() {
        assert_eq!(
            whole_body_file(Some(1), 11_912),
            FileBody {
                len: 1,
                replace_length: false
            }
        );
        assert_eq!(
            whole_body_file(Some(20_000), 11_912),
            FileBody {
                len: 11_912,
                replace_length: true
            }
        );
        assert_eq!(
            whole_body_file(Some(11_912), 11_912),
            FileBody {
                len: 11_912,
                replace_length: false
            }
        );
        assert_eq!(
            whole_body_file(None, 7),
            FileBody {
                len: 7,
                replace_length: false
            }
        );
    }
}
