//! What `export_app!` expands to, and every unsafe call the SDK makes.
//!
//! The entry symbol returns a descriptor whose hooks are the generic trampolines
//! below. Each trampoline runs the app's code inside `catch_unwind`: no panic ever
//! unwinds into the server's frames (that would abort the worker). A panic in
//! `handle` fails that request with the panic message as its error detail.
#![allow(unsafe_code)]

use crate::sys::{self, wd_app, wd_header, wd_host, wd_opt, wd_request, wd_str};
use crate::{App, Host, Options, Request, WriteError};
use std::cell::Cell;
use std::ffi::{c_int, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::Once;

/// Export `$app` (a type implementing `App`) as this library's waitressd app.
#[macro_export]
macro_rules! export_app {
    ($app:ty) => {
        /// The waitressd entry point (ABI v1).
        #[no_mangle]
        pub extern "C" fn waitressd_app_v1(
            host: *const $crate::sys::wd_host,
        ) -> *const $crate::sys::wd_app {
            static DESCRIPTOR: ::std::sync::OnceLock<$crate::export::Descriptor> =
                ::std::sync::OnceLock::new();
            let _ = host;
            DESCRIPTOR
                .get_or_init($crate::export::Descriptor::new::<$app>)
                .as_ptr()
        }
    };
}

/// The static descriptor and the C strings it points to.
pub struct Descriptor {
    app: wd_app,
    _name: CString,
    _version: CString,
}

impl Descriptor {
    pub fn new<A: App>() -> Descriptor {
        let name = c_string(A::NAME);
        let version = c_string(A::VERSION);
        Descriptor {
            app: wd_app {
                struct_size: std::mem::size_of::<wd_app>() as u32,
                abi_major: sys::WD_ABI_MAJOR,
                abi_minor: sys::WD_ABI_MINOR,
                min_host_minor: 0,
                reserved: 0,
                name: name.as_ptr(),
                version: version.as_ptr(),
                init: Some(init::<A>),
                thread_init: Some(thread_init::<A>),
                handle: Some(handle::<A>),
                thread_exit: Some(thread_exit::<A>),
                shutdown: Some(shutdown::<A>),
            },
            _name: name,
            _version: version,
        }
    }

    pub fn as_ptr(&self) -> *const wd_app {
        &self.app
    }
}

fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

static HOST: AtomicPtr<wd_host> = AtomicPtr::new(std::ptr::null_mut());

pub(crate) fn global_host() -> Option<Host> {
    let p = HOST.load(Ordering::Acquire);
    // SAFETY: only ever set from init() to the host table, which the server keeps
    // alive for the whole process.
    (!p.is_null()).then(|| Host::from_raw(unsafe { &*p }))
}

/// The message of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

/// The app state and the host it was initialized with.
struct AppBox<A: App> {
    app: A,
    host: &'static wd_host,
}

/// # Safety
/// Called by the host as `init`, with a host table that lives for the process and
/// `n_opts` valid options.
pub unsafe extern "C" fn init<A: App>(
    host: *const wd_host,
    opts: *const wd_opt,
    n_opts: usize,
    app: *mut *mut c_void,
) -> c_int {
    if host.is_null() || app.is_null() {
        return sys::WD_ERR;
    }
    // SAFETY: the host keeps its table alive for the rest of the process.
    let host: &'static wd_host = unsafe { &*host };
    HOST.store(host as *const wd_host as *mut wd_host, Ordering::Release);
    let opts: &[wd_opt] = if opts.is_null() || n_opts == 0 {
        &[]
    } else {
        // SAFETY: the host passes n_opts options, valid for this call.
        unsafe { std::slice::from_raw_parts(opts, n_opts) }
    };
    let pairs = opts
        .iter()
        .map(|o| {
            (
                String::from_utf8_lossy(borrow(o.key)).into_owned(),
                String::from_utf8_lossy(borrow(o.value)).into_owned(),
            )
        })
        .collect();
    install_panic_hook();
    let result = guarded(|| A::init(&Host::from_raw(host), &Options::new(pairs)));
    match result {
        Ok(Ok(state)) => {
            let boxed = Box::new(AppBox { app: state, host });
            // SAFETY: `app` is non-null and points to the host's out-slot.
            unsafe { *app = Box::into_raw(boxed).cast() };
            sys::WD_OK
        }
        Ok(Err(e)) => {
            log(
                host,
                std::ptr::null(),
                sys::WD_LOG_ERROR,
                &format!("{}: init failed: {e}", A::NAME),
            );
            sys::WD_ERR
        }
        Err(p) => {
            log(
                host,
                std::ptr::null(),
                sys::WD_LOG_CRITICAL,
                &format!("{}: init panicked: {}", A::NAME, panic_message(&*p)),
            );
            sys::WD_ERR
        }
    }
}

thread_local! {
    /// How many SDK trampolines are running on this thread: the panic hook reports a
    /// panic through the host's log only when it happens inside the app's code.
    static IN_APP: Cell<u32> = const { Cell::new(0) };
}

/// Panics outside a trampoline go to the hook that was there before ours (set by
/// `testing::TestHost`, so a test binary keeps libtest's panic output).
static CHAIN_OUTSIDE_APP: AtomicBool = AtomicBool::new(false);

pub(crate) fn chain_panics_outside_app() {
    CHAIN_OUTSIDE_APP.store(true, Ordering::Relaxed);
}

/// Leaves the "inside the app" mark even when the app's code unwinds.
struct InApp;

impl Drop for InApp {
    fn drop(&mut self) {
        IN_APP.with(|n| n.set(n.get().saturating_sub(1)));
    }
}

/// Run app code: marked for the panic hook, and with any panic caught here so it
/// never unwinds into an `extern "C"` frame.
fn guarded<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    IN_APP.with(|n| n.set(n.get() + 1));
    let _mark = InApp;
    catch_unwind(AssertUnwindSafe(f))
}

