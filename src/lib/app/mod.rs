//! `App`: a safe handle on a loaded app.so — init, thread init, handle, thread exit,
//! shutdown — and the `HostRequest` seam through which the app's calls reach the
//! engine.
//!
//! This module knows nothing of HTTP or connections. `worker::task` implements
//! `HostRequest` for one request and builds the `RequestView`; `host.rs` turns the C
//! vtable calls into `HostRequest` calls; `load.rs` does dlopen and the ABI checks.
//! Runs only in a worker process, after fork: the master never loads app code.
#![allow(unsafe_code)]

mod host;
mod load;

pub use load::LoadError;

use std::ffi::c_void;
use std::path::Path;
use std::ptr;
use std::sync::Mutex;
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

/// The engine's side of one request, as the app sees it through the vtable.
/// Called on whichever thread the app calls from, never concurrently (the slot's
/// mutex serializes calls).
pub trait HostRequest {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, HostError>;
    fn start(
        &mut self,
        status: u16,
        reason: &[u8],
        headers: &[(&[u8], &[u8])],
        replace: bool,
    ) -> Result<(), HostError>;
    fn write(&mut self, data: &[u8], last: bool) -> Result<(), HostError>;
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
    pub content_type: &'a [u8],
    /// (lower-case name, value), arrival order.
    pub headers: &'a [(Vec<u8>, Vec<u8>)],
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
}

/// What a worker tells the app about itself.
pub struct HostInfo {
    pub server_software: String,
    pub worker_index: u32,
    pub n_threads: u32,
}

/// A loaded and initialized app. Lives until the worker process exits; never unloaded
/// (thread-local destructors in app.so would run into unmapped code).
pub struct App {
    desc: &'static sys::wd_app,
    state: *mut c_void,
    /// Boxed so the pointer the app keeps stays valid.
    _host: Box<host::HostTable>,
    pub name: String,
    pub version: String,
    pub path: std::path::PathBuf,
}

// SAFETY: the app's contract (header: "many [handle calls] run concurrently") makes
// its state pointer usable from every app thread; App adds no thread-bound state.
unsafe impl Send for App {}
// SAFETY: as above; all methods take &self and the ABI allows concurrent handle().
unsafe impl Sync for App {}

/// An app thread's state (from `thread_init`), used only on that thread.
pub struct AppThread {
    state: *mut c_void,
    slot: Box<RequestSlot>,
}

// SAFETY: moved into its app thread once, right after thread_init on that thread.
unsafe impl Send for AppThread {}

/// The memory behind the `wd_request*` the app receives: the view first (so the
/// pointer leads back here), then the live call. One per app thread, reused for
/// every request, so a stale pointer after `handle()` returns finds no live call
/// (WD_E_STATE) instead of freed memory.
#[repr(C)]
pub(crate) struct RequestSlot {
    view: sys::wd_request,
    headers: Vec<sys::wd_header>,
    active: Mutex<Option<ActiveCall>>,
}

/// The `HostRequest` of the request being handled, lifetime-erased for the duration
/// of one `handle()` call (restored to None before `handle` returns).
pub(crate) struct ActiveCall(*mut (dyn HostRequest + 'static));

// SAFETY: the pointer is only dereferenced under the slot's mutex while the
// `handle()` call that owns the HostRequest is on the stack.
unsafe impl Send for ActiveCall {}

/// The app's init failed.
#[derive(Debug)]
pub struct InitError {
    pub path: std::path::PathBuf,
    pub code: i32,
}

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "app {}: init failed (returned {}); see the app's log line above",
            self.path.display(),
            self.code
        )
    }
}

impl std::error::Error for InitError {}

