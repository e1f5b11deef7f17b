//! An in-process test host: run an `App` through the real ABI path (the same
//! trampolines `export_app!` exports, a real `wd_host` vtable) without a server, and
//! inspect the response. Staging, replacement, commit on the first body byte,
//! Content-Length enforcement and final-write lengths follow the server's rules.
//!
//! ```
//! # use waitressd_sdk::{App, Error, Host, Options, Request};
//! # struct Echo;
//! # impl App for Echo {
//! #     type Thread = ();
//! #     const NAME: &'static str = "echo";
//! #     const VERSION: &'static str = "1";
//! #     fn init(_: &Host, _: &Options) -> Result<Self, Error> { Ok(Echo) }
//! #     fn thread_init(&self, _: u32) -> Result<(), Error> { Ok(()) }
//! #     fn handle(&self, _: &mut (), req: &mut Request<'_>) -> Result<(), Error> {
//! #         let body = req.read_body()?;
//! #         req.respond(200, &[], &body)?;
//! #         Ok(())
//! #     }
//! # }
//! use waitressd_sdk::testing::{TestHost, TestRequest};
//! let mut host = TestHost::<Echo>::new(&[]).unwrap();
//! let resp = host.request(TestRequest::post("/x").body(b"hi"));
//! assert_eq!((resp.status, resp.body.as_slice()), (200, &b"hi"[..]));
//! assert_eq!(resp.header("content-length"), Some("2"));
//! ```
#![allow(unsafe_code)]

use crate::export;
use crate::sys::{self, wd_header, wd_host, wd_opt, wd_request, wd_str};
use crate::{rules, App};
use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::io::Read;
use std::marker::PhantomData;

/// A request to run through a `TestHost`.
#[derive(Debug, Clone)]
pub struct TestRequest {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    protocol: String,
}

impl TestRequest {
    pub fn new(method: &str, target: &str) -> TestRequest {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        TestRequest {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            protocol: "HTTP/1.1".to_string(),
        }
    }
    pub fn get(target: &str) -> TestRequest {
        TestRequest::new("GET", target)
    }
    pub fn post(target: &str) -> TestRequest {
        TestRequest::new("POST", target)
    }
    pub fn head(target: &str) -> TestRequest {
        TestRequest::new("HEAD", target)
    }
    /// Add a header (the name is lower-cased, as the server does).
    pub fn header(mut self, name: &str, value: &str) -> TestRequest {
        self.headers
            .push((name.to_ascii_lowercase(), value.as_bytes().to_vec()));
        self
    }
    pub fn body(mut self, body: &[u8]) -> TestRequest {
        self.body = body.to_vec();
        self
    }
}

/// How the app's `handle` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Failed (WD_ERR or WD_E_FATAL), with the detail the app attached.
    Failed {
        detail: Option<String>,
        fatal: bool,
    },
}

/// What the app produced.
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// 0 if the app never called start.
    pub status: u16,
    pub reason: String,
    /// As the server would send them (`rules::validate_start`: names capitalized,
    /// values trimmed), plus Content-Length when derived from a final write.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body bytes the client would have received (after Content-Length
    /// truncation).
    pub body: Vec<u8>,
    /// The sizes of each non-empty write (chunks, on a chunked response).
    pub writes: Vec<usize>,
    pub committed: bool,
    pub outcome: Outcome,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// Per-request state behind the `wd_request*` the app sees.
struct Exchange {
    body: std::io::Cursor<Vec<u8>>,
    staged: Option<rules::ValidStart>,
    response: TestResponse,
    declared_length: Option<u64>,
    error: Option<String>,
    vars: Vec<(String, Vec<u8>)>,
}

/// `repr(C)` with the view first, so the request pointer leads back to the state.
#[repr(C)]
struct Slot {
    view: wd_request,
    state: RefCell<Exchange>,
}

