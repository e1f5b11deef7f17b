//! parse_head on arbitrary bytes: never panics; a complete head consumes no more
//! than it was given, and parsing exactly those bytes gives the same head; fed to one
//! HeadScan a few bytes at a time (as a connection does), it gives the same answer.
#![no_main]
use libfuzzer_sys::fuzz_target;
use waitressd::http::{parse_head, HeadScan, Limits, ParseStatus};

const LIMITS: Limits = Limits {
    max_request_header_size: 64 * 1024,
    max_request_body_size: 1 << 20,
};

fuzz_target!(|data: &[u8]| {
    let whole = format!("{:?}", parse_head(data, &LIMITS));
    let mut scan = HeadScan::default();
    let mut end = 0;
    let pieces = loop {
        end = (end + 3).min(data.len());
        match scan.parse(&data[..end], &LIMITS) {
            Ok(ParseStatus::Partial) if end < data.len() => {}
            done => break format!("{done:?}"),
        }
    };
    assert_eq!(pieces, whole);
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