impl App {
    /// dlopen the app, check its ABI, and run its `init` on this thread.
    pub fn load(
        path: &Path,
        info: HostInfo,
        opts: &[(String, String)],
    ) -> Result<App, Box<dyn std::error::Error>> {
        let host = host::HostTable::new(info);
        let desc = load::open(path, host.as_ptr())?;
        let name = load::c_string(desc.name).unwrap_or_else(|| "app".into());
        let version = load::c_string(desc.version).unwrap_or_default();
        let opt_structs: Vec<sys::wd_opt> = opts
            .iter()
            .map(|(k, v)| sys::wd_opt {
                key: sys::wd_str::from_bytes(k.as_bytes()),
                value: sys::wd_str::from_bytes(v.as_bytes()),
            })
            .collect();
        let mut state: *mut c_void = ptr::null_mut();
        let init = desc.init.ok_or_else(|| LoadError::MissingHook {
            path: path.to_path_buf(),
            hook: "init",
        })?;
        // SAFETY: `init` comes from a descriptor that passed the ABI checks; the
        // host table and the option strings outlive the call (the table for the
        // whole process, the options for this call, as the header promises).
        let rc = unsafe {
            init(
                host.as_ptr(),
                opt_structs.as_ptr(),
                opt_structs.len(),
                &mut state,
            )
        };
        if rc != 0 {
            return Err(Box::new(InitError {
                path: path.to_path_buf(),
                code: rc,
            }));
        }
        Ok(App {
            desc,
            state,
            _host: host,
            name,
            version,
            path: path.to_path_buf(),
        })
    }

    /// Run `thread_init` on the calling app thread.
    pub fn thread_init(&self, index: u32) -> Result<AppThread, i32> {
        let mut thread: *mut c_void = ptr::null_mut();
        if let Some(f) = self.desc.thread_init {
            // SAFETY: a checked descriptor's hook, called on the app thread it is
            // for, with the state init returned.
            let rc = unsafe { f(self.state, index, &mut thread) };
            if rc != 0 {
                return Err(rc);
            }
        }
        Ok(AppThread {
            state: thread,
            slot: Box::new(RequestSlot {
                view: host::empty_request(),
                headers: Vec::new(),
                active: Mutex::new(None),
            }),
        })
    }

    /// Handle one request on this app thread. `req` serves the app's host calls
    /// until this returns.
    pub fn handle(
        &self,
        thread: &mut AppThread,
        view: &RequestView<'_>,
        req: &mut dyn HostRequest,
    ) -> Outcome {
        let Some(handle) = self.desc.handle else {
            return Outcome::Failed;
        };
        let slot = &mut *thread.slot;
        host::fill_view(slot, view);
        // SAFETY: erase the lifetime of `req` only for the duration of this call; it
        // is removed from the slot below before `req`'s borrow ends.
        let erased: *mut (dyn HostRequest + 'static) = unsafe {
            std::mem::transmute::<*mut (dyn HostRequest + '_), *mut (dyn HostRequest + 'static)>(
                req as *mut dyn HostRequest,
            )
        };
        *slot.active.lock().unwrap_or_else(|p| p.into_inner()) = Some(ActiveCall(erased));
        let slot_ptr: *const RequestSlot = slot;
        // SAFETY: `handle` is a checked hook; the request pointer is the slot's first
        // field (repr(C)) and the view's borrowed data outlive the call.
        let rc = unsafe { handle(self.state, thread.state, slot_ptr.cast::<sys::wd_request>()) };
        *thread.slot.active.lock().unwrap_or_else(|p| p.into_inner()) = None;
        match rc {
            0.. => Outcome::Ok,
            sys::WD_E_FATAL => Outcome::Fatal,
            _ => Outcome::Failed,
        }
    }

    /// Run `thread_exit` on the app thread that owns `thread`.
    pub fn thread_exit(&self, thread: AppThread) {
        if let Some(f) = self.desc.thread_exit {
            // SAFETY: a checked hook with the state from this thread's thread_init.
            unsafe { f(self.state, thread.state) };
        }
    }

    /// Run `shutdown` once, after every app thread has exited.
    pub fn shutdown(&self) {
        if let Some(f) = self.desc.shutdown {
            // SAFETY: a checked hook; no app thread runs any more.
            unsafe { f(self.state) };
        }
    }
}

/// Check that `path` is a loadable app without running it (for tests and tools):
/// dlopen + ABI checks only.
pub fn check(path: &Path, info: HostInfo) -> Result<(String, String), LoadError> {
    let host = host::HostTable::new(info);
    let desc = load::open(path, host.as_ptr())?;
    // The table must outlive any pointer the app kept: leak it (a check is rare).
    std::mem::forget(host);
    Ok((
        load::c_string(desc.name).unwrap_or_default(),
        load::c_string(desc.version).unwrap_or_default(),
    ))
}
