//! The WSGI bridge: PEP 3333 to the letter, with Waitress 3.0.2's environ, on top of
//! the engine's `HostRequest` seam. Runs in worker processes only: `app` imports the
//! app after fork and drives it on the app threads; everything else here is one
//! request's Python objects and the loop that turns the app's answer into host
//! calls (`serve`).
//!
//! | file | owns |
//! |---|---|
//! | `app.rs` | boot (import, `--call`, signals, logging), per-thread state, shutdown |
//! | `environ.rs` | the environ dict: interned keys, a per-worker template, latin-1 values |
//! | `start_response.rs` | `start_response` and `write`, with Waitress's checks and messages |
//! | `input.rs` | `wsgi.input`: read/readline/readlines/iteration/readinto/seek/tell |
//! | `file_wrapper.rs` | `wsgi.file_wrapper` (sent with sendfile when it wraps a regular file) |
//! | `serve.rs` | one request: call, lazy status, iterate, `close()` on every path, failures |
pub mod app;
mod environ;
mod file_wrapper;
mod input;
mod serve;
mod start_response;

pub use file_wrapper::FileWrapper;
pub use input::InputStream;

pyo3::create_exception!(
    waitressd,
    ClientDisconnected,
    pyo3::exceptions::PyException,
    "The client went away before the response was complete (Waitress's \
     waitress.channel.ClientDisconnected)."
);