/// Run `f` on the exchange behind `req`.
fn with<R>(req: *const wd_request, default: R, f: impl FnOnce(&mut Exchange) -> R) -> R {
    if req.is_null() {
        return default;
    }
    // SAFETY: every request pointer this host hands out is the first field of a Slot
    // that lives until handle() returns.
    let slot = unsafe { &*req.cast::<Slot>() };
    match slot.state.try_borrow_mut() {
        Ok(mut state) => f(&mut state),
        Err(_) => default,
    }
}

fn bytes<'a>(s: wd_str) -> &'a [u8] {
    export::borrow(s)
}

unsafe extern "C" fn t_log(_req: *const wd_request, level: c_int, msg: wd_str) {
    if level >= sys::WD_LOG_WARN {
        eprintln!("[app log {level}] {}", String::from_utf8_lossy(bytes(msg)));
    }
}

unsafe extern "C" fn t_log_enabled(_level: c_int) -> c_int {
    1
}

unsafe extern "C" fn t_get_var(req: *const wd_request, name: wd_str, out: *mut wd_str) -> c_int {
    let name = String::from_utf8_lossy(bytes(name)).into_owned();
    with(req, sys::WD_E_STATE, |x| {
        match x.vars.iter().find(|(k, _)| *k == name) {
            Some((_, v)) => {
                // SAFETY: `out` is the app's valid out pointer; the bytes live in the
                // exchange for the rest of the request.
                unsafe { *out = wd_str::from_bytes(v) };
                sys::WD_OK
            }
            None => sys::WD_E_NOTFOUND,
        }
    })
}

unsafe extern "C" fn t_read(req: *const wd_request, buf: *mut c_void, cap: usize) -> isize {
    with(req, sys::WD_E_STATE as isize, |x| {
        if cap == 0 {
            return 0;
        }
        // SAFETY: the app passes `cap` writable bytes.
        let buf = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), cap) };
        x.body
            .read(buf)
            .map_or(sys::WD_E_IO as isize, |n| n as isize)
    })
}

unsafe extern "C" fn t_start(
    req: *const wd_request,
    status: u16,
    reason: wd_str,
    headers: *const wd_header,
    n: usize,
    flags: u32,
) -> c_int {
    let list: &[wd_header] = if n == 0 || headers.is_null() {
        &[]
    } else {
        // SAFETY: the app passes n headers valid for the call.
        unsafe { std::slice::from_raw_parts(headers, n) }
    };
    let reason = bytes(reason);
    with(req, sys::WD_E_STATE, |x| {
        let replace = flags & sys::WD_START_REPLACE != 0;
        if x.response.committed {
            return if replace {
                sys::WD_E_COMMITTED
            } else {
                sys::WD_E_STATE
            };
        }
        if x.staged.is_some() && !replace {
            return sys::WD_E_STATE;
        }
        // The server's own rules, not a copy of them.
        let pairs: Vec<(&[u8], &[u8])> = list
            .iter()
            .map(|h| (bytes(h.name), bytes(h.value)))
            .collect();
        match rules::validate_start(status, reason, &pairs) {
            Ok(valid) => {
                x.staged = Some(valid);
                sys::WD_OK
            }
            Err(_) => sys::WD_E_INVALID,
        }
    })
}

impl Exchange {
    fn commit(&mut self, derived: Option<u64>) {
        if self.response.committed {
            return;
        }
        if let Some(mut staged) = self.staged.take() {
            if staged.content_length.is_none() {
                if let Some(n) = derived {
                    staged.set_content_length(n);
                }
            }
            self.declared_length = staged.content_length;
            self.response.status = staged.status;
            self.response.reason = String::from_utf8_lossy(staged.reason()).into_owned();
            self.response.headers = staged
                .headers()
                .map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), v.to_vec()))
                .collect();
            self.response.committed = true;
        }
    }

    fn append(&mut self, data: &[u8]) -> c_int {
        let mut rc = sys::WD_OK;
        let data = match self.declared_length {
            Some(n) => {
                let room = n.saturating_sub(self.response.body.len() as u64) as usize;
                if data.len() > room {
                    rc = sys::WD_E_LENGTH;
                }
                &data[..data.len().min(room)]
            }
            None => data,
        };
        if !data.is_empty() {
            self.response.writes.push(data.len());
            self.response.body.extend_from_slice(data);
        }
        rc
    }
}

