//! The `wd_host` vtable: `extern "C"` trampolines that check their arguments, find the
//! live request behind a `wd_request*`, and forward to `HostRequest`. No panic may
//! unwind into app frames, so every trampoline runs inside `catch_unwind` and turns a
//! panic into an error code. Called on app threads (or any thread the app uses while
//! its `handle()` runs).
#![allow(unsafe_code)]

use super::RequestSlot;
use crate::app::{HostError, HostInfo, HostRequest, RequestView};
use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use waitressd_sdk::sys::{self, wd_header, wd_request, wd_str};

/// The vtable plus the storage its strings point into. Boxed by `App` so the
/// pointer handed to the app stays valid for the life of the process.
pub(super) struct HostTable {
    table: sys::wd_host,
    _server_software: Box<str>,
}

impl HostTable {
    pub(super) fn new(info: HostInfo) -> Box<HostTable> {
        let software: Box<str> = info.server_software.into_boxed_str();
        let table = sys::wd_host {
            struct_size: std::mem::size_of::<sys::wd_host>() as u32,
            abi_major: sys::WD_ABI_MAJOR,
            abi_minor: sys::WD_ABI_MINOR,
            server_software: wd_str::from_bytes(software.as_bytes()),
            worker_index: info.worker_index,
            n_threads: info.n_threads,
            log: host_log,
            log_enabled: host_log_enabled,
            get_var: host_get_var,
            read: host_read,
            start: host_start,
            write: host_write,
            send_file: host_send_file,
            headers_sent: host_headers_sent,
            is_disconnected: host_is_disconnected,
            set_error: host_set_error,
        };
        Box::new(HostTable {
            table,
            _server_software: software,
        })
    }

    pub(super) fn as_ptr(&self) -> *const sys::wd_host {
        &self.table
    }
}

pub(super) fn empty_request() -> wd_request {
    wd_request {
        struct_size: std::mem::size_of::<wd_request>() as u32,
        flags: 0,
        id: 0,
        method: wd_str::EMPTY,
        uri: wd_str::EMPTY,
        script_name: wd_str::EMPTY,
        path_info: wd_str::EMPTY,
        query_string: wd_str::EMPTY,
        protocol: wd_str::EMPTY,
        url_scheme: wd_str::EMPTY,
        server_name: wd_str::EMPTY,
        server_port: wd_str::EMPTY,
        remote_addr: wd_str::EMPTY,
        remote_port: wd_str::EMPTY,
        remote_host: wd_str::EMPTY,
        content_type: wd_str::EMPTY,
        headers: std::ptr::null(),
        n_headers: 0,
        content_length: 0,
    }
}

/// Point the slot's C view at `view`'s bytes (valid for the coming handle() call).
pub(super) fn fill_view(slot: &mut RequestSlot, view: &RequestView<'_>) {
    slot.headers.clear();
    slot.headers
        .extend(view.headers.iter().map(|&(n, v)| wd_header {
            name: wd_str::from_bytes(n),
            value: wd_str::from_bytes(v),
        }));
    let s = wd_str::from_bytes;
    slot.view = wd_request {
        struct_size: std::mem::size_of::<wd_request>() as u32,
        flags: view.flags,
        id: view.id,
        method: s(view.method),
        uri: s(view.uri),
        script_name: s(view.script_name),
        path_info: s(view.path_info),
        query_string: s(view.query_string),
        protocol: s(view.protocol),
        url_scheme: s(view.url_scheme),
        server_name: s(view.server_name),
        server_port: s(view.server_port),
        remote_addr: s(view.remote_addr),
        remote_port: s(view.remote_port),
        remote_host: s(view.remote_host),
        content_type: s(view.content_type.unwrap_or_default()),
        headers: slot.headers.as_ptr(),
        n_headers: slot.headers.len(),
        content_length: view.content_length,
    };
}

/// Run `f` on the live request behind `req`, or fail with WD_E_STATE when there is
/// none (NULL, or a pointer kept after its handle() returned).
fn with_request<R>(
    req: *const wd_request,
    on_panic: R,
    f: impl FnOnce(&mut dyn HostRequest) -> R,
) -> Result<R, HostError> {
    if req.is_null() {
        return Err(HostError::State);
    }
    // SAFETY: every wd_request* the host hands out is the first field of a
    // RequestSlot (repr(C)) owned by an app thread for the life of the worker.
    let slot = unsafe { &*req.cast::<RequestSlot>() };
    let guard = slot.active.lock().unwrap_or_else(|p| p.into_inner());
    let Some(active) = guard.as_ref() else {
        return Err(HostError::State);
    };
    // SAFETY: `active` is set only while the handle() call that owns the
    // HostRequest is on the stack, and the mutex guard serializes access.
    let host_req = unsafe { &mut *active.0 };
    Ok(
        catch_unwind(AssertUnwindSafe(|| f(host_req))).unwrap_or_else(|_| {
            log::error!("internal error: a host function panicked; the request continues");
            on_panic
        }),
    )
}

fn code(r: Result<(), HostError>) -> c_int {
    match r {
        Ok(()) => sys::WD_OK,
        Err(e) => e.code(),
    }
}

/// Borrow a wd_str's bytes for the duration of a host call.
///
/// # Safety
/// The app guarantees `s` points to `len` readable bytes for the call.
unsafe fn bytes<'a>(s: wd_str) -> &'a [u8] {
    // SAFETY: forwarded from the caller.
    unsafe { s.as_bytes() }
}

fn level_of(level: c_int) -> log::Level {
    match level {
        sys::WD_LOG_DEBUG => log::Level::Debug,
        sys::WD_LOG_INFO => log::Level::Info,
        sys::WD_LOG_WARN => log::Level::Warn,
        _ => log::Level::Error,
    }
}

