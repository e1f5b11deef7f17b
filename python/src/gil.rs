//! The CPython calls a forking, multi-threaded server needs and PyO3 does not make
//! for it, each a safe function with its contract stated once: the fork hooks, one
//! thread state per app thread for the thread's whole life, giving up the GIL a new
//! worker's main thread holds, and latin-1 strings. Every `unsafe` block that talks
//! to the interpreter directly is in this file.
//!
//! GIL discipline (see python/README.md): the master holds no GIL while it
//! supervises (its Python thread is detached inside `_native.main`) and takes it only
//! around fork(2); a worker's main thread holds it from fork until the app is
//! imported, then releases it for good (the I/O loop never runs Python); each app
//! thread owns a thread state from `thread_init` to `thread_exit` and holds the GIL
//! only while Python code for a request runs.
#![allow(unsafe_code)]

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::sync::Mutex;

/// The GIL state the master took for a fork, given back after it.
struct ForkGil(ffi::PyGILState_STATE);

// SAFETY: the master is single-threaded; the state is taken and released on the
// thread that forks, the mutex only satisfies `static`'s Sync requirement.
unsafe impl Send for ForkGil {}

static FORK_GIL: Mutex<Option<ForkGil>> = Mutex::new(None);

/// Master, right before fork(2): take the GIL and let CPython prepare
/// (`os.register_at_fork(before=...)` callbacks, its own locks).
pub fn before_fork() {
    // SAFETY: called on the master's thread, inside the running interpreter, while
    // that thread holds no GIL (it is detached in `_native.main`): Ensure takes it.
    let state = unsafe { ffi::PyGILState_Ensure() };
    // SAFETY: the GIL is held, as PyOS_BeforeFork requires.
    unsafe { ffi::PyOS_BeforeFork() };
    *FORK_GIL.lock().unwrap_or_else(|p| p.into_inner()) = Some(ForkGil(state));
}

/// Master, right after fork(2): run the parent-side callbacks, release the GIL.
pub fn after_fork_in_parent() {
    let state = FORK_GIL.lock().unwrap_or_else(|p| p.into_inner()).take();
    // SAFETY: the GIL taken in `before_fork` is still held by this thread.
    unsafe { ffi::PyOS_AfterFork_Parent() };
    if let Some(ForkGil(state)) = state {
        // SAFETY: releases exactly the Ensure made in `before_fork`.
        unsafe { ffi::PyGILState_Release(state) };
    }
}

/// New worker, right after fork(2): repair the interpreter for a one-thread child
/// (thread states of threads that do not exist here, `random`'s seed, the
/// `threading` module). The child keeps the GIL until `release_main_thread`.
pub fn after_fork_in_child() {
    // The state belongs to the parent's bookkeeping; the child never releases it.
    let _ = FORK_GIL.lock().unwrap_or_else(|p| p.into_inner()).take();
    // SAFETY: the forking thread is the child's only thread and holds the GIL, as
    // PyOS_AfterFork_Child requires; it is called before any other Python code.
    unsafe { ffi::PyOS_AfterFork_Child() };
}

/// Worker main thread, after the app is imported: give up the GIL for good. The
/// thread state stays, so `Python::attach` on this thread (shutdown) takes the GIL
/// again.
pub fn release_main_thread() {
    // SAFETY: called once, on the worker's main thread, which holds the GIL since
    // the fork (`after_fork_in_child`) and no PyO3 guard is alive on it.
    unsafe { ffi::PyEval_SaveThread() };
}

/// An app thread's Python thread state, created on that thread and kept until the
/// thread stops: one state per thread for its life (so `threading.local` and
/// everything keyed by thread survive between requests), and one GIL acquire per
/// request, by `Python::attach`, which finds this state.
pub struct ThreadState {
    gil: ffi::PyGILState_STATE,
    saved: *mut ffi::PyThreadState,
}

// SAFETY: created in an app thread's `thread_init` and destroyed by `destroy` on
// the same thread (the pool runs thread_init and thread_exit on the thread they are
// for); it moves only with that thread's other state.
unsafe impl Send for ThreadState {}

impl ThreadState {
    /// On a new app thread: create its thread state, then release the GIL.
    pub fn create() -> ThreadState {
        // SAFETY: the interpreter is initialized; this thread has no thread state
        // yet, so Ensure creates one and takes the GIL.
        let gil = unsafe { ffi::PyGILState_Ensure() };
        // SAFETY: the GIL is held by this thread, through the state just made.
        let saved = unsafe { ffi::PyEval_SaveThread() };
        ThreadState { gil, saved }
    }

    /// On the same thread, when it stops: take the GIL and drop the thread state.
    pub fn destroy(self) {
        // SAFETY: `saved` is this thread's state, released by `create` or by the
        // last request's attach; restoring it takes the GIL, and Release undoes
        // the Ensure of `create` (deleting the state, releasing the GIL).
        unsafe {
            ffi::PyEval_RestoreThread(self.saved);
            ffi::PyGILState_Release(self.gil);
        }
    }
}

/// A `str` from latin-1 bytes (PEP 3333's native strings): every byte is a code
/// point, so this cannot fail but for memory.
pub fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyString>> {
    // SAFETY: the pointer and length describe `bytes` for the duration of the call,
    // the GIL is held (`py`), and a NULL errors argument means "strict".
    let any = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyUnicode_DecodeLatin1(
                bytes.as_ptr().cast(),
                bytes.len() as ffi::Py_ssize_t,
                std::ptr::null(),
            ),
        )
    }?;
    // SAFETY: PyUnicode_DecodeLatin1 returns a str or NULL (handled above).
    Ok(unsafe { any.cast_into_unchecked::<PyString>() })
}

/// A duplicate (close-on-exec) of a descriptor a Python file object owns, so the
/// I/O thread can send from it after the app closed its file.
pub fn duplicate_fd(fd: std::os::fd::RawFd) -> std::io::Result<std::fs::File> {
    if fd < 0 {
        return Err(std::io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: `fd` comes from the live Python file object's fileno(), which stays
    // open while we hold the GIL and a reference to that object; it is only
    // borrowed for the duplication.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    borrowed.try_clone_to_owned().map(std::fs::File::from)
}