/// Our choice: a panic in the app is reported through the host's log at CRITICAL
/// (with its location) instead of the default hook's raw stderr output, so it lands
/// in the server's log next to the request's error line; the trampoline then fails
/// the request with the panic message as its detail. Panics on threads the app
/// spawned itself are logged the same way, unless `CHAIN_OUTSIDE_APP` is set.
/// Installed once per process (a repeated init must not stack hooks).
fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let inside = IN_APP.with(Cell::get) > 0;
            let host = match global_host() {
                Some(host) if inside || !CHAIN_OUTSIDE_APP.load(Ordering::Relaxed) => host,
                _ => return previous(info),
            };
            let location = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let msg = panic_message(info.payload());
            log(
                host.raw(),
                std::ptr::null(),
                sys::WD_LOG_CRITICAL,
                &format!("app panicked{location}: {msg}"),
            );
        }));
    });
}

/// # Safety
/// `app` must come from `init::<A>`.
pub unsafe extern "C" fn thread_init<A: App>(
    app: *mut c_void,
    index: u32,
    thread: *mut *mut c_void,
) -> c_int {
    if app.is_null() || thread.is_null() {
        return sys::WD_ERR;
    }
    // SAFETY: `app` is the AppBox<A> that init::<A> created; shared access only.
    let boxed = unsafe { &*app.cast::<AppBox<A>>() };
    match guarded(|| boxed.app.thread_init(index)) {
        Ok(Ok(state)) => {
            // SAFETY: `thread` is the host's non-null out-slot.
            unsafe { *thread = Box::into_raw(Box::new(state)).cast() };
            sys::WD_OK
        }
        Ok(Err(e)) => {
            log(
                boxed.host,
                std::ptr::null(),
                sys::WD_LOG_ERROR,
                &format!("thread_init failed: {e}"),
            );
            sys::WD_ERR
        }
        Err(_) => sys::WD_ERR,
    }
}

/// # Safety
/// `app` from `init::<A>`, `thread` from `thread_init::<A>` on this thread, and
/// `req` a live request view.
pub unsafe extern "C" fn handle<A: App>(
    app: *mut c_void,
    thread: *mut c_void,
    req: *const wd_request,
) -> c_int {
    if app.is_null() || thread.is_null() || req.is_null() {
        return sys::WD_ERR;
    }
    // SAFETY: as documented above; the thread state is used by this thread only.
    let (boxed, thread, raw) = unsafe {
        (
            &*app.cast::<AppBox<A>>(),
            &mut *thread.cast::<A::Thread>(),
            &*req,
        )
    };
    let host = boxed.host;
    let result = guarded(|| {
        let mut request = Request::from_raw(raw, host);
        boxed.app.handle(thread, &mut request)
    });
    match result {
        Ok(Ok(())) => sys::WD_OK,
        Ok(Err(e)) => {
            set_error(host, raw, e.message());
            if e.is_fatal() {
                sys::WD_E_FATAL
            } else {
                sys::WD_ERR
            }
        }
        Err(p) => {
            set_error(host, raw, &format!("panic: {}", panic_message(&*p)));
            sys::WD_ERR
        }
    }
}

/// # Safety
/// As for `handle`; `thread` is consumed.
pub unsafe extern "C" fn thread_exit<A: App>(app: *mut c_void, thread: *mut c_void) {
    if app.is_null() || thread.is_null() {
        return;
    }
    // SAFETY: `thread` came from Box::into_raw in thread_init::<A>; taken back once.
    let (boxed, state) = unsafe {
        (
            &*app.cast::<AppBox<A>>(),
            Box::from_raw(thread.cast::<A::Thread>()),
        )
    };
    let _ = guarded(|| boxed.app.thread_exit(*state));
}

/// # Safety
/// `app` from `init::<A>`, after every app thread has exited; consumed.
pub unsafe extern "C" fn shutdown<A: App>(app: *mut c_void) {
    if app.is_null() {
        return;
    }
    // SAFETY: `app` came from Box::into_raw in init::<A>; taken back once.
    let boxed = unsafe { Box::from_raw(app.cast::<AppBox<A>>()) };
    let _ = guarded(move || boxed.app.shutdown());
}

