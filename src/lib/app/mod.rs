//! `App`: the app a worker runs — a native app.so (`native`) or an app embedded by
//! the process that hosts the server (a Python WSGI app, through `embed`) — and the
//! `HostRequest` seam through which the app's calls reach the engine.
//!
//! This module knows nothing of HTTP or connections. `worker::task` implements
//! `HostRequest` for one request and builds the `RequestView`. Runs only in a worker
//! process, after fork: the master never loads app code.
pub mod native;

pub use native::LoadError;

use crate::config::AppSpec;
use waitressd_sdk::sys;

/// Why a host call failed; each maps to one `WD_E_*` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostError {
    Invalid,
    State,
    Committed,
    Disconnected,
    Length,
    Io,
    NotFound,
}

impl HostError {
    pub fn code(self) -> i32 {
        match self {
            HostError::Invalid => sys::WD_E_INVALID,
            HostError::State => sys::WD_E_STATE,
            HostError::Committed => sys::WD_E_COMMITTED,
            HostError::Disconnected => sys::WD_E_DISCONNECTED,
            HostError::Length => sys::WD_E_LENGTH,
            HostError::Io => sys::WD_E_IO,
            HostError::NotFound => sys::WD_E_NOTFOUND,
        }
    }
}

/// The engine's side of one request, as the app sees it. Called on whichever thread
/// the app calls from, never concurrently (callers serialize: the native vtable's
/// slot mutex, the Python bridge's request cell).
pub trait HostRequest {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, HostError>;
    /// Reposition the body reader (the body is complete before the app runs, so
    /// every position is available): Python's `wsgi.input.seek`/`tell`.
    fn seek_body(&mut self, pos: std::io::SeekFrom) -> Result<u64, HostError>;
    fn start(
        &mut self,
        status: u16,
        reason: &[u8],
        headers: &[(&[u8], &[u8])],
        replace: bool,
    ) -> Result<(), HostError>;
    fn write(&mut self, data: &[u8], last: bool) -> Result<(), HostError>;
    /// Whether writing `len` bytes now may wait: for the client to take queued
    /// output (the high watermark), or for the disk (output spilling to a file).
    /// An embedded interpreter releases its lock around such writes only.
    fn write_would_block(&self, len: usize) -> bool;
    /// The rest of the body is a file-like object of `region` bytes (a WSGI file
    /// wrapper that is not a regular file): apply the file rule of `send_file` to
    /// the staged head (a shorter declared Content-Length is honoured, a longer one
    /// replaced, a missing one set) and return how many bytes to write.
    fn whole_body(&mut self, region: u64) -> Result<u64, HostError>;
    /// Send the staged head now, before any body byte (Waitress writes its headers
    /// before it fails on a body chunk that is not bytes).
    fn commit(&mut self) -> Result<(), HostError>;
    fn send_file(
        &mut self,
        file: std::fs::File,
        offset: u64,
        len: Option<u64>,
        last: bool,
    ) -> Result<(), HostError>;
    fn headers_sent(&self) -> bool;
    fn is_disconnected(&self) -> bool;
    /// An extra variable; the bytes live as long as the request.
    fn var(&self, name: &[u8]) -> Option<&[u8]>;
    /// Every `HTTP_*` variable of the request, as CGI names them: upper case, '-' as
    /// '_', repeated fields joined with ", ", Content-Type and Content-Length left to
    /// their own names (Waitress `parser.parse_header`, `task.get_environment`).
    fn http_vars(&self) -> &[(Vec<u8>, Vec<u8>)];
    fn set_error(&mut self, detail: &[u8]);
    /// The request id, for log lines.
    fn id(&self) -> u64;
}

/// The request fields the app sees (CGI names in `include/waitressd_app.h`).
pub struct RequestView<'a> {
    pub id: u64,
    pub flags: u32,
    pub method: &'a [u8],
    pub uri: &'a [u8],
    pub script_name: &'a [u8],
    pub path_info: &'a [u8],
    pub query_string: &'a [u8],
    pub protocol: &'a [u8],
    pub url_scheme: &'a [u8],
    pub server_name: &'a [u8],
    pub server_port: &'a [u8],
    pub remote_addr: &'a [u8],
    pub remote_port: &'a [u8],
    pub remote_host: &'a [u8],
    /// The Content-Type header, if the request had one.
    pub content_type: Option<&'a [u8]>,
    /// Whether the request carried a body length: a Content-Length header, or a
    /// chunked body (whose de-chunked length is `content_length`).
    pub has_content_length: bool,
    /// (lower-case name, value), arrival order.
    pub headers: &'a [(&'a [u8], &'a [u8])],
    pub content_length: i64,
}

pub use sys::{WD_REQ_CHUNKED_IN, WD_REQ_HEAD, WD_REQ_KEEPALIVE};

/// How `handle()` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// WD_ERR (or any other negative code): 500 before commit, abort after.
    Failed,
    /// WD_E_FATAL: as Failed, and the worker should be recycled.
    Fatal,
    /// The client went away and the app stopped (it saw a failed write). Nothing is
    /// left to answer; the connection is closed.
    Disconnected,
}

