//! parse_head on arbitrary bytes: never panics; a complete head consumes no more
//! than it was given, and parsing exactly those bytes gives the same head.
#![no_main]
use libfuzzer_sys::fuzz_target;
use waitressd::http::{parse_head, Limits, ParseStatus};

const LIMITS: Limits = Limits {
    max_request_header_size: 64 * 1024,
    max_request_body_size: 1 << 20,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(ParseStatus::Complete { head, consumed }) = parse_head(data, &LIMITS) {
        assert!(consumed <= data.len());
        match parse_head(&data[..consumed], &LIMITS) {
            Ok(ParseStatus::Complete {
                head: again,
                consumed: c,
            }) => {
                assert_eq!(c, consumed);
                assert_eq!(again, head);
            }
            other => panic!("the consumed prefix no longer parses: {other:?}"),
        }
    }
});