unsafe extern "C" fn host_log(req: *const wd_request, level: c_int, msg: wd_str) {
    let _ = catch_unwind(|| {
        // SAFETY: the app passes a valid message for the duration of the call.
        let text = String::from_utf8_lossy(unsafe { bytes(msg) });
        let text = text.trim_end();
        let level = level_of(level);
        if req.is_null() {
            log::log!(target: "app", level, "{text}");
        } else {
            // SAFETY: a request pointer from the host stays readable (see with_request);
            // the id field is plain data.
            let id = unsafe { (*req).id };
            log::log!(target: "app", level, "request {id}: {text}");
        }
    });
}

unsafe extern "C" fn host_log_enabled(level: c_int) -> c_int {
    c_int::from(log::log_enabled!(target: "app", level_of(level)))
}

unsafe extern "C" fn host_get_var(req: *const wd_request, name: wd_str, out: *mut wd_str) -> c_int {
    if out.is_null() {
        return sys::WD_E_INVALID;
    }
    // SAFETY: the app passes a valid name for the call.
    let name = unsafe { bytes(name) };
    let found = with_request(req, None, |r| r.var(name).map(wd_str::from_bytes));
    match found {
        Ok(Some(value)) => {
            // SAFETY: `out` is non-null and points to a wd_str the app owns.
            unsafe { *out = value };
            sys::WD_OK
        }
        Ok(None) => sys::WD_E_NOTFOUND,
        Err(e) => e.code(),
    }
}

unsafe extern "C" fn host_read(req: *const wd_request, buf: *mut c_void, cap: usize) -> isize {
    if buf.is_null() && cap > 0 {
        return sys::WD_E_INVALID as isize;
    }
    let result = with_request(req, Err(HostError::Io), |r| {
        if cap == 0 {
            return Ok(0);
        }
        // SAFETY: the app passes a writable buffer of `cap` bytes.
        let buf = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), cap) };
        r.read(buf)
    });
    match result {
        Ok(Ok(n)) => n as isize,
        Ok(Err(e)) | Err(e) => e.code() as isize,
    }
}

/// Headers of a start() call converted on the stack (more go through a Vec).
const INLINE_HEADERS: usize = 16;

unsafe extern "C" fn host_start(
    req: *const wd_request,
    status: u16,
    reason: wd_str,
    headers: *const wd_header,
    n_headers: usize,
    flags: u32,
) -> c_int {
    if headers.is_null() && n_headers > 0 {
        return sys::WD_E_INVALID;
    }
    let list: &[wd_header] = if n_headers == 0 {
        &[]
    } else {
        // SAFETY: the app passes an array of n_headers headers for the call.
        unsafe { std::slice::from_raw_parts(headers, n_headers) }
    };
    // SAFETY: each string is valid for the call (the header's ownership rule).
    let pair = |h: &wd_header| unsafe { (bytes(h.name), bytes(h.value)) };
    // On the stack for any usual response, on the heap past that.
    let mut inline: [(&[u8], &[u8]); INLINE_HEADERS] = [(&[], &[]); INLINE_HEADERS];
    let spilled: Vec<(&[u8], &[u8])>;
    let pairs: &[(&[u8], &[u8])] = if list.len() <= INLINE_HEADERS {
        for (slot, h) in inline.iter_mut().zip(list) {
            *slot = pair(h);
        }
        &inline[..list.len()]
    } else {
        spilled = list.iter().map(pair).collect();
        &spilled
    };
    // SAFETY: as above.
    let reason = unsafe { bytes(reason) };
    let replace = flags & sys::WD_START_REPLACE != 0;
    code(
        with_request(req, Err(HostError::Invalid), |r| {
            r.start(status, reason, pairs, replace)
        })
        .and_then(|r| r),
    )
}

unsafe extern "C" fn host_write(
    req: *const wd_request,
    data: *const c_void,
    len: usize,
    flags: u32,
) -> c_int {
    if data.is_null() && len > 0 {
        return sys::WD_E_INVALID;
    }
    let data: &[u8] = if len == 0 {
        &[]
    } else {
        // SAFETY: the app passes `len` readable bytes for the call.
        unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) }
    };
    let last = flags & sys::WD_WRITE_FINAL != 0;
    code(with_request(req, Err(HostError::Io), |r| r.write(data, last)).and_then(|r| r))
}

unsafe extern "C" fn host_send_file(
    req: *const wd_request,
    fd: c_int,
    offset: i64,
    len: i64,
    flags: u32,
) -> c_int {
    if fd < 0 || offset < 0 {
        return sys::WD_E_INVALID;
    }
    // SAFETY: the app passes an open fd it keeps open for the duration of the call;
    // we only duplicate it.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let file = match borrowed.try_clone_to_owned() {
        Ok(owned) => std::fs::File::from(owned),
        Err(_) => return sys::WD_E_IO,
    };
    let len = u64::try_from(len).ok();
    let last = flags & sys::WD_FILE_LAST != 0;
    code(
        with_request(req, Err(HostError::Io), |r| {
            r.send_file(file, offset as u64, len, last)
        })
        .and_then(|r| r),
    )
}

unsafe extern "C" fn host_headers_sent(req: *const wd_request) -> c_int {
    with_request(req, false, |r| r.headers_sent()).map_or(0, c_int::from)
}

unsafe extern "C" fn host_is_disconnected(req: *const wd_request) -> c_int {
    with_request(req, false, |r| r.is_disconnected()).map_or(0, c_int::from)
}

unsafe extern "C" fn host_set_error(req: *const wd_request, detail: wd_str) {
    // SAFETY: the app passes a valid detail string for the call.
    let detail = unsafe { bytes(detail) };
    let _ = with_request(req, (), |r| r.set_error(detail));
}