/// What a worker tells the app about itself.
#[derive(Debug, Clone)]
pub struct HostInfo {
    pub server_software: String,
    /// The server's `ident` (the `Server` header; WSGI's SERVER_SOFTWARE).
    pub ident: String,
    pub worker_index: u32,
    pub n_threads: u32,
    /// More than one worker process serves the app (WSGI `wsgi.multiprocess`).
    pub multiprocess: bool,
}

/// An app supplied by the process that embeds the server (see `crate::embed`): the
/// Python bridge implements it. Loaded, used and shut down in one worker process.
pub trait EmbeddedApp: Send + Sync {
    /// For logs: what was loaded ("myapp:app").
    fn describe(&self) -> String;
    /// On each app thread, before its first request.
    fn thread_init(&self, index: u32) -> Result<Box<dyn EmbeddedThread>, String>;
    /// Once, after every app thread has exited (not after an immediate stop).
    fn shutdown(&self);
}

/// An embedded app's per-thread state; lives on the app thread that created it.
pub trait EmbeddedThread: Send {
    fn handle(&mut self, view: &RequestView<'_>, host: &mut dyn HostRequest) -> Outcome;
    /// On the same thread, when the worker stops after a drain.
    fn exit(self: Box<Self>);
}

/// A loaded and initialized app, for the life of the worker process.
pub struct App {
    kind: Kind,
    /// For logs: where the app came from (a path, or `module:callable`).
    pub origin: String,
}

enum Kind {
    Native(native::NativeApp),
    Embedded(Box<dyn EmbeddedApp>),
}

/// An app thread's state, used only on that thread.
pub struct AppThread(ThreadKind);

enum ThreadKind {
    Native(native::NativeThread),
    Embedded(Box<dyn EmbeddedThread>),
}

impl App {
    /// Load the app and run its init on this thread (the worker's main thread).
    pub fn load(
        spec: &AppSpec,
        info: HostInfo,
        opts: &[(String, String)],
    ) -> Result<App, Box<dyn std::error::Error>> {
        match spec {
            AppSpec::Native(path) => {
                let app = native::NativeApp::load(path, info, opts)?;
                Ok(App {
                    origin: path.display().to_string(),
                    kind: Kind::Native(app),
                })
            }
            AppSpec::Python(python) => {
                let Some(embedder) = crate::embed::embedder() else {
                    return Err(format!(
                        "cannot load the Python app {}: this process has no Python \
                         interpreter (run the waitressd that pip installs, or give --python)",
                        python.target
                    )
                    .into());
                };
                let app = embedder.load_app(python, &info, opts)?;
                Ok(App {
                    origin: python.target.clone(),
                    kind: Kind::Embedded(app),
                })
            }
        }
    }

    /// For logs: "app NAME VERSION from PATH", or "the WSGI app module:callable".
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Native(app) => format!("app {} {} from {}", app.name, app.version, self.origin),
            Kind::Embedded(app) => format!("the WSGI app {}", app.describe()),
        }
    }

    /// Run the app's thread init on the calling app thread.
    pub fn thread_init(&self, index: u32) -> Result<AppThread, String> {
        match &self.kind {
            Kind::Native(app) => app
                .thread_init(index)
                .map(ThreadKind::Native)
                .map_err(|rc| {
                    format!(
                        "app {}: thread_init failed on app thread {index} (returned {rc})",
                        self.origin
                    )
                }),
            Kind::Embedded(app) => app.thread_init(index).map(ThreadKind::Embedded),
        }
        .map(AppThread)
    }

    /// Handle one request on this app thread. `req` serves the app's host calls
    /// until this returns.
    pub fn handle(
        &self,
        thread: &mut AppThread,
        view: &RequestView<'_>,
        req: &mut dyn HostRequest,
    ) -> Outcome {
        match (&self.kind, &mut thread.0) {
            (Kind::Native(app), ThreadKind::Native(t)) => app.handle(t, view, req),
            (Kind::Embedded(_), ThreadKind::Embedded(t)) => t.handle(view, req),
            _ => Outcome::Failed,
        }
    }

    /// Run the thread exit hook on the app thread that owns `thread`.
    pub fn thread_exit(&self, thread: AppThread) {
        match (&self.kind, thread.0) {
            (Kind::Native(app), ThreadKind::Native(t)) => app.thread_exit(t),
            (_, ThreadKind::Embedded(t)) => t.exit(),
            _ => {}
        }
    }

    /// Run the app's shutdown once, after every app thread has exited.
    pub fn shutdown(&self) {
        match &self.kind {
            Kind::Native(app) => app.shutdown(),
            Kind::Embedded(app) => app.shutdown(),
        }
    }
}

/// Check that `path` is a loadable native app without running it (for tests and
/// tools): dlopen + ABI checks only.
pub fn check(
    path: &std::path::Path,
    info: HostInfo,
) -> Result<(String, String), native::LoadError> {
    native::check(path, info)
}
