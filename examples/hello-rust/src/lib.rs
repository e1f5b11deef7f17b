//! The smallest waitressd app in Rust: "Hello, world!\n" on every path, with a
//! greeting configurable through `--app-opt greeting=...`.
//!
//! ```text
//! cargo build --release -p hello-rust
//! waitressd --listen 127.0.0.1:8080 --app-opt greeting=Hi target/release/libhello_rust.so
//! curl http://127.0.0.1:8080/
//! ```
use waitressd_sdk::{App, Error, Host, Level, Options, Request};

pub struct Hello {
    body: Vec<u8>,
}

impl App for Hello {
    type Thread = ();
    const NAME: &'static str = "hello-rust";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn init(host: &Host, opts: &Options) -> Result<Self, Error> {
        let greeting = opts.get("greeting").unwrap_or("Hello");
        host.log(
            Level::Info,
            &format!("hello-rust ready with greeting {greeting:?}"),
        );
        Ok(Hello {
            body: format!("{greeting}, world!\n").into_bytes(),
        })
    }

    fn thread_init(&self, _index: u32) -> Result<(), Error> {
        Ok(())
    }

    fn handle(&self, _thread: &mut (), req: &mut Request<'_>) -> Result<(), Error> {
        // One call: status, headers and the whole body; the server sets
        // Content-Length from it and keeps the connection alive.
        req.respond(200, &[("Content-Type", b"text/plain")], &self.body)?;
        Ok(())
    }
}

waitressd_sdk::export_app!(Hello);

#[cfg(test)]
mod tests {
    use super::*;
    use waitressd_sdk::testing::{TestHost, TestRequest};

    #[test]
    fn greets() {
        let mut host = TestHost::<Hello>::new(&[("greeting", "Hi")]).unwrap();
        let resp = host.request(TestRequest::get("/anything"));
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body, b"Hi, world!\n");
        assert_eq!(resp.header("content-length"), Some("11"));
    }
}
