//! A native app: a loaded app.so driven through the C ABI (`include/waitressd_app.h`)
//! — init, thread init, handle, thread exit, shutdown.
//!
//! `host.rs` turns the app's vtable calls into `HostRequest` calls; `load.rs` does
//! dlopen and the ABI checks. Runs only in a worker process, after fork.
#![allow(unsafe_code)]

mod host;
mod load;

pub use load::LoadError;

use super::{HostInfo, HostRequest, Outcome, RequestView};
use std::ffi::c_void;
use std::path::Path;
use std::ptr;
use std::sync::Mutex;
use waitressd_sdk::sys;

/// A loaded and initialized app. Lives until the worker process exits; never unloaded
/// (thread-local destructors in app.so would run into unmapped code).
pub struct NativeApp {
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
unsafe impl Send for NativeApp {}
// SAFETY: as above; all methods take &self and the ABI allows concurrent handle().
unsafe impl Sync for NativeApp {}

/// An app thread's state (from `thread_init`), used only on that thread.
pub struct NativeThread {
    state: *mut c_void,
    slot: Box<RequestSlot>,
}

// SAFETY: moved into its app thread once, right after thread_init on that thread.
unsafe impl Send for NativeThread {}

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

impl NativeApp {
    /// dlopen the app, check its ABI, and run its `init` on this thread.
    pub fn load(
        path: &Path,
        info: HostInfo,
        opts: &[(String, String)],
    ) -> Result<NativeApp, Box<dyn std::error::Error>> {
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
        Ok(NativeApp {
            desc,
            state,
            _host: host,
            name,
            version,
            path: path.to_path_buf(),
        })
    }

    /// Run `thread_init` on the calling app thread.
    pub fn thread_init(&self, index: u32) -> Result<NativeThread, i32> {
        let mut thread: *mut c_void = ptr::null_mut();
        if let Some(f) = self.desc.thread_init {
            // SAFETY: a checked descriptor's hook, called on the app thread it is
            // for, with the state init returned.
            let rc = unsafe { f(self.state, index, &mut thread) };
            if rc != 0 {
                return Err(rc);
            }
        }
        Ok(NativeThread {
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
        thread: &mut NativeThread,
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
    pub fn thread_exit(&self, thread: NativeThread) {
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
