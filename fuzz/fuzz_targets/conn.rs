//! The connection state machine on arbitrary input, delivered in two pieces: never
//! panics, and every step it asks for is one the event loop can carry out.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use waitressd::conn::outbuf::{Completion, Notify, OutBuf};
use waitressd::conn::{Conn, ConnSettings, Step};
use waitressd::http::Limits;

struct Quiet;
impl Notify for Quiet {
    fn notify(&self, _token: usize) {}
}

fuzz_target!(|data: &[u8]| {
    let settings = Arc::new(ConnSettings {
        limits: Limits {
            max_request_header_size: 16 * 1024,
            max_request_body_size: 64 * 1024,
        },
        inbuf_overflow: 4096,
        lookahead: 2,
        ident: "waitress".into(),
    });
    let mut c = Conn::new(settings);
    let at = data.first().map_or(0, |b| *b as usize % (data.len() + 1));
    for piece in [&data[..at], &data[at..]] {
        c.received(piece);
        for _ in 0..32 {
            match c.step("date") {
                Step::Dispatch(_) => {
                    let out = Arc::new(OutBuf::new(0, 1 << 20, Arc::new(Quiet)));
                    c.serving(out.clone());
                    out.finish(Completion::KeepAlive);
                }
                Step::Write => c.output().clear(),
                Step::Wait | Step::Close(_) => break,
            }
        }
    }
    c.eof();
    for _ in 0..32 {
        if let Step::Wait | Step::Close(_) = c.step("date") {
            break;
        }
        c.output().clear();
    }
});
