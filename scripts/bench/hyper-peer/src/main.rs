//! hyper-peer PORT: the hyper 1 + tokio peer of scripts/bench.sh on 127.0.0.1:PORT.
//! `/` is "Hello, World!" (text/plain), `/big` the benchmark's 1 MiB (byte i =
//! b'a' + i % 26) as a clone of one static `Bytes` (no copy), anything else 404.
//! HTTP/1.1 with keep-alive; Full bodies, so hyper sends Content-Length.
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{header, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::OnceLock;
use tokio::net::TcpListener;

static BIG: OnceLock<Bytes> = OnceLock::new();

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, ctype, body) = match req.uri().path() {
        "/" => (
            StatusCode::OK,
            "text/plain",
            Bytes::from_static(b"Hello, World!"),
        ),
        "/big" => (
            StatusCode::OK,
            "application/octet-stream",
            BIG.get().cloned().unwrap_or_default(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            Bytes::from_static(b"Not Found\n"),
        ),
    };
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(ctype),
    );
    Ok(resp)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::args()
        .nth(1)
        .ok_or("usage: hyper-peer PORT")?
        .parse()?;
    let big: &'static [u8] = Box::leak((0..1usize << 20).map(|i| b'a' + (i % 26) as u8).collect());
    let _ = BIG.set(Bytes::from_static(big));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("hyper-peer: accept: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                // A client closing mid-response is routine under wrk; not logged.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(handle))
                    .await;
            });
        }
    })
}
