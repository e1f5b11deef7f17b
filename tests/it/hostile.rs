//! The hostile-input suite: named raw-byte requests, each citing the RFC section or
//! advisory it comes from, each with the exact outcome — the status and that the
//! connection closes (and that a request pipelined after it is never served), or
//! what the app saw, or a close without a response. One server (the echo fixture)
//! answers every case on its own connection; a failing run lists every case that
//! failed, not just the first.
use crate::util::{parse_all, Server};
use std::io::Write;

/// What a case must produce.
#[derive(Debug, Clone)]
enum Want {
    /// This status with `Connection: close`, and nothing after it is served.
    Reject(u16),
    /// Served: 200.
    Ok,
    /// Served, and the app read exactly this body.
    Body(&'static [u8]),
    /// Served, and the app read a body of this length.
    BodyLen(usize),
    /// Served, and the echo JSON at this pointer is this string (None: absent).
    Echo(&'static str, Option<&'static str>),
    /// Served with exactly this status line.
    StatusLine(&'static str),
    /// Served with `Connection: close`, then closed.
    Closes,
    /// Served, and the connection stays open for the next request.
    Keeps,
    /// Pipelined: the statuses of every response, in order (nothing after an error).
    Statuses(&'static [u16]),
    /// Pipelined: the PATH_INFO the app saw for each response, in order.
    Paths(&'static [&'static str]),
    /// A HEAD response: a head with Content-Length and no body.
    HeadOnly,
    /// The connection closes without any response (an incomplete request at EOF).
    Silent,
}

/// A request's bytes: written out, or built (for the large ones).
#[derive(Clone, Copy)]
enum In {
    Raw(&'static [u8]),
    Build(fn() -> Vec<u8>),
}

struct Case {
    name: &'static str,
    cite: &'static str,
    input: In,
    want: Want,
}

fn chunked(chunks: &str) -> Vec<u8> {
    format!("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n{chunks}").into_bytes()
}

fn get_with(fields: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nHost: h\r\n{fields}\r\n").into_bytes()
}

/// Appended after a rejected request: the server must never answer it.
const SENTINEL: &[u8] = b"GET /sentinel HTTP/1.1\r\nHost: h\r\n\r\n";

#[rustfmt::skip]
const CASES: &[Case] = &[
    Case { name: "cl_valid", cite: "RFC 9112 §6.3", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"), want: Want::Body(b"hello") },
    Case { name: "cl_zero", cite: "RFC 9112 §6.3", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"), want: Want::Body(b"") },
    Case { name: "cl_leading_zeros", cite: "RFC 9112 §8.6 (1*DIGIT)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 005\r\n\r\nhello"), want: Want::Body(b"hello") },
    Case { name: "cl_ows_trimmed", cite: "RFC 9110 §5.5 (OWS)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \t5 \r\n\r\nhello"), want: Want::Body(b"hello") },
    Case { name: "cl_plus_sign", cite: "CVE-2022-24761", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello"), want: Want::Reject(400) },
    Case { name: "cl_minus_sign", cite: "RFC 9112 §8.6", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -5\r\n\r\nhello"), want: Want::Reject(400) },
    Case { name: "cl_hex", cite: "CVE-2022-24761", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\nhello"), want: Want::Reject(400) },
    Case { name: "cl_inner_space", cite: "RFC 9112 §8.6", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5 0\r\n\r\nhello"), want: Want::Reject(400) },
    Case { name: "cl_comma_list_same", cite: "RFC 9112 §6.3 rule 5", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello"), want: Want::Reject(400) },
    Case { name: "cl_duplicate_same", cite: "RFC 9112 §6.3 rule 5", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"), want: Want::Reject(400) },
    Case { name: "cl_duplicate_differ", cite: "RFC 9112 §6.3 rule 5, CVE-2019-16785", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"), want: Want::Reject(400) },
    Case { name: "cl_empty", cite: "RFC 9112 §8.6", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n"), want: Want::Reject(400) },
    Case { name: "cl_overflow", cite: "RFC 9112 §8.6", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "cl_decimal_point", cite: "RFC 9112 §8.6", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5.0\r\n\r\nhello"), want: Want::Reject(400) },
    Case { name: "cl_letters", cite: "RFC 9112 §8.6", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: five\r\n\r\nhello"), want: Want::Reject(400) },
    Case { name: "cl_fullwidth_digit", cite: "RFC 9112 §8.6 (DIGIT is ASCII)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \xef\xbc\x95\r\n\r\nhello"), want: Want::Reject(400) },
    Case { name: "cl_too_large", cite: "Waitress max_request_body_size", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000000\r\n\r\n"), want: Want::Reject(413) },
    Case { name: "cl_body_short_then_eof", cite: "RFC 9112 §8 (incomplete message)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nhello"), want: Want::Silent },
    Case { name: "cl_on_get", cite: "RFC 9110 §9.3.1", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"), want: Want::Body(b"abc") },
    Case { name: "te_chunked", cite: "RFC 9112 §6.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Body(b"abc") },
    Case { name: "te_chunked_mixed_case", cite: "RFC 9112 §7 (case-insensitive)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ChUnKeD\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Body(b"abc") },
    Case { name: "te_and_cl", cite: "RFC 9112 §6.3 rule 3, CVE-2019-16789", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "cl_and_te", cite: "RFC 9112 §6.3 rule 3", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "te_gzip_chunked", cite: "RFC 9112 §6.1 (unknown coding: 501)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(501) },
    Case { name: "te_identity", cite: "RFC 9112 §6.1 (identity was removed)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\nabc"), want: Want::Reject(501) },
    Case { name: "te_gzip_only", cite: "RFC 9112 §6.3 rule 4", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nabc"), want: Want::Reject(501) },
    Case { name: "te_chunked_not_last", cite: "RFC 9112 §6.3 rule 4", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "te_chunked_twice", cite: "RFC 9112 §6.1 (MUST NOT apply chunked twice)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "te_two_headers", cite: "RFC 9112 §6.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "te_empty", cite: "RFC 9112 §6.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "te_commas_only", cite: "RFC 9110 §5.6.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,,\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "te_in_http10", cite: "RFC 9112 §6.1 (MUST treat as faulty)", input: In::Raw(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "te_with_parameter", cite: "RFC 9112 §7 (chunked has no parameters)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(501) },
    Case { name: "te_xchunked", cite: "RFC 9112 §6.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(501) },
    Case { name: "te_split_word", cite: "RFC 9112 §6.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chun ked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(501) },
    Case { name: "te_vertical_tab", cite: "RFC 9110 §5.5 (no CTL)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \x0bchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "te_trailing_comma", cite: "RFC 9110 §5.6.1 (empty list elements)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked,\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Body(b"abc") },
    Case { name: "te_leading_comma", cite: "RFC 9110 §5.6.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Body(b"abc") },
    Case { name: "te_obs_fold", cite: "RFC 9112 §5.2, request smuggling", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "te_space_before_colon", cite: "RFC 9112 §5.1, request smuggling", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "te_underscore_name", cite: "Waitress (names with '_' are not headers)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer_Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc"), want: Want::Body(b"abc") },
    Case { name: "chunk_size_plus", cite: "CVE-2022-31015", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n+3\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "chunk_size_minus", cite: "RFC 9112 §7.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "chunk_size_0x", cite: "CVE-2022-31015", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "chunk_size_leading_space", cite: "RFC 9112 §7.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "chunk_size_trailing_space", cite: "RFC 9112 §7.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "chunk_size_empty", cite: "RFC 9112 §7.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "chunk_size_bare_lf", cite: "RFC 9112 §7.1 (CRLF), CVE-2019-16789", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "chunk_size_bare_cr", cite: "RFC 9112 §7.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\rabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "chunk_data_no_crlf", cite: "RFC 9112 §7.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "chunk_data_bare_lf", cite: "RFC 9112 §7.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "chunk_data_too_long", cite: "RFC 9112 §7.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "chunk_size_17_hex_digits", cite: "integer overflow; Waitress reads the size, then finds the body too large", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n"), want: Want::Reject(413) },
    Case { name: "chunk_size_huge", cite: "Waitress max_request_body_size", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n"), want: Want::Reject(413) },
    Case { name: "chunk_size_uppercase_hex", cite: "RFC 9112 §7.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n"), want: Want::Body(b"0123456789") },
    Case { name: "chunk_size_leading_zeros", cite: "RFC 9112 §7.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0003\r\nabc\r\n0\r\n\r\n"), want: Want::Body(b"abc") },
    Case { name: "chunk_last_zeros", cite: "RFC 9112 §7.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n000\r\n\r\n"), want: Want::Body(b"abc") },
    Case { name: "chunk_ext_token", cite: "RFC 9112 §7.1.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;name=value\r\nabc\r\n0\r\n\r\n"), want: Want::Body(b"abc") },
    Case { name: "chunk_ext_quoted", cite: "RFC 9112 §7.1.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;name=\"v a\\\"l\"\r\nabc\r\n0\r\n\r\n"), want: Want::Body(b"abc") },
    Case { name: "chunk_ext_no_value", cite: "RFC 9112 §7.1.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;name\r\nabc\r\n0\r\n\r\n"), want: Want::Body(b"abc") },
    Case { name: "chunk_ext_bws", cite: "RFC 9112 §7.1.1 (BWS)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3 ; name = value\r\nabc\r\n0\r\n\r\n"), want: Want::Body(b"abc") },
    Case { name: "chunk_ext_several", cite: "RFC 9112 §7.1.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;a=1;b;c=\"x\"\r\nabc\r\n0\r\n\r\n"), want: Want::Body(b"abc") },
    Case { name: "chunk_ext_on_last", cite: "RFC 9112 §7.1.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0;done\r\n\r\n"), want: Want::Body(b"abc") },
    Case { name: "chunk_ext_unterminated_quote", cite: "RFC 9112 §7.1.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\"x\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "chunk_ext_missing_name", cite: "RFC 9112 §7.1.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;=x\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "chunk_ext_empty", cite: "RFC 9112 §7.1.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "chunk_ext_missing_value", cite: "RFC 9112 §7.1.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "chunk_ext_control_char", cite: "RFC 9112 §7.1.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\x01\r\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "chunk_ext_bare_lf", cite: "2024 chunk-extension LF advisories", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\nabc\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "chunk_ext_too_long", cite: "resource exhaustion", input: In::Build(|| chunked(&format!("3;a={}\r\nabc\r\n0\r\n\r\n", "x".repeat(5000)))), want: Want::Reject(400) },
    Case { name: "trailer_valid", cite: "RFC 9112 §7.1.2", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: 1\r\nX-Other: 2\r\n\r\n"), want: Want::Body(b"abc") },
    Case { name: "trailer_bare_lf", cite: "RFC 9112 §7.1.2", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\n\r\n"), want: Want::Reject(400) },
    Case { name: "trailer_obs_fold", cite: "RFC 9112 §5.2", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n 2\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "trailer_no_colon", cite: "RFC 9112 §7.1.2", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "trailer_control_char", cite: "RFC 9110 §5.5", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: a\x00b\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "trailer_space_before_colon", cite: "RFC 9112 §5.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T : 1\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "trailer_too_large", cite: "resource exhaustion", input: In::Build(|| chunked(&format!("3\r\nabc\r\n0\r\n{}\r\n", (0..200).map(|i| format!("X-T{i}: {}\r\n", "v".repeat(100))).collect::<String>()))), want: Want::Reject(400) },
    Case { name: "chunked_eof_mid_data", cite: "RFC 9112 §8 (incomplete message)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"), want: Want::Silent },
    Case { name: "chunked_eof_after_size", cite: "RFC 9112 §8", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n"), want: Want::Silent },
    Case { name: "chunked_eof_no_last_chunk", cite: "RFC 9112 §8", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"), want: Want::Silent },
    Case { name: "chunked_eof_in_trailers", cite: "RFC 9112 §8", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n"), want: Want::Silent },
    Case { name: "chunk_many_small", cite: "RFC 9112 §7.1", input: In::Build(|| chunked(&format!("{}0\r\n\r\n", "1\r\na\r\n".repeat(100)))), want: Want::Body(&[b'a'; 100]) },
    Case { name: "obs_fold_space", cite: "RFC 9112 §5.2", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "obs_fold_tab", cite: "RFC 9112 §5.2", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\t2\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "obs_fold_first_field", cite: "RFC 9112 §2.2", input: In::Raw(b"GET / HTTP/1.1\r\n X-A: 1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "space_before_colon", cite: "RFC 9112 §5.1", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX-A : 1\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "tab_before_colon", cite: "RFC 9112 §5.1", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX-A\t: 1\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "empty_field_name", cite: "RFC 9110 §5.1", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\n: 1\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "field_name_space", cite: "RFC 9110 §5.1 (token)", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX A: 1\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "field_name_slash", cite: "RFC 9110 §5.1 (token)", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX/A: 1\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "field_name_at", cite: "RFC 9110 §5.1 (token)", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX@A: 1\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "field_name_nul", cite: "RFC 9110 §5.1", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX\x00A: 1\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "field_name_utf8", cite: "RFC 9110 §5.1", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX-\xc3\xa9: 1\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "field_name_brackets", cite: "RFC 9110 §5.1", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX[A]: 1\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "field_value_nul", cite: "RFC 9110 §5.5", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "field_value_bare_cr", cite: "RFC 9112 §2.2", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "field_value_del", cite: "RFC 9110 §5.5", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7fb\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "field_value_bell", cite: "RFC 9110 §5.5", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x07b\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "field_value_escape", cite: "RFC 9110 §5.5", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x1bb\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "field_value_form_feed", cite: "RFC 9110 §5.5", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x0cb\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "field_value_htab", cite: "RFC 9110 §5.5 (HTAB allowed)", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\tb\r\n\r\n"), want: Want::Echo("/headers/X_A", Some("a\tb")) },
    Case { name: "field_value_obs_text", cite: "RFC 9110 §5.5 (obs-text)", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: caf\xe9\r\n\r\n"), want: Want::Echo("/headers/X_A", Some("café")) },
    Case { name: "field_value_ows_trimmed", cite: "RFC 9110 §5.5", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: \t v \t\r\n\r\n"), want: Want::Echo("/headers/X_A", Some("v")) },
    Case { name: "field_value_empty", cite: "RFC 9110 §5.5", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX-A:\r\n\r\n"), want: Want::Echo("/headers/X_A", Some("")) },
    Case { name: "field_value_colon", cite: "RFC 9110 §5.5", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a:b:c\r\n\r\n"), want: Want::Echo("/headers/X_A", Some("a:b:c")) },
    Case { name: "field_no_colon", cite: "RFC 9112 §5", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX-A\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "fields_end_bare_lf", cite: "RFC 9112 §2.2", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\n\n"), want: Want::Reject(400) },
    Case { name: "field_line_bare_lf", cite: "RFC 9112 §2.2", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\nX-A: 1\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "duplicate_fields_joined", cite: "RFC 9110 §5.3", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX-D: a\r\nX-D: b\r\n\r\n"), want: Want::Echo("/headers/X_D", Some("a, b")) },
    Case { name: "underscore_field_dropped", cite: "Waitress (X_Foo cannot pose as X-Foo)", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nX_Foo: spoof\r\n\r\n"), want: Want::Echo("/headers/X_FOO", None) },
    Case { name: "field_name_case_folded", cite: "RFC 9110 §5.1 (case-insensitive)", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nx-LoWeR: 1\r\n\r\n"), want: Want::Echo("/headers/X_LOWER", Some("1")) },
    Case { name: "many_fields", cite: "Waitress max_request_header_size", input: In::Build(|| get_with(&(0..500).map(|i| format!("X-F{i}: {i}\r\n")).collect::<String>())), want: Want::Echo("/headers/X_F499", Some("499")) },
    Case { name: "long_field_value", cite: "Waitress max_request_header_size", input: In::Build(|| get_with(&format!("X-Long: {}\r\n", "v".repeat(20_000)))), want: Want::Ok },
    Case { name: "head_too_large", cite: "Waitress max_request_header_size (431)", input: In::Build(|| get_with(&format!("X-Big: {}\r\n", "v".repeat(300_000)))), want: Want::Reject(431) },
    Case { name: "head_too_large_unterminated", cite: "RFC 6585 §5 (431), slowloris", input: In::Build(|| format!("GET / HTTP/1.1\r\nX-Big: {}", "v".repeat(300_000)).into_bytes()), want: Want::Reject(431) },
    Case { name: "method_lowercase_token", cite: "Waitress parser.crack_first_line (lower-case methods refused)", input: In::Raw(b"get / HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "method_extension", cite: "RFC 9110 §9.1", input: In::Raw(b"PURGE / HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Echo("/method", Some("PURGE")) },
    Case { name: "method_invalid_char", cite: "RFC 9110 §9.1 (token)", input: In::Raw(b"GE(T / HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "method_empty", cite: "RFC 9112 §3", input: In::Raw(b" / HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "method_nul", cite: "RFC 9112 §3", input: In::Raw(b"G\x00T / HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "method_utf8", cite: "RFC 9112 §3", input: In::Raw(b"G\xc3\x89T / HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "double_space_after_method", cite: "RFC 9112 §3 (single SP)", input: In::Raw(b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "double_space_before_version", cite: "RFC 9112 §3 (single SP)", input: In::Raw(b"GET /  HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "tab_separator", cite: "RFC 9112 §3 (SP only)", input: In::Raw(b"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "missing_version", cite: "RFC 9112 §3", input: In::Raw(b"GET /\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "extra_token", cite: "RFC 9112 §3", input: In::Raw(b"GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "trailing_space", cite: "RFC 9112 §3", input: In::Raw(b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "http09_style", cite: "RFC 9112 §2.3 (no HTTP/0.9)", input: In::Raw(b"GET /\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "request_line_bare_lf", cite: "RFC 9112 §2.2", input: In::Raw(b"GET / HTTP/1.1\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "request_line_too_long", cite: "RFC 9112 §3 (414/431)", input: In::Build(|| format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(300_000)).into_bytes()), want: Want::Reject(431) },
    Case { name: "leading_empty_line", cite: "RFC 9112 §2.2 (SHOULD ignore)", input: In::Raw(b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Ok },
    Case { name: "leading_empty_lines_flood", cite: "RFC 9112 §2.2 (a bound)", input: In::Raw(b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "target_control_char", cite: "RFC 9112 §3.2", input: In::Raw(b"GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "target_del", cite: "RFC 9112 §3.2", input: In::Raw(b"GET /a\x7fb HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "target_nul", cite: "RFC 9112 §3.2", input: In::Raw(b"GET /a\x00b HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "target_raw_utf8", cite: "RFC 9112 §3.2 (VCHAR only; stricter than Waitress)", input: In::Raw(b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "target_overlong_utf8", cite: "RFC 9112 §3.2; CVE-2000-0884 style overlong '/'", input: In::Raw(b"GET /\xc0\xaf HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "target_latin1_byte", cite: "RFC 9112 §3.2 (VCHAR only)", input: In::Raw(b"GET /a\xe9 HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "target_escape_char", cite: "RFC 9112 §3.2", input: In::Raw(b"GET /a\x1bb HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "target_percent_encoded_utf8_ok", cite: "RFC 3986 §2.1", input: In::Raw(b"GET /caf%C3%A9 HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Ok },
    Case { name: "content_type_repeated", cite: "RFC 9110 §8.3 (singleton; stricter than Waitress)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"), want: Want::Reject(400) },
    Case { name: "content_type_repeated_identical", cite: "RFC 9110 §8.3 (singleton)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Type: a\r\ncontent-type: a\r\nContent-Length: 2\r\n\r\nab"), want: Want::Reject(400) },
    Case { name: "target_asterisk_get", cite: "RFC 9112 §3.2.4 (OPTIONS only)", input: In::Raw(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "target_asterisk_options", cite: "RFC 9112 §3.2.4", input: In::Raw(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Echo("/method", Some("OPTIONS")) },
    Case { name: "target_absolute_http", cite: "RFC 9112 §3.2.2", input: In::Raw(b"GET http://example.com/p?q=1 HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Echo("/path_info", Some("/p")) },
    Case { name: "target_absolute_https_upper", cite: "RFC 9112 §3.2.2", input: In::Raw(b"GET HTTPS://example.com/p HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Echo("/path_info", Some("/p")) },
    Case { name: "target_absolute_ftp", cite: "RFC 9112 §3.2.2 (http/https only)", input: In::Raw(b"GET ftp://example.com/ HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "target_authority_get", cite: "RFC 9112 §3.2.3 (CONNECT only)", input: In::Raw(b"GET example.com:80 HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "target_relative", cite: "RFC 9112 §3.2", input: In::Raw(b"GET foo HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "connect_refused", cite: "RFC 9112 §6.3 rule 2 (no tunnels here)", input: In::Raw(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"), want: Want::Reject(501) },
    Case { name: "target_fragment_dropped", cite: "RFC 9110 §4.2.4", input: In::Raw(b"GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Echo("/path_info", Some("/a")) },
    Case { name: "target_double_slash", cite: "Waitress #260", input: In::Raw(b"GET //a/b HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Echo("/path_info", Some("/a/b")) },
    Case { name: "target_percent_slash", cite: "Waitress unquote_bytes_to_wsgi", input: In::Raw(b"GET /a%2Fb HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Echo("/path_info", Some("/a/b")) },
    Case { name: "target_bad_percent", cite: "Waitress unquote_bytes_to_wsgi", input: In::Raw(b"GET /%zz%4 HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Echo("/path_info", Some("/%zz%4")) },
    Case { name: "target_query_undecoded", cite: "CGI QUERY_STRING", input: In::Raw(b"GET /p?a=%20&b HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Echo("/query_string", Some("a=%20&b")) },
    Case { name: "target_dot_segments_kept", cite: "RFC 3986 §5.2.4 (the app decides)", input: In::Raw(b"GET /a/../b HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Echo("/path_info", Some("/a/../b")) },
    Case { name: "version_http10", cite: "RFC 9112 §2.3", input: In::Raw(b"GET / HTTP/1.0\r\n\r\n"), want: Want::StatusLine("HTTP/1.0 200 OK") },
    Case { name: "version_http11", cite: "RFC 9112 §2.3", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::StatusLine("HTTP/1.1 200 OK") },
    Case { name: "version_http12_as_11", cite: "RFC 9110 §6.2 (higher minor)", input: In::Raw(b"GET / HTTP/1.2\r\nHost: h\r\n\r\n"), want: Want::StatusLine("HTTP/1.1 200 OK") },
    Case { name: "version_http20", cite: "RFC 9110 §15.6.6 (505)", input: In::Raw(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"), want: Want::Reject(505) },
    Case { name: "version_http30", cite: "RFC 9110 §15.6.6", input: In::Raw(b"GET / HTTP/3.0\r\nHost: h\r\n\r\n"), want: Want::Reject(505) },
    Case { name: "version_http09", cite: "RFC 9110 §15.6.6", input: In::Raw(b"GET / HTTP/0.9\r\nHost: h\r\n\r\n"), want: Want::Reject(505) },
    Case { name: "version_lowercase", cite: "RFC 9112 §2.3 (case-sensitive)", input: In::Raw(b"GET / http/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "version_no_minor", cite: "RFC 9112 §2.3", input: In::Raw(b"GET / HTTP/1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "version_two_digit_minor", cite: "RFC 9112 §2.3", input: In::Raw(b"GET / HTTP/1.10\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "version_garbage", cite: "RFC 9112 §2.3", input: In::Raw(b"GET / HTTPS/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "version_prefix_space", cite: "RFC 9112 §2.3", input: In::Raw(b"GET / HTTP/ 1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "host_missing_http11", cite: "RFC 9112 §3.2 (MUST 400)", input: In::Raw(b"GET / HTTP/1.1\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "host_missing_http10", cite: "RFC 9112 §3.2", input: In::Raw(b"GET / HTTP/1.0\r\n\r\n"), want: Want::Ok },
    Case { name: "host_duplicate", cite: "RFC 9112 §3.2 (MUST 400)", input: In::Raw(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "host_duplicate_same", cite: "RFC 9112 §3.2", input: In::Raw(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "host_empty", cite: "RFC 9112 §3.2 (empty allowed)", input: In::Raw(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"), want: Want::Echo("/headers/HOST", Some("")) },
    Case { name: "host_with_space", cite: "RFC 3986 §3.2.2", input: In::Raw(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "host_with_slash", cite: "RFC 3986 §3.2.2", input: In::Raw(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "host_with_userinfo", cite: "RFC 9110 §4.2.4 (no userinfo)", input: In::Raw(b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "host_ipv6", cite: "RFC 3986 §3.2.2", input: In::Raw(b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), want: Want::Echo("/headers/HOST", Some("[::1]:8080")) },
    Case { name: "host_with_port", cite: "RFC 9112 §3.2", input: In::Raw(b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"), want: Want::Echo("/headers/HOST", Some("example.com:8080")) },
    Case { name: "host_http10_duplicate", cite: "RFC 9112 §3.2", input: In::Raw(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "conn_close_uppercase", cite: "RFC 9112 §9.3 (case-insensitive)", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: CLOSE\r\n\r\n"), want: Want::Closes },
    Case { name: "conn_close_in_list", cite: "RFC 9112 §9.3", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, close\r\n\r\n"), want: Want::Closes },
    Case { name: "conn_close_padded", cite: "RFC 9112 §9.3", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nConnection:  close \r\n\r\n"), want: Want::Closes },
    Case { name: "conn_two_fields", cite: "RFC 9110 §5.3 (combined list)", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: foo\r\nConnection: close\r\n\r\n"), want: Want::Closes },
    Case { name: "conn_unknown_token", cite: "RFC 9112 §9.3", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n"), want: Want::Keeps },
    Case { name: "conn_http11_default", cite: "RFC 9112 §9.3", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Keeps },
    Case { name: "conn_http10_default", cite: "RFC 9112 §9.3", input: In::Raw(b"GET / HTTP/1.0\r\n\r\n"), want: Want::Closes },
    Case { name: "conn_http10_keep_alive", cite: "RFC 9112 §9.3 (1.0 keep-alive)", input: In::Raw(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), want: Want::Keeps },
    Case { name: "smuggle_cl_te", cite: "RFC 9112 §11.2 (request smuggling)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG"), want: Want::Reject(400) },
    Case { name: "smuggle_te_cl", cite: "RFC 9112 §11.2 (request smuggling)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "smuggle_te_te_obfuscated", cite: "RFC 9112 §11.2 (request smuggling)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-encoding: x\r\n\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "smuggle_cl_cl", cite: "RFC 9112 §11.2 (request smuggling)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\nGET /admin HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "smuggle_te_tab", cite: "RFC 9112 §11.2 (request smuggling)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\tchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), want: Want::Body(b"abc") },
    Case { name: "smuggle_te_nul", cite: "RFC 9112 §11.2 (request smuggling)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\x00\r\n\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "smuggle_chunk_size_semicolon_lf", cite: "2024 chunk-extension LF advisories", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2;\nxx\r\n0\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "smuggle_get_with_body_pipelined", cite: "RFC 9112 §11.2 (request smuggling)", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 32\r\n\r\nGET /inner HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::BodyLen(32) },
    Case { name: "pipeline_after_400_not_served", cite: "RFC 9112 §9.3.2", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\nGET /second HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(400) },
    Case { name: "pipeline_valid_then_bad", cite: "RFC 9112 §9.3.2", input: In::Raw(b"GET /one HTTP/1.1\r\nHost: h\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\nGET /three HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Statuses(&[200, 400]) },
    Case { name: "pipeline_three_valid", cite: "RFC 9112 §9.3.2 (order)", input: In::Raw(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\nGET /3 HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Paths(&["/1", "/2", "/3"]) },
    Case { name: "pipeline_after_413_not_served", cite: "RFC 9112 §9.3.2", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000000\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(413) },
    Case { name: "pipeline_after_501_not_served", cite: "RFC 9112 §9.3.2", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::Reject(501) },
    Case { name: "expect_continue_oversized", cite: "RFC 9110 §10.1.1 (final status instead)", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2000000000\r\n\r\n"), want: Want::Reject(413) },
    Case { name: "expect_unknown_ignored", cite: "RFC 9110 §10.1.1", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: something\r\nContent-Length: 2\r\n\r\nok"), want: Want::Body(b"ok") },
    Case { name: "expect_continue_http10_no_interim", cite: "RFC 9110 §10.1.1 (not for 1.0)", input: In::Raw(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok"), want: Want::StatusLine("HTTP/1.0 200 OK") },
    Case { name: "expect_continue_no_body", cite: "RFC 9110 §10.1.1; Waitress answers every expectation", input: In::Raw(b"GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n"), want: Want::Statuses(&[100, 200]) },
    Case { name: "expect_continue_body_with_head", cite: "RFC 9110 §10.1.1; Waitress answers every expectation", input: In::Raw(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok"), want: Want::Statuses(&[100, 200]) },
    Case { name: "head_no_body", cite: "RFC 9110 §9.3.2", input: In::Raw(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n"), want: Want::HeadOnly },
    Case { name: "head_with_request_body", cite: "RFC 9110 §9.3.2", input: In::Raw(b"HEAD / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"), want: Want::HeadOnly },
];

/// Send one case on a fresh connection and check its outcome.
fn check(s: &Server, case: &Case) -> Result<(), String> {
    let mut input = match case.input {
        In::Raw(b) => b.to_vec(),
        In::Build(f) => f(),
    };
    let pipelines_sentinel = matches!(case.want, Want::Reject(_) | Want::Keeps);
    if pipelines_sentinel {
        input.extend_from_slice(SENTINEL);
    }
    let raw = exchange(s, &input)?;
    let text = || String::from_utf8_lossy(&raw[..raw.len().min(600)]).into_owned();
    if let Want::Silent = case.want {
        return if raw.is_empty() {
            Ok(())
        } else {
            Err(format!("expected no response, got {:?}", text()))
        };
    }
    if let Want::HeadOnly = case.want {
        let t = text();
        return if t.starts_with("HTTP/1.1 200 OK\r\n")
            && t.contains("Content-Length: ")
            && t.ends_with("\r\n\r\n")
        {
            Ok(())
        } else {
            Err(format!("expected a bodiless HEAD response, got {t:?}"))
        };
    }
    let rs = parse_all(&raw);
    let first = rs
        .first()
        .ok_or_else(|| format!("no response at all; raw {:?}", text()))?;
    let served = |rs: &[crate::util::Response]| {
        if first.status == 200 {
            Ok(())
        } else {
            Err(format!(
                "expected 200, got {} ({})",
                first.status_line,
                rs[0].body_str()
            ))
        }
    };
    match &case.want {
        Want::Reject(status) => {
            if rs.len() != 1 {
                return Err(format!(
                    "expected exactly one response, got {}: {:?}",
                    rs.len(),
                    text()
                ));
            }
            if first.status != *status {
                return Err(format!(
                    "expected {status}, got {} ({})",
                    first.status_line,
                    first.body_str()
                ));
            }
            if !first.closes() {
                return Err("the error response lacks Connection: close".into());
            }
            Ok(())
        }
        Want::Ok => served(&rs),
        Want::Body(body) => {
            served(&rs)?;
            let got = first.echo_body();
            if got == *body {
                Ok(())
            } else {
                Err(format!(
                    "app read {:?}, expected {:?}",
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(body)
                ))
            }
        }
        Want::BodyLen(n) => {
            served(&rs)?;
            let got = first.echo()["content_length"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if got == n.to_string() {
                Ok(())
            } else {
                Err(format!("app read {got} bytes, expected {n}"))
            }
        }
        Want::Echo(pointer, value) => {
            served(&rs)?;
            let echo = first.echo();
            let got = echo.pointer(pointer).and_then(|v| v.as_str());
            if got == *value {
                Ok(())
            } else {
                Err(format!("{pointer} is {got:?}, expected {value:?}"))
            }
        }
        Want::StatusLine(line) => {
            if first.status_line == *line {
                Ok(())
            } else {
                Err(format!(
                    "status line {:?}, expected {line:?}",
                    first.status_line
                ))
            }
        }
        Want::Closes => {
            served(&rs)?;
            if first.closes() && rs.len() == 1 {
                Ok(())
            } else {
                Err(format!(
                    "expected 200 + Connection: close, got {:?}",
                    text()
                ))
            }
        }
        Want::Keeps => {
            served(&rs)?;
            if rs.len() == 2 && !first.closes() {
                Ok(())
            } else {
                Err(format!(
                    "expected the connection kept for the next request, got {} responses",
                    rs.len()
                ))
            }
        }
        Want::Statuses(want) => {
            let got: Vec<u16> = rs.iter().map(|r| r.status).collect();
            if got == *want {
                Ok(())
            } else {
                Err(format!("statuses {got:?}, expected {want:?}"))
            }
        }
        Want::Paths(want) => {
            let got: Vec<String> = rs
                .iter()
                .map(|r| r.echo()["path_info"].as_str().unwrap_or("").to_string())
                .collect();
            if got == *want {
                Ok(())
            } else {
                Err(format!("paths {got:?}, expected {want:?}"))
            }
        }
        Want::HeadOnly | Want::Silent => unreachable!("handled above"),
    }
}

/// Write everything (the server may answer and close early: that is fine), half
/// close, and read until the server closes.
fn exchange(s: &Server, input: &[u8]) -> Result<Vec<u8>, String> {
    let mut c = s.connect();
    // The server may reject and close before reading everything (431, 413...).
    let _ = c.write_all(input);
    let _ = c.shutdown(std::net::Shutdown::Write);
    Ok(crate::util::read_to_close(&mut c))
}

/// Every case against the echo app, native and Python (wsgiref.validate refuses
/// some of the methods the cases use, so the validated twin sits this one out).
#[test]
fn the_hostile_suite() {
    assert!(CASES.len() >= 150, "{} cases", CASES.len());
    crate::util::each_of(crate::util::twins_unvalidated(), |twin| {
        let s = Server::start_twin("echo", twin, &[]);
        let failures: Vec<String> = CASES
            .iter()
            .filter_map(|case| {
                check(&s, case)
                    .err()
                    .map(|e| format!("{} [{}]: {e}", case.name, case.cite))
            })
            .collect();
        assert!(
            failures.is_empty(),
            "{twin}: {} of {} cases failed:\n{}",
            failures.len(),
            CASES.len(),
            failures.join("\n")
        );
    });
}

#[test]
fn case_names_are_unique() {
    let mut names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), CASES.len());
}
