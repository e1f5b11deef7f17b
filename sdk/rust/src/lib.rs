//! Write waitressd apps in Rust.
//!
//! An app is a `cdylib` crate that implements [`App`] and exports it with
//! [`export_app!`]. waitressd loads the library in each worker process, calls
//! [`App::init`] once, [`App::thread_init`] on each app thread, then
//! [`App::handle`] once per request. The contract behind this crate is
//! `include/waitressd_app.h` in the waitressd repository; this crate has no
//! dependencies, so an app's build never pulls in the server's.
//!
//! ```
//! use waitressd_sdk::{App, Error, Host, Options, Request};
//!
//! struct Hello;
//!
//! impl App for Hello {
//!     type Thread = ();
//!     const NAME: &'static str = "hello";
//!     const VERSION: &'static str = "1.0";
//!     fn init(_host: &Host, _opts: &Options) -> Result<Self, Error> {
//!         Ok(Hello)
//!     }
//!     fn thread_init(&self, _index: u32) -> Result<(), Error> {
//!         Ok(())
//!     }
//!     fn handle(&self, _t: &mut (), req: &mut Request<'_>) -> Result<(), Error> {
//!         req.respond(200, &[("Content-Type", b"text/plain")], b"Hello, world!\n")?;
//!         Ok(())
//!     }
//! }
//! waitressd_sdk::export_app!(Hello);
//!
//! // Unit-test it in-process, no server needed:
//! let mut host = waitressd_sdk::testing::TestHost::<Hello>::new(&[]).unwrap();
//! let resp = host.request(waitressd_sdk::testing::TestRequest::get("/"));
//! assert_eq!(resp.status, 200);
//! assert_eq!(resp.body, b"Hello, world!\n");
//! ```
#![deny(unsafe_code)]

#[cfg(panic = "abort")]
compile_error!(
    "waitressd-sdk needs panic = \"unwind\": with panic = \"abort\" a panic in one request \
     would kill the whole worker instead of failing that request"
);

pub mod export;
pub mod rules;
pub mod sys;
pub mod testing;

mod request;

pub use request::{Request, WriteError};

use std::ffi::c_int;
use std::fmt;

/// What an app is: state created once per worker, shared by its app threads.
pub trait App: Sized + Send + Sync + 'static {
    /// Per-app-thread state (`()` if unused).
    type Thread: 'static;
    /// For logs.
    const NAME: &'static str;
    /// For logs.
    const VERSION: &'static str;

    /// Once per worker, after fork, before any request. `opts` are the
    /// `--app-opt KEY=VALUE` pairs. An error stops the worker from booting.
    fn init(host: &Host, opts: &Options) -> Result<Self, Error>;

    /// On each app thread, before its first request.
    fn thread_init(&self, index: u32) -> Result<Self::Thread, Error>;

    /// One request. Return once the response is complete. An `Err` before anything
    /// was written becomes a 500; after, the connection is closed mid-response.
    fn handle(&self, thread: &mut Self::Thread, req: &mut Request<'_>) -> Result<(), Error>;

    /// On each app thread when the worker stops.
    fn thread_exit(&self, _thread: Self::Thread) {}

    /// Once, after every app thread has exited.
    fn shutdown(self) {}
}

/// The `--app-opt` pairs, in order.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pairs: Vec<(String, String)>,
}

impl Options {
    pub fn new(pairs: Vec<(String, String)>) -> Options {
        Options { pairs }
    }

    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Why a hook failed. The message is logged by the server and, with
/// `--expose-tracebacks`, shown in the 500 body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
    fatal: bool,
}

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            fatal: false,
        }
    }

    /// The app's state is broken: fail this request and have the worker recycled.
    pub fn fatal(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
            fatal: true,
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn is_fatal(&self) -> bool {
        self.fatal
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::new(e.to_string())
    }
}

impl From<WriteError> for Error {
    fn from(e: WriteError) -> Error {
        Error::new(e.to_string())
    }
}

impl From<String> for Error {
    fn from(s: String) -> Error {
        Error::new(s)
    }
}

impl From<&str> for Error {
    fn from(s: &str) -> Error {
        Error::new(s)
    }
}

/// Log levels of the host's logger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

impl Level {
    fn code(self) -> c_int {
        match self {
            Level::Debug => sys::WD_LOG_DEBUG,
            Level::Info => sys::WD_LOG_INFO,
            Level::Warn => sys::WD_LOG_WARN,
            Level::Error => sys::WD_LOG_ERROR,
            Level::Critical => sys::WD_LOG_CRITICAL,
        }
    }
}

/// The server, as seen from the app: logging and facts about this worker.
#[derive(Clone, Copy)]
pub struct Host {
    raw: &'static sys::wd_host,
}

impl Host {
    /// Wrap the host table the server passed to the entry point.
    pub fn from_raw(raw: &'static sys::wd_host) -> Host {
        Host { raw }
    }

    pub fn log(&self, level: Level, msg: &str) {
        export::log(self.raw, std::ptr::null(), level.code(), msg);
    }

    /// "waitressd/x.y.z".
    pub fn server_software(&self) -> String {
        export::host_str(self.raw.server_software)
    }

    pub fn worker_index(&self) -> u32 {
        self.raw.worker_index
    }

    pub fn n_threads(&self) -> u32 {
        self.raw.n_threads
    }

    pub(crate) fn raw(&self) -> &'static sys::wd_host {
        self.raw
    }
}

/// The host of this app, once `init` has run (None before, e.g. in unit tests
/// that never call init).
pub fn host() -> Option<Host> {
    export::global_host()
}