unsafe extern "C" fn t_write(
    req: *const wd_request,
    data: *const c_void,
    len: usize,
    flags: u32,
) -> c_int {
    let data: &[u8] = if len == 0 || data.is_null() {
        &[]
    } else {
        // SAFETY: the app passes len readable bytes.
        unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) }
    };
    with(req, sys::WD_E_STATE, |x| {
        if x.staged.is_none() && !x.response.committed {
            return sys::WD_E_STATE;
        }
        let last = flags & sys::WD_WRITE_FINAL != 0;
        if data.is_empty() && !last {
            return sys::WD_OK;
        }
        x.commit(last.then_some(len as u64));
        x.append(data)
    })
}

unsafe extern "C" fn t_send_file(
    req: *const wd_request,
    fd: c_int,
    offset: i64,
    len: i64,
    flags: u32,
) -> c_int {
    use std::os::unix::fs::FileExt;
    if fd < 0 || offset < 0 {
        return sys::WD_E_INVALID;
    }
    // SAFETY: the app keeps fd open for the call; we only duplicate it.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let Ok(file) = borrowed.try_clone_to_owned().map(std::fs::File::from) else {
        return sys::WD_E_IO;
    };
    let Ok(size) = file.metadata().map(|m| m.len()) else {
        return sys::WD_E_IO;
    };
    let mut len = u64::try_from(len).unwrap_or(size.saturating_sub(offset as u64));
    if (offset as u64).saturating_add(len) > size {
        return sys::WD_E_INVALID; // as the server: the region must lie within the file
    }
    with(req, sys::WD_E_STATE, |x| {
        if x.staged.is_none() && !x.response.committed {
            return sys::WD_E_STATE;
        }
        let last = flags & sys::WD_FILE_LAST != 0;
        if let (Some(staged), true) = (x.staged.as_mut(), last) {
            let body = rules::whole_body_file(staged.content_length, len);
            if body.replace_length {
                staged.remove_content_length();
            }
            len = body.len;
        }
        let mut buf = vec![0u8; len as usize];
        if file.read_exact_at(&mut buf, offset as u64).is_err() {
            return sys::WD_E_IO;
        }
        x.commit(last.then_some(len));
        x.append(&buf)
    })
}

unsafe extern "C" fn t_headers_sent(req: *const wd_request) -> c_int {
    with(req, 0, |x| c_int::from(x.response.committed))
}

unsafe extern "C" fn t_is_disconnected(_req: *const wd_request) -> c_int {
    0
}

unsafe extern "C" fn t_set_error(req: *const wd_request, detail: wd_str) {
    let detail = String::from_utf8_lossy(bytes(detail)).into_owned();
    with(req, (), |x| x.error = Some(detail));
}

/// A leaked (process-lifetime) host table, as the server's is.
fn host_table() -> &'static wd_host {
    Box::leak(Box::new(wd_host {
        struct_size: std::mem::size_of::<wd_host>() as u32,
        abi_major: sys::WD_ABI_MAJOR,
        abi_minor: sys::WD_ABI_MINOR,
        server_software: wd_str::from_bytes(b"waitressd-sdk-testhost"),
        worker_index: 0,
        n_threads: 1,
        log: t_log,
        log_enabled: t_log_enabled,
        get_var: t_get_var,
        read: t_read,
        start: t_start,
        write: t_write,
        send_file: t_send_file,
        headers_sent: t_headers_sent,
        is_disconnected: t_is_disconnected,
        set_error: t_set_error,
    }))
}

