//! Request body decoding, push-style: the caller hands in the bytes after the head,
//! gets back the decoded body bytes (a sub-slice of its input, no copy) and how much
//! input was used. Content-Length bodies are counted; chunked bodies are decoded
//! strictly by RFC 9112 §7.1 — hex sizes only, validated extensions, CRLF everywhere,
//! trailers validated and discarded. The same result for any split of the input.
use super::error::{Malformed, RequestError};
use super::head::BodyKind;

/// Longest chunk-size line (size + extensions) we accept.
const MAX_SIZE_LINE: usize = 4096;
/// Largest trailer section we accept.
const MAX_TRAILERS: usize = 16 * 1024;

/// Decoded bytes and input used by one `decode` call.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub consumed: usize,
    pub data: &'a [u8],
    pub done: bool,
}

/// A body decoder for one request.
#[derive(Debug)]
pub enum BodyDecoder {
    Length { remaining: u64, decoded: u64 },
    Chunked(ChunkedDecoder),
}

impl BodyDecoder {
    /// None for a request without a body.
    pub fn new(kind: BodyKind, max_body: u64) -> Option<BodyDecoder> {
        match kind {
            BodyKind::Empty => None,
            BodyKind::Length(n) => Some(BodyDecoder::Length {
                remaining: n,
                decoded: 0,
            }),
            BodyKind::Chunked => Some(BodyDecoder::Chunked(ChunkedDecoder::new(max_body))),
        }
    }

    /// Decode from `input`. Call again with the unconsumed rest until `done`, or
    /// until `consumed == 0` (more input is needed).
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<Decoded<'a>, RequestError> {
        match self {
            BodyDecoder::Length { remaining, decoded } => {
                let n = (*remaining).min(input.len() as u64) as usize;
                *remaining -= n as u64;
                *decoded += n as u64;
                Ok(Decoded {
                    consumed: n,
                    data: &input[..n],
                    done: *remaining == 0,
                })
            }
            BodyDecoder::Chunked(c) => c.decode(input),
        }
    }

    pub fn is_done(&self) -> bool {
        match self {
            BodyDecoder::Length { remaining, .. } => *remaining == 0,
            BodyDecoder::Chunked(c) => matches!(c.state, ChunkedState::Done),
        }
    }

    pub fn decoded_len(&self) -> u64 {
        match self {
            BodyDecoder::Length { decoded, .. } => *decoded,
            BodyDecoder::Chunked(c) => c.decoded,
        }
    }
}

/// Where the chunked decoder is.
#[derive(Debug)]
enum ChunkedState {
    /// Collecting a chunk-size line (through its LF).
    SizeLine,
    /// Inside chunk data.
    Data {
        remaining: u64,
    },
    /// After chunk data: expecting CR (false) or LF (true).
    DataEnd {
        seen_cr: bool,
    },
    /// Collecting trailer field lines until an empty line.
    Trailers {
        total: usize,
    },
    Done,
}

#[derive(Debug)]
pub struct ChunkedDecoder {
    state: ChunkedState,
    /// The partial line (size line or trailer line) collected so far.
    line: Vec<u8>,
    decoded: u64,
    max_body: u64,
}

impl ChunkedDecoder {
    pub fn new(max_body: u64) -> ChunkedDecoder {
        ChunkedDecoder {
            state: ChunkedState::SizeLine,
            line: Vec::new(),
            decoded: 0,
            max_body,
        }
    }

