//! Streaming responses, to copy:
//!
//! - `/stream?n=N` writes N lines as they are produced. Without Content-Length the
//!   server sends them chunked (one chunk per write) on HTTP/1.1. Each `write`
//!   blocks while the client is behind by `--outbuf-high-watermark`, so a slow
//!   client slows the producer instead of growing memory. When the client goes
//!   away, `write` fails with `Disconnected`: stop and return.
//! - `/file` sends this crate's Cargo.toml with `send_file`: the I/O thread moves it
//!   with sendfile(2), no copy through the app.
//! - anything else: 404.
use std::fs::File;
use waitressd_sdk::{App, Error, Host, Options, Request, WriteError};

pub struct Streaming;

impl App for Streaming {
    type Thread = ();
    const NAME: &'static str = "streaming-rust";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn init(_host: &Host, _opts: &Options) -> Result<Self, Error> {
        Ok(Streaming)
    }

    fn thread_init(&self, _index: u32) -> Result<(), Error> {
        Ok(())
    }

    fn handle(&self, _thread: &mut (), req: &mut Request<'_>) -> Result<(), Error> {
        match req.path_info() {
            b"/stream" => stream(req),
            b"/file" => {
                let file = File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))?;
                req.start(200, "OK", &[("Content-Type", b"text/plain")])?;
                // last = true: the server derives Content-Length from the file region.
                req.send_file(&file, 0, None, true)?;
                Ok(())
            }
            _ => {
                req.respond(404, &[("Content-Type", b"text/plain")], b"not found\n")?;
                Ok(())
            }
        }
    }
}

fn stream(req: &mut Request<'_>) -> Result<(), Error> {
    let n: u64 = std::str::from_utf8(req.query_string())
        .ok()
        .and_then(|q| q.strip_prefix("n="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    req.start(200, "OK", &[("Content-Type", b"text/plain")])?;
    for i in 0..n {
        if req.is_disconnected() {
            return Ok(()); // nobody is listening any more
        }
        match req.write(format!("line {i}\n").as_bytes()) {
            Ok(()) => {}
            Err(WriteError::Disconnected) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

waitressd_sdk::export_app!(Streaming);

#[cfg(test)]
mod tests {
    use super::*;
    use waitressd_sdk::testing::{TestHost, TestRequest};

    #[test]
    fn streams_one_write_per_line() {
        let mut host = TestHost::<Streaming>::new(&[]).unwrap();
        let resp = host.request(TestRequest::get("/stream?n=3"));
        assert_eq!(resp.body, b"line 0\nline 1\nline 2\n");
        assert_eq!(resp.writes.len(), 3);
        let resp = host.request(TestRequest::get("/file"));
        assert!(resp.body.starts_with(b"[package]"));
    }
}
