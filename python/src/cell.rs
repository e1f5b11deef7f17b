//! `RequestCell`: how the Python objects of one request — `start_response`, `write`,
//! `wsgi.input`, `waitress.client_disconnected` — reach the engine's `HostRequest`,
//! and only while that request's `handle()` runs.
//!
//! One cell per app thread, reused by its requests. Each object keeps the cell and
//! its request's id; once `handle()` returns the cell is empty (or serves a later
//! request with another id), so a stashed `write` raises instead of writing into
//! someone else's response. Calls are serialized by the cell's mutex; a call from
//! another thread while the app thread is in a host call waits without the GIL.
#![allow(unsafe_code)]

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use waitressd::app::HostRequest;

/// The request being handled on one app thread, if any.
#[derive(Default)]
pub struct RequestCell {
    live: Mutex<Option<Live>>,
}

/// A lifetime-erased `&mut dyn HostRequest` of the request with this id.
struct Live {
    id: u64,
    host: HostPtr,
}

/// The host of the live request, moved into GIL-free closures for blocking calls.
#[derive(Clone, Copy)]
pub struct HostPtr(*mut (dyn HostRequest + 'static));

// SAFETY: the pointer is dereferenced only while the cell's mutex is held and the
// `handle()` call that owns the HostRequest is on the stack (see `RequestCell`);
// the HostRequest itself may be used from any thread (the ABI allows it).
unsafe impl Send for HostPtr {}

impl HostPtr {
    /// Use the host. Caller's contract: the `HostCall` this came from is alive.
    pub fn with<R>(self, f: impl FnOnce(&mut dyn HostRequest) -> R) -> R {
        // SAFETY: see the type: the guard that produced this pointer is held by the
        // caller, so the borrow is exclusive and the HostRequest is live.
        f(unsafe { &mut *self.0 })
    }
}

/// Exclusive use of the live request's host, for as long as this guard lives.
pub struct HostCall<'a> {
    _guard: MutexGuard<'a, Option<Live>>,
    host: HostPtr,
}

impl HostCall<'_> {
    /// The host, for a call made with the GIL held.
    pub fn host(&mut self) -> &mut dyn HostRequest {
        // SAFETY: the guard is held and the request is live (checked in `enter`).
        unsafe { &mut *self.host.0 }
    }

    /// The host as a pointer, for a call made inside `py.detach` (a blocking write):
    /// valid while this guard lives.
    pub fn host_ptr(&self) -> HostPtr {
        self.host
    }
}

impl RequestCell {
    pub fn new() -> Arc<RequestCell> {
        Arc::new(RequestCell::default())
    }

    /// Make `host` reachable for request `id` until `clear`. Called by `handle()`,
    /// which calls `clear` before `host`'s borrow ends.
    pub fn set(&self, id: u64, host: &mut dyn HostRequest) {
        // SAFETY: erase the borrow's lifetime only until `clear`, which the caller
        // runs before the borrow ends (also on unwind: see `Armed`).
        let host: *mut (dyn HostRequest + 'static) = unsafe {
            std::mem::transmute::<*mut (dyn HostRequest + '_), *mut (dyn HostRequest + 'static)>(
                host as *mut dyn HostRequest,
            )
        };
        *self.lock_blocking() = Some(Live {
            id,
            host: HostPtr(host),
        });
    }

    /// The request is over: nothing reaches its host any more.
    pub fn clear(&self) {
        *self.lock_blocking() = None;
    }

    /// Set for the duration of the returned guard (cleared on drop, even on panic).
    pub fn arm<'a>(&'a self, id: u64, host: &'a mut dyn HostRequest) -> Armed<'a> {
        self.set(id, host);
        Armed(self)
    }

    /// Exclusive use of request `id`'s host, or the Python error for a request that
    /// is over. Waits for another thread's call without holding the GIL.
    pub fn enter<'a>(&'a self, py: Python<'_>, id: u64) -> PyResult<HostCall<'a>> {
        let guard = loop {
            match self.live.try_lock() {
                Ok(g) => break g,
                Err(TryLockError::Poisoned(p)) => break p.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    // Another thread of the app uses this request (its own business,
                    // and rare): let it finish without blocking the interpreter.
                    py.detach(|| std::thread::sleep(std::time::Duration::from_micros(50)))
                }
            }
        };
        match guard.as_ref().map(|live| (live.id, live.host)) {
            Some((live_id, host)) if live_id == id => Ok(HostCall {
                _guard: guard,
                host,
            }),
            _ => Err(PyRuntimeError::new_err(
                "this request is over: its start_response, write and wsgi.input cannot be used after the app returned",
            )),
        }
    }

    fn lock_blocking(&self) -> MutexGuard<'_, Option<Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Clears the cell when dropped.
pub struct Armed<'a>(&'a RequestCell);

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.0.clear();
    }
}