    fn decode<'a>(&mut self, input: &'a [u8]) -> Result<Decoded<'a>, RequestError> {
        let mut used = 0;
        loop {
            match &mut self.state {
                ChunkedState::Done => {
                    return Ok(Decoded {
                        consumed: used,
                        data: &[],
                        done: true,
                    })
                }
                ChunkedState::Data { remaining } => {
                    let n = (*remaining).min((input.len() - used) as u64) as usize;
                    *remaining -= n as u64;
                    if *remaining == 0 {
                        self.state = ChunkedState::DataEnd { seen_cr: false };
                    }
                    return Ok(Decoded {
                        consumed: used + n,
                        data: &input[used..used + n],
                        done: false,
                    });
                }
                ChunkedState::DataEnd { seen_cr } => {
                    let Some(&b) = input.get(used) else {
                        return Ok(self.need_more(used));
                    };
                    used += 1;
                    match (*seen_cr, b) {
                        (false, b'\r') => *seen_cr = true,
                        (true, b'\n') => self.state = ChunkedState::SizeLine,
                        _ => return Err(Malformed::ChunkNotTerminated.into()),
                    }
                }
                ChunkedState::SizeLine => {
                    // Waitress finds no CRLF in a size line with a bare CR or LF, and
                    // then no hex number: "Invalid chunk size".
                    let Some(line_len) =
                        self.take_line(input, &mut used, MAX_SIZE_LINE, Malformed::ChunkSize)?
                    else {
                        return Ok(self.need_more(used));
                    };
                    let size = parse_size_line(&self.line[..line_len])
                        .ok_or_else(|| self.too_large())??;
                    self.line.clear();
                    if size > self.max_body.saturating_sub(self.decoded) {
                        return Err(self.too_large());
                    }
                    self.decoded += size;
                    self.state = if size == 0 {
                        ChunkedState::Trailers { total: 0 }
                    } else {
                        ChunkedState::Data { remaining: size }
                    };
                }
                ChunkedState::Trailers { total } => {
                    let budget = MAX_TRAILERS.saturating_sub(*total);
                    let before = used;
                    let Some(line_len) = self.take_line(
                        input,
                        &mut used,
                        budget,
                        Malformed::BareCrLfInChunkedFraming,
                    )?
                    else {
                        if let ChunkedState::Trailers { total } = &mut self.state {
                            *total += used - before;
                        }
                        return Ok(self.need_more(used));
                    };
                    if let ChunkedState::Trailers { total } = &mut self.state {
                        *total += line_len + 2;
                    }
                    if line_len == 0 {
                        self.line.clear();
                        self.state = ChunkedState::Done;
                        continue;
                    }
                    check_trailer_line(&self.line[..line_len])?;
                    self.line.clear();
                }
            }
        }
    }

    fn too_large(&self) -> RequestError {
        RequestError::BodyTooLarge {
            limit: self.max_body,
        }
    }

    fn need_more(&self, used: usize) -> Decoded<'static> {
        Decoded {
            consumed: used,
            data: &[],
            done: false,
        }
    }

    /// Move bytes into `self.line` up to and including an LF. Returns the line's
    /// length without CRLF once complete; None when more input is needed. A bare LF
    /// or a CR not followed by LF is the error `bare`; a line over `max` an error too.
    fn take_line(
        &mut self,
        input: &[u8],
        used: &mut usize,
        max: usize,
        bare: Malformed,
    ) -> Result<Option<usize>, RequestError> {
        while let Some(&b) = input.get(*used) {
            *used += 1;
            if self.line.last() == Some(&b'\r') && b != b'\n' {
                return Err(bare.into());
            }
            if b == b'\n' {
                if self.line.last() != Some(&b'\r') {
                    return Err(bare.into());
                }
                let len = self.line.len() - 1;
                self.line.push(b);
                return Ok(Some(len));
            }
            self.line.push(b);
            if self.line.len() > max {
                return Err(Malformed::ChunkedLineTooLong.into());
            }
        }
        Ok(None)
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// chunk-size [ chunk-ext ], where chunk-size = 1*HEXDIG and
/// chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] ).
/// As Waitress does, the size is everything before the first ';' (BWS aside): if that
/// is not hex digits the error is the size's ("0x20" is "Invalid chunk size"), and
/// only then are the extensions checked. None: a size no u64 holds (413).
fn parse_size_line(line: &[u8]) -> Option<Result<u64, RequestError>> {
    let ext_start = line.iter().position(|&b| b == b';').unwrap_or(line.len());
    let size = &line[..ext_start];
    let digits = size.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let after_digits = &size[digits..];
    let only_bws_after = after_digits.iter().all(|&b| b == b' ' || b == b'\t');
    // Trailing BWS is allowed only where an extension follows.
    if digits == 0 || !only_bws_after || (!after_digits.is_empty() && ext_start == line.len()) {
        return Some(Err(Malformed::ChunkSize.into()));
    }
    let hex = &size[..digits];
    if hex.iter().skip_while(|&&b| b == b'0').count() > 16 {
        return None;
    }
    let value = hex.iter().fold(0u64, |v, &b| {
        (v << 4) | u64::from(char::from(b).to_digit(16).unwrap_or(0))
    });
    if let Err(e) = check_extensions(&line[ext_start..]) {
        return Some(Err(e));
    }
    Some(Ok(value))
}

fn skip_bws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
        i += 1;
    }
    i
}

