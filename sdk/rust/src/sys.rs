//! The `#[repr(C)]` mirror of `include/waitressd_app.h` — the only Rust copy of the ABI.
//!
//! Both sides import it: the SDK (app side) and the server's `app` module (host side).
//! The header is the specification; `tests/it/layout.rs` compiles a C program against
//! the header and checks that every size and offset here agrees with it. Read the
//! header's comments for the meaning of each field and function.
#![allow(non_camel_case_types)]
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void};

pub const WD_ABI_MAJOR: u16 = 1;
pub const WD_ABI_MINOR: u16 = 0;

pub const WD_OK: c_int = 0;
pub const WD_ERR: c_int = -1;
pub const WD_E_INVALID: c_int = -2;
pub const WD_E_STATE: c_int = -3;
pub const WD_E_COMMITTED: c_int = -4;
pub const WD_E_DISCONNECTED: c_int = -5;
pub const WD_E_LENGTH: c_int = -6;
pub const WD_E_UNSUPPORTED: c_int = -7;
pub const WD_E_NOTFOUND: c_int = -8;
pub const WD_E_IO: c_int = -9;
pub const WD_E_FATAL: c_int = -99;

pub const WD_LOG_DEBUG: c_int = 0;
pub const WD_LOG_INFO: c_int = 1;
pub const WD_LOG_WARN: c_int = 2;
pub const WD_LOG_ERROR: c_int = 3;
pub const WD_LOG_CRITICAL: c_int = 4;

pub const WD_REQ_HEAD: u32 = 1 << 0;
pub const WD_REQ_KEEPALIVE: u32 = 1 << 1;
pub const WD_REQ_CHUNKED_IN: u32 = 1 << 2;

pub const WD_START_REPLACE: u32 = 1 << 0;
pub const WD_WRITE_FINAL: u32 = 1 << 0;
pub const WD_FILE_LAST: u32 = 1 << 0;

/// Headers an app may not set: the server owns them (PEP 3333; Waitress
/// `hop_by_hop`). `start()` refuses them with WD_E_INVALID (see the header).
pub const HOP_BY_HOP_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// The entry symbol's name, NUL-terminated for `dlsym`.
pub const WD_ENTRY_SYMBOL: &[u8] = b"waitressd_app_v1\0";

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wd_str {
    pub ptr: *const c_char,
    pub len: usize,
}

impl wd_str {
    pub const EMPTY: wd_str = wd_str {
        ptr: std::ptr::null(),
        len: 0,
    };

    /// Borrow a byte slice as a `wd_str` (the slice must outlive every use).
    pub fn from_bytes(bytes: &[u8]) -> wd_str {
        wd_str {
            ptr: bytes.as_ptr().cast(),
            len: bytes.len(),
        }
    }

    /// View the bytes.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that stay valid for `'a`
    /// (or `len` must be 0).
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.len == 0 || self.ptr.is_null() {
            &[]
        } else {
            // SAFETY: the caller guarantees ptr/len describe live, readable bytes.
            unsafe { std::slice::from_raw_parts(self.ptr.cast(), self.len) }
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wd_header {
    pub name: wd_str,
    pub value: wd_str,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wd_opt {
    pub key: wd_str,
    pub value: wd_str,
}

#[repr(C)]
#[derive(Debug)]
pub struct wd_request {
    pub struct_size: u32,
    pub flags: u32,
    pub id: u64,
    pub method: wd_str,
    pub uri: wd_str,
    pub script_name: wd_str,
    pub path_info: wd_str,
    pub query_string: wd_str,
    pub protocol: wd_str,
    pub url_scheme: wd_str,
    pub server_name: wd_str,
    pub server_port: wd_str,
    pub remote_addr: wd_str,
    pub remote_port: wd_str,
    pub remote_host: wd_str,
    pub content_type: wd_str,
    pub headers: *const wd_header,
    pub n_headers: usize,
    pub content_length: i64,
}

pub type wd_log_fn = unsafe extern "C" fn(req: *const wd_request, level: c_int, msg: wd_str);
pub type wd_log_enabled_fn = unsafe extern "C" fn(level: c_int) -> c_int;
pub type wd_get_var_fn =
    unsafe extern "C" fn(req: *const wd_request, name: wd_str, out: *mut wd_str) -> c_int;
pub type wd_read_fn =
    unsafe extern "C" fn(req: *const wd_request, buf: *mut c_void, cap: usize) -> isize;
pub type wd_start_fn = unsafe extern "C" fn(
    req: *const wd_request,
    status: u16,
    reason: wd_str,
    headers: *const wd_header,
    n_headers: usize,
    flags: u32,
) -> c_int;
pub type wd_write_fn = unsafe extern "C" fn(
    req: *const wd_request,
    data: *const c_void,
    len: usize,
    flags: u32,
) -> c_int;
pub type wd_send_file_fn = unsafe extern "C" fn(
    req: *const wd_request,
    fd: c_int,
    offset: i64,
    len: i64,
    flags: u32,
) -> c_int;
pub type wd_req_predicate_fn = unsafe extern "C" fn(req: *const wd_request) -> c_int;
pub type wd_set_error_fn = unsafe extern "C" fn(req: *const wd_request, detail: wd_str);

#[repr(C)]
pub struct wd_host {
    pub struct_size: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    pub server_software: wd_str,
    pub worker_index: u32,
    pub n_threads: u32,
    pub log: wd_log_fn,
    pub log_enabled: wd_log_enabled_fn,
    pub get_var: wd_get_var_fn,
    pub read: wd_read_fn,
    pub start: wd_start_fn,
    pub write: wd_write_fn,
    pub send_file: wd_send_file_fn,
    pub headers_sent: wd_req_predicate_fn,
    pub is_disconnected: wd_req_predicate_fn,
    pub set_error: wd_set_error_fn,
}

pub type wd_init_fn = unsafe extern "C" fn(
    host: *const wd_host,
    opts: *const wd_opt,
    n_opts: usize,
    app: *mut *mut c_void,
) -> c_int;
pub type wd_thread_init_fn =
    unsafe extern "C" fn(app: *mut c_void, thread_index: u32, thread: *mut *mut c_void) -> c_int;
pub type wd_handle_fn =
    unsafe extern "C" fn(app: *mut c_void, thread: *mut c_void, req: *const wd_request) -> c_int;
pub type wd_thread_exit_fn = unsafe extern "C" fn(app: *mut c_void, thread: *mut c_void);
pub type wd_shutdown_fn = unsafe extern "C" fn(app: *mut c_void);

#[repr(C)]
pub struct wd_app {
    pub struct_size: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    pub min_host_minor: u16,
    pub reserved: u16,
    pub name: *const c_char,
    pub version: *const c_char,
    pub init: Option<wd_init_fn>,
    pub thread_init: Option<wd_thread_init_fn>,
    pub handle: Option<wd_handle_fn>,
    pub thread_exit: Option<wd_thread_exit_fn>,
    pub shutdown: Option<wd_shutdown_fn>,
}

// SAFETY: a descriptor is immutable static data (function pointers and pointers to
// static NUL-terminated strings); reading it from several threads is sound.
unsafe impl Sync for wd_app {}
// SAFETY: as above; nothing in it is tied to the thread that created it.
unsafe impl Send for wd_app {}

pub type wd_entry_fn = unsafe extern "C" fn(host: *const wd_host) -> *const wd_app;