/// An app initialized in-process, with one app thread's state.
pub struct TestHost<A: App> {
    app: *mut c_void,
    thread: *mut c_void,
    next_id: u64,
    _app: PhantomData<A>,
}

impl<A: App> TestHost<A> {
    /// Run the app's init (with these --app-opt pairs) and one thread_init.
    pub fn new(opts: &[(&str, &str)]) -> Result<TestHost<A>, String> {
        let host = host_table();
        // Keep libtest's panic output for panics outside the app's code.
        export::chain_panics_outside_app();
        let opts: Vec<wd_opt> = opts
            .iter()
            .map(|(k, v)| wd_opt {
                key: wd_str::from_bytes(k.as_bytes()),
                value: wd_str::from_bytes(v.as_bytes()),
            })
            .collect();
        let mut app = std::ptr::null_mut();
        // SAFETY: the trampoline with a live host table and valid options.
        if unsafe { export::init::<A>(host, opts.as_ptr(), opts.len(), &mut app) } != 0 {
            return Err(format!("{}: init failed", A::NAME));
        }
        let mut thread = std::ptr::null_mut();
        // SAFETY: `app` came from init::<A>.
        if unsafe { export::thread_init::<A>(app, 0, &mut thread) } != 0 {
            // SAFETY: `app` came from init::<A> and is not used again.
            unsafe { export::shutdown::<A>(app) };
            return Err(format!("{}: thread_init failed", A::NAME));
        }
        Ok(TestHost {
            app,
            thread,
            next_id: 1,
            _app: PhantomData,
        })
    }

    /// Run one request through the app's handle().
    pub fn request(&mut self, req: TestRequest) -> TestResponse {
        let id = self.next_id;
        self.next_id += 1;
        let header_list: Vec<wd_header> = req
            .headers
            .iter()
            .map(|(n, v)| wd_header {
                name: wd_str::from_bytes(n.as_bytes()),
                value: wd_str::from_bytes(v),
            })
            .collect();
        let content_type = req
            .headers
            .iter()
            .find(|(n, _)| n == "content-type")
            .map_or(&b""[..], |(_, v)| v.as_slice());
        let uri = if req.query.is_empty() {
            req.path.clone()
        } else {
            format!("{}?{}", req.path, req.query)
        };
        let flags = if req.method == "HEAD" {
            sys::WD_REQ_HEAD
        } else {
            0
        } | sys::WD_REQ_KEEPALIVE;
        let s = |v: &str| wd_str::from_bytes(v.as_bytes());
        let slot = Slot {
            view: wd_request {
                struct_size: std::mem::size_of::<wd_request>() as u32,
                flags,
                id,
                method: s(&req.method),
                uri: s(&uri),
                script_name: wd_str::EMPTY,
                path_info: s(&req.path),
                query_string: s(&req.query),
                protocol: s(&req.protocol),
                url_scheme: s("http"),
                server_name: s("waitress.invalid"),
                server_port: s("80"),
                remote_addr: s("127.0.0.1"),
                remote_port: s("50000"),
                remote_host: s("127.0.0.1"),
                content_type: wd_str::from_bytes(content_type),
                headers: header_list.as_ptr(),
                n_headers: header_list.len(),
                content_length: req.body.len() as i64,
            },
            state: RefCell::new(Exchange {
                body: std::io::Cursor::new(req.body.clone()),
                staged: None,
                response: TestResponse {
                    status: 0,
                    reason: String::new(),
                    headers: Vec::new(),
                    body: Vec::new(),
                    writes: Vec::new(),
                    committed: false,
                    outcome: Outcome::Ok,
                },
                declared_length: None,
                error: None,
                vars: vec![
                    ("REQUEST_METHOD".into(), req.method.clone().into_bytes()),
                    ("REMOTE_PORT".into(), b"50000".to_vec()),
                ],
            }),
        };
        // SAFETY: app/thread from init/thread_init; the view lives until the call
        // returns.
        let rc = unsafe { export::handle::<A>(self.app, self.thread, &slot.view) };
        let mut x = slot.state.into_inner();
        if rc >= 0 {
            // handle() returned: staged headers with no body are committed, empty.
            x.commit(Some(0));
        }
        x.response.outcome = if rc >= 0 {
            Outcome::Ok
        } else {
            Outcome::Failed {
                detail: x.error.clone(),
                fatal: rc == sys::WD_E_FATAL,
            }
        };
        x.response
    }
}