fn check_extensions(s: &[u8]) -> Result<(), RequestError> {
    let bad = || RequestError::from(Malformed::ChunkExtension);
    let mut i = 0;
    loop {
        if i == s.len() {
            return Ok(());
        }
        // BWS is allowed only before a ';' (so "5 " alone is invalid).
        let semicolon = skip_bws(s, i);
        if semicolon == s.len() || s[semicolon] != b';' {
            return Err(bad());
        }
        i = skip_bws(s, semicolon + 1);
        let name_start = i;
        while i < s.len() && is_tchar(s[i]) {
            i += 1;
        }
        if i == name_start {
            return Err(bad());
        }
        let equals = skip_bws(s, i);
        if equals == s.len() || s[equals] != b'=' {
            continue;
        }
        i = skip_bws(s, equals + 1);
        if s.get(i) == Some(&b'"') {
            i = quoted_string_end(s, i + 1).ok_or_else(bad)?;
        } else {
            let value_start = i;
            while i < s.len() && is_tchar(s[i]) {
                i += 1;
            }
            if i == value_start {
                return Err(bad());
            }
        }
    }
}

/// The index after the closing quote of a quoted-string whose body starts at `i`.
fn quoted_string_end(s: &[u8], mut i: usize) -> Option<usize> {
    let qdtext = |c: u8| c == b'\t' || (c >= b' ' && c != 0x7f && c != b'"' && c != b'\\');
    loop {
        match *s.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => {
                let c = *s.get(i + 1)?;
                if c == b'\t' || (c >= b' ' && c != 0x7f) {
                    i += 2;
                } else {
                    return None;
                }
            }
            c if qdtext(c) => i += 1,
            _ => return None,
        }
    }
}