// SAFETY: the header lets an app call a request's host functions from any thread
// while handle() runs, provided calls for one request do not overlap. `Request` is
// not `Sync` (it holds raw-pointer views), so moving it to another thread (e.g. a
// scoped worker) hands over exclusive use; it cannot outlive handle() ('a).
unsafe impl Send for Request<'_> {}

// ----- calls into the host (used by Request and Host) -----

/// Borrow the bytes of a host string.
pub(crate) fn borrow<'a>(s: wd_str) -> &'a [u8] {
    // SAFETY: host strings are valid for as long as the request view or host table
    // they belong to, which outlives every Request/Host borrow handed out.
    unsafe { s.as_bytes() }
}

pub(crate) fn host_str(s: wd_str) -> String {
    String::from_utf8_lossy(borrow(s)).into_owned()
}

pub(crate) fn headers(raw: &wd_request) -> &[wd_header] {
    if raw.headers.is_null() || raw.n_headers == 0 {
        return &[];
    }
    // SAFETY: the view's header array has n_headers entries for the request's life.
    unsafe { std::slice::from_raw_parts(raw.headers, raw.n_headers) }
}

pub(crate) fn log(host: &wd_host, req: *const wd_request, level: c_int, msg: &str) {
    // SAFETY: a host function called with a valid message for the call.
    unsafe { (host.log)(req, level, wd_str::from_bytes(msg.as_bytes())) }
}

pub(crate) fn get_var<'a>(host: &wd_host, raw: &'a wd_request, name: &str) -> Option<&'a [u8]> {
    let mut out = wd_str::EMPTY;
    // SAFETY: a live request, a valid name, and a valid out pointer.
    let rc = unsafe { (host.get_var)(raw, wd_str::from_bytes(name.as_bytes()), &mut out) };
    (rc == sys::WD_OK).then(|| borrow(out))
}

pub(crate) fn read(host: &wd_host, raw: &wd_request, buf: &mut [u8]) -> std::io::Result<usize> {
    // SAFETY: a live request and a writable buffer of buf.len() bytes.
    let n = unsafe { (host.read)(raw, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(std::io::Error::other(format!("body read failed ({n})")));
    }
    Ok(n as usize)
}

/// Headers passed to the host from the stack (more go through a Vec).
const INLINE_HEADERS: usize = 16;

pub(crate) fn start(
    host: &wd_host,
    raw: &wd_request,
    status: u16,
    reason: &str,
    headers: &[(&str, &[u8])],
    flags: u32,
) -> Result<(), WriteError> {
    let header = |(n, v): &(&str, &[u8])| wd_header {
        name: wd_str::from_bytes(n.as_bytes()),
        value: wd_str::from_bytes(v),
    };
    // The C array on the stack for any usual response, on the heap past that.
    let mut inline = [wd_header {
        name: wd_str::EMPTY,
        value: wd_str::EMPTY,
    }; INLINE_HEADERS];
    let spilled: Vec<wd_header>;
    let list: &[wd_header] = if headers.len() <= INLINE_HEADERS {
        for (slot, h) in inline.iter_mut().zip(headers) {
            *slot = header(h);
        }
        &inline[..headers.len()]
    } else {
        spilled = headers.iter().map(header).collect();
        &spilled
    };
    // SAFETY: every pointer is valid for the call; the host copies what it keeps.
    let rc = unsafe {
        (host.start)(
            raw,
            status,
            wd_str::from_bytes(reason.as_bytes()),
            list.as_ptr(),
            list.len(),
            flags,
        )
    };
    WriteError::check(rc)
}

pub(crate) fn write(
    host: &wd_host,
    raw: &wd_request,
    data: &[u8],
    flags: u32,
) -> Result<(), WriteError> {
    // SAFETY: a live request and data.len() readable bytes; the host copies them.
    WriteError::check(unsafe { (host.write)(raw, data.as_ptr().cast(), data.len(), flags) })
}

pub(crate) fn send_file(
    host: &wd_host,
    raw: &wd_request,
    file: &std::fs::File,
    offset: u64,
    len: Option<u64>,
    last: bool,
) -> Result<(), WriteError> {
    use std::os::fd::AsRawFd;
    let len = len.map_or(-1, |l| l.min(i64::MAX as u64) as i64);
    let flags = if last { sys::WD_FILE_LAST } else { 0 };
    // SAFETY: the fd is open for the call (the host dup()s it).
    WriteError::check(unsafe {
        (host.send_file)(
            raw,
            file.as_raw_fd(),
            offset.min(i64::MAX as u64) as i64,
            len,
            flags,
        )
    })
}

pub(crate) fn predicate(f: sys::wd_req_predicate_fn, raw: &wd_request) -> bool {
    // SAFETY: a host predicate on a live request.
    unsafe { f(raw) == 1 }
}

pub(crate) fn set_error(host: &wd_host, raw: &wd_request, detail: &str) {
    // SAFETY: a live request and a detail valid for the call (the host copies it).
    unsafe { (host.set_error)(raw, wd_str::from_bytes(detail.as_bytes())) }
}