impl<A: App> Drop for TestHost<A> {
    fn drop(&mut self) {
        // SAFETY: thread/app from thread_init/init, each released exactly once.
        unsafe {
            export::thread_exit::<A>(self.app, self.thread);
            export::shutdown::<A>(self.app);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, Host, Options, Request};

    struct Demo {
        greeting: String,
    }

    impl App for Demo {
        type Thread = u32;
        const NAME: &'static str = "demo";
        const VERSION: &'static str = "0";
        fn init(_host: &Host, opts: &Options) -> Result<Self, Error> {
            Ok(Demo {
                greeting: opts.get("greeting").unwrap_or("hi").to_string(),
            })
        }
        fn thread_init(&self, index: u32) -> Result<u32, Error> {
            Ok(index)
        }
        fn handle(&self, count: &mut u32, req: &mut Request<'_>) -> Result<(), Error> {
            *count += 1;
            match req.path_info() {
                b"/panic" => panic!("boom"),
                b"/fail" => Err(Error::new("ValueError: wrong")),
                b"/stream" => {
                    req.start(200, "", &[])?;
                    req.write(b"a")?;
                    req.write(b"bc")?;
                    Ok(())
                }
                b"/restart" => {
                    req.start(200, "", &[])?;
                    req.restart(404, "Nope", &[("X-A", b"1")])?;
                    assert_eq!(req.restart(200, "", &[]), Ok(()));
                    req.restart(410, "", &[])?;
                    req.write(b"x")?;
                    assert_eq!(req.restart(200, "", &[]), Err(crate::WriteError::Committed));
                    Ok(())
                }
                b"/long" => {
                    req.start(200, "", &[("Content-Length", b"2")])?;
                    assert_eq!(req.write(b"abc"), Err(crate::WriteError::Length));
                    Ok(())
                }
                b"/invalid" => {
                    use crate::WriteError::Invalid;
                    let bad = [
                        (99, "", ("X-A", &b"1"[..])),
                        (200, "O\rK", ("X-A", b"1")),
                        (200, "", ("X A", b"1")),
                        (200, "", ("X-A", b"1\n2")),
                        (200, "", ("Transfer-Encoding", b"chunked")),
                    ];
                    for (status, reason, header) in bad {
                        assert_eq!(req.start(status, reason, &[header]), Err(Invalid));
                    }
                    assert_eq!(
                        req.start(200, "", &[("Content-Length", b"x")]),
                        Err(Invalid)
                    );
                    assert_eq!(
                        req.start(
                            200,
                            "",
                            &[("Content-Length", b"1"), ("Content-Length", b"2")]
                        ),
                        Err(Invalid),
                        "two different lengths"
                    );
                    req.start(200, "", &[])?;
                    let file = std::fs::File::open(concat!(
                        env!("CARGO_MANIFEST_DIR"),
                        "/src/testing.rs"
                    ))?;
                    let size = file.metadata()?.len();
                    assert_eq!(req.send_file(&file, size, Some(1), true), Err(Invalid));
                    req.send_file(&file, 0, Some(6), true)?;
                    Ok(())
                }
                b"/file_with_length" => {
                    // A declared length shorter than the file is honoured; a longer
                    // one is replaced by the file's.
                    let file = std::fs::File::open(concat!(
                        env!("CARGO_MANIFEST_DIR"),
                        "/src/testing.rs"
                    ))?;
                    let declared = req.query_string().to_vec();
                    req.start(200, "", &[("Content-Length", &declared)])?;
                    req.send_file(&file, 0, None, true)?;
                    Ok(())
                }
                b"/from_thread" => {
                    // Request is Send: a helper thread may produce the response.
                    std::thread::scope(|s| s.spawn(|| req.respond(200, &[], b"t")).join())
                        .map_err(|_| Error::new("helper thread panicked"))??;
                    Ok(())
                }
                _ => {
                    let body = req.read_body()?;
                    let text = format!("{} {} {}", self.greeting, *count, body.len());
                    req.respond(200, &[("Content-Type", b"text/plain")], text.as_bytes())?;
                    Ok(())
                }
            }
        }
    }

    #[test]
    fn one_shot_respond_sets_content_length() {
        let mut h = TestHost::<Demo>::new(&[("greeting", "hello")]).unwrap();
        let r = h.request(TestRequest::post("/").body(b"12345"));
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"hello 1 5");
        assert_eq!(r.header("content-length"), Some("9"));
        let r = h.request(TestRequest::get("/"));
        assert_eq!(r.body, b"hello 2 0", "thread state persists");
    }