/// A trailer field line: name ":" value, like a header (RFC 9112 §7.1.2).
fn check_trailer_line(line: &[u8]) -> Result<(), RequestError> {
    let bad = || RequestError::from(Malformed::TrailerField);
    if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        return Err(bad());
    }
    let colon = line.iter().position(|&b| b == b':').ok_or_else(bad)?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(bad());
    }
    if line[colon + 1..]
        .iter()
        .any(|&b| (b < b' ' && b != b'\t') || b == 0x7f)
    {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode `input` delivered in pieces split at `splits`; returns the body.
    fn decode_split(
        input: &[u8],
        splits: &[usize],
        max: u64,
    ) -> Result<(Vec<u8>, bool), RequestError> {
        let mut d = BodyDecoder::new(BodyKind::Chunked, max).unwrap();
        let mut body = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut bounds = splits.to_vec();
        bounds.push(input.len());
        let mut prev = 0;
        for &b in &bounds {
            pending.extend_from_slice(&input[prev..b]);
            prev = b;
            loop {
                let r = d.decode(&pending)?;
                body.extend_from_slice(r.data);
                let consumed = r.consumed;
                let done = r.done;
                pending.drain(..consumed);
                if done {
                    return Ok((body, true));
                }
                if consumed == 0 {
                    break;
                }
            }
        }
        Ok((body, d.is_done()))
    }

    fn whole(s: &str) -> Result<(Vec<u8>, bool), RequestError> {
        decode_split(s.as_bytes(), &[], 1 << 20)
    }

    fn error(s: &str) -> Option<RequestError> {
        whole(s).err()
    }

    #[test]
    fn valid_bodies() {
        assert_eq!(
            whole("5\r\nhello\r\n0\r\n\r\n").unwrap(),
            (b"hello".to_vec(), true)
        );
        assert_eq!(whole("5;a=b\r\nhello\r\n0\r\n\r\n").unwrap().0, b"hello");
        assert_eq!(
            whole("5 ; a = \"q\\\"x\" ;b\r\nhello\r\n0\r\n\r\n")
                .unwrap()
                .0,
            b"hello"
        );
        assert_eq!(
            whole("A\r\n0123456789\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n")
                .unwrap()
                .0,
            b"0123456789"
        );
        assert_eq!(whole("0\r\n\r\n").unwrap(), (Vec::new(), true));
        assert_eq!(whole("00000005\r\nhello\r\n0\r\n\r\n").unwrap().0, b"hello");
    }

    #[test]
    fn invalid_bodies_are_named_as_waitress_names_them() {
        use Malformed::*;
        let too_large = RequestError::BodyTooLarge { limit: 1 << 20 };
        for (input, expected) in [
            ("+5\r\nhello\r\n0\r\n\r\n", ChunkSize.into()),
            ("-5\r\nhello\r\n0\r\n\r\n", ChunkSize.into()),
            ("0x20\r\nhello\r\n0\r\n\r\n", ChunkSize.into()),
            (" 5\r\nhello\r\n0\r\n\r\n", ChunkSize.into()),
            ("5 \r\nhello\r\n0\r\n\r\n", ChunkSize.into()),
            ("5x;a=b\r\nhello\r\n0\r\n\r\n", ChunkSize.into()),
            ("\r\nhello\r\n0\r\n\r\n", ChunkSize.into()),
            ("5\nhello\r\n0\r\n\r\n", ChunkSize.into()),
            ("5\rhello\r\n0\r\n\r\n", ChunkSize.into()),
            ("5\r\nhelloX\r\n0\r\n\r\n", ChunkNotTerminated.into()),
            ("5\r\nhello\n0\r\n\r\n", ChunkNotTerminated.into()),
            (
                "5\r\nhello\r\n0\r\nX: a\n\r\n",
                BareCrLfInChunkedFraming.into(),
            ),
            ("5\r\nhello\r\n0\r\n X: a\r\n\r\n", TrailerField.into()),
            ("5\r\nhello\r\n0\r\nX a\r\n\r\n", TrailerField.into()),
            ("5\r\nhello\r\n0\r\nX: \x01\r\n\r\n", TrailerField.into()),
            ("5;\r\nhello\r\n0\r\n\r\n", ChunkExtension.into()),
            ("5;=x\r\nhello\r\n0\r\n\r\n", ChunkExtension.into()),
            ("5;a=\r\nhello\r\n0\r\n\r\n", ChunkExtension.into()),
            ("5;a=\"x\r\nhello\r\n0\r\n\r\n", ChunkExtension.into()),
            ("5;a b\r\nhello\r\n0\r\n\r\n", ChunkExtension.into()),
            // Waitress reads any hex number and then finds the body too large.
            ("fffffffffffffffff\r\n", too_large.clone()),
            ("ffffffffffffffff\r\n", too_large),
        ] {
            assert_eq!(error(input), Some(expected), "{input:?}");
        }
        let long_ext = format!("5;a={}\r\nhello\r\n0\r\n\r\n", "x".repeat(5000));
        assert_eq!(error(&long_ext), Some(ChunkedLineTooLong.into()));
        // Leading zeros and BWS before an extension are fine.
        assert_eq!(
            whole("000000000000000000005 ;a=b\r\nhello\r\n0\r\n\r\n")
                .unwrap()
                .0,
            b"hello"
        );
    }

    #[test]
    fn body_limit() {
        assert_eq!(
            decode_split(b"6\r\n012345\r\n6\r\n012345\r\n0\r\n\r\n", &[], 10).unwrap_err(),
            RequestError::BodyTooLarge { limit: 10 }
        );
        assert!(decode_split(b"5\r\n01234\r\n5\r\n01234\r\n0\r\n\r\n", &[], 10).is_ok());
    }

    #[test]
    fn every_split_gives_the_same_body() {
        let input =
            b"3;x=\"y\"\r\nabc\r\n10\r\n0123456789abcdef\r\n1\r\nZ\r\n0\r\nTrailer: v\r\n\r\n";
        let expected = whole(std::str::from_utf8(input).unwrap()).unwrap();
        for i in 0..=input.len() {
            assert_eq!(
                decode_split(input, &[i], 1 << 20).unwrap(),
                expected,
                "split at {i}"
            );
        }
        let every: Vec<usize> = (1..input.len()).collect();
        assert_eq!(
            decode_split(input, &every, 1 << 20).unwrap(),
            expected,
            "one byte at a time"
        );
    }

    #[test]
    fn length_bodies() {
        let mut d = BodyDecoder::new(BodyKind::Length(5), 100).unwrap();
        let r = d.decode(b"abc").unwrap();
        assert_eq!((r.consumed, r.data, r.done), (3, &b"abc"[..], false));
        let r = d.decode(b"deXYZ").unwrap();
        assert_eq!((r.consumed, r.data, r.done), (2, &b"de"[..], true));
        assert_eq!(d.decoded_len(), 5);
        assert!(BodyDecoder::new(BodyKind::Empty, 1).is_none());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x2545F4914F6CDD1D;
        for _ in 0..20_000 {
            let mut buf = Vec::new();
            for _ in 0..(x % 48) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf.push(match x % 10 {
                    0 => b'\r',
                    1 => b'\n',
                    2 => b';',
                    3 => b'0',
                    4 => b'=',
                    5 => b'"',
                    _ => (x >> 8) as u8,
                });
            }
            let _ = decode_split(&buf, &[(x as usize) % (buf.len() + 1)], 1000);
        }
    }
}