    #[test]
    fn failures_and_panics_carry_their_detail() {
        let mut h = TestHost::<Demo>::new(&[]).unwrap();
        let r = h.request(TestRequest::get("/fail"));
        assert_eq!(
            r.outcome,
            Outcome::Failed {
                detail: Some("ValueError: wrong".into()),
                fatal: false
            }
        );
        let r = h.request(TestRequest::get("/panic"));
        assert_eq!(
            r.outcome,
            Outcome::Failed {
                detail: Some("panic: boom".into()),
                fatal: false
            }
        );
        // The app keeps working after a panic.
        assert_eq!(h.request(TestRequest::get("/")).status, 200);
    }

    #[test]
    fn staging_replacing_and_commit() {
        let mut h = TestHost::<Demo>::new(&[]).unwrap();
        let r = h.request(TestRequest::get("/restart"));
        assert_eq!((r.status, r.body.as_slice()), (410, &b"x"[..]));
        let r = h.request(TestRequest::get("/stream"));
        assert_eq!(r.writes, vec![1, 2]);
        let r = h.request(TestRequest::get("/long"));
        assert_eq!(r.body, b"ab");
        assert_eq!(r.outcome, Outcome::Ok);
    }

    #[test]
    fn refuses_what_the_server_refuses() {
        let mut h = TestHost::<Demo>::new(&[]).unwrap();
        let r = h.request(TestRequest::get("/invalid"));
        assert_eq!(r.outcome, Outcome::Ok);
        assert_eq!(
            (r.body.as_slice(), r.header("content-length")),
            (&b"//! An"[..], Some("6"))
        );
    }

    #[test]
    fn a_file_body_is_cut_to_a_shorter_content_length_and_a_longer_one_replaced() {
        let mut h = TestHost::<Demo>::new(&[]).unwrap();
        let r = h.request(TestRequest::get("/file_with_length?1"));
        assert_eq!(
            (r.body.as_slice(), r.header("content-length")),
            (&b"/"[..], Some("1"))
        );
        let size = std::fs::metadata(concat!(env!("CARGO_MANIFEST_DIR"), "/src/testing.rs"))
            .unwrap()
            .len();
        let r = h.request(TestRequest::get("/file_with_length?99999999"));
        assert_eq!(r.body.len() as u64, size);
        assert_eq!(r.header("content-length"), Some(size.to_string().as_str()));
    }

    #[test]
    fn a_request_can_move_to_another_thread() {
        let mut h = TestHost::<Demo>::new(&[]).unwrap();
        let r = h.request(TestRequest::get("/from_thread"));
        assert_eq!((r.status, r.body.as_slice()), (200, &b"t"[..]));
    }
}
