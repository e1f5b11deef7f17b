//! `Request`: one request as the app sees it — the request view (borrowed for the
//! `handle()` call), the body (`io::Read`) and the response (`start`, `write`,
//! `send_file`, `io::Write`). Every method forwards to the host's vtable through
//! `export`, which owns the unsafe calls.
use crate::export;
use crate::sys::{self, wd_request};
use std::ffi::c_int;
use std::fmt;
use std::fs::File;
use std::io;

/// Why a response call failed (the host's `WD_E_*` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteError {
    /// The client is gone: stop producing and return.
    Disconnected,
    /// Bytes beyond the declared Content-Length were dropped.
    Length,
    /// Wrong order (e.g. write before start), or the request is over.
    State,
    /// The headers were already sent: start() can no longer replace them.
    Committed,
    /// A bad status or header (CR/LF, hop-by-hop headers).
    Invalid,
    /// A file could not be used for send_file.
    Io,
    Other(i32),
}

impl WriteError {
    pub(crate) fn check(code: c_int) -> Result<(), WriteError> {
        match code {
            0.. => Ok(()),
            sys::WD_E_DISCONNECTED => Err(WriteError::Disconnected),
            sys::WD_E_LENGTH => Err(WriteError::Length),
            sys::WD_E_STATE => Err(WriteError::State),
            sys::WD_E_COMMITTED => Err(WriteError::Committed),
            sys::WD_E_INVALID => Err(WriteError::Invalid),
            sys::WD_E_IO => Err(WriteError::Io),
            other => Err(WriteError::Other(other)),
        }
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Disconnected => f.write_str("the client disconnected"),
            WriteError::Length => f.write_str("body exceeds the declared Content-Length"),
            WriteError::State => f.write_str("response call out of order"),
            WriteError::Committed => f.write_str("the response headers were already sent"),
            WriteError::Invalid => f.write_str("invalid status or header"),
            WriteError::Io => f.write_str("the file could not be sent"),
            WriteError::Other(c) => write!(f, "host error {c}"),
        }
    }
}

impl std::error::Error for WriteError {}

impl From<WriteError> for io::Error {
    fn from(e: WriteError) -> io::Error {
        let kind = match e {
            WriteError::Disconnected => io::ErrorKind::BrokenPipe,
            WriteError::Invalid => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// One request, borrowed for the duration of `App::handle`.
pub struct Request<'a> {
    raw: &'a wd_request,
    host: &'a sys::wd_host,
}

impl<'a> Request<'a> {
    /// Wrap the host's request view (used by the export trampolines).
    pub fn from_raw(raw: &'a wd_request, host: &'a sys::wd_host) -> Request<'a> {
        Request { raw, host }
    }

    fn s(&self, s: sys::wd_str) -> &'a [u8] {
        export::borrow(s)
    }

    /// REQUEST_METHOD.
    pub fn method(&self) -> &'a [u8] {
        self.s(self.raw.method)
    }
    /// REQUEST_URI: the raw request-target.
    pub fn uri(&self) -> &'a [u8] {
        self.s(self.raw.uri)
    }
    /// SCRIPT_NAME.
    pub fn script_name(&self) -> &'a [u8] {
        self.s(self.raw.script_name)
    }
    /// PATH_INFO, percent-decoded.
    pub fn path_info(&self) -> &'a [u8] {
        self.s(self.raw.path_info)
    }
    /// QUERY_STRING, undecoded.
    pub fn query_string(&self) -> &'a [u8] {
        self.s(self.raw.query_string)
    }
    /// SERVER_PROTOCOL: "HTTP/1.0" or "HTTP/1.1".
    pub fn protocol(&self) -> &'a [u8] {
        self.s(self.raw.protocol)
    }
    /// wsgi.url_scheme.
    pub fn url_scheme(&self) -> &'a [u8] {
        self.s(self.raw.url_scheme)
    }
    pub fn server_name(&self) -> &'a [u8] {
        self.s(self.raw.server_name)
    }
    pub fn server_port(&self) -> &'a [u8] {
        self.s(self.raw.server_port)
    }
    pub fn remote_addr(&self) -> &'a [u8] {
        self.s(self.raw.remote_addr)
    }
    pub fn remote_port(&self) -> &'a [u8] {
        self.s(self.raw.remote_port)
    }
    pub fn remote_host(&self) -> &'a [u8] {
        self.s(self.raw.remote_host)
    }
    /// CONTENT_TYPE ("" when absent).
    pub fn content_type(&self) -> &'a [u8] {
        self.s(self.raw.content_type)
    }
    /// PATH_INFO as text (lossy for non-UTF-8 bytes).
    pub fn path_str(&self) -> String {
        String::from_utf8_lossy(self.path_info()).into_owned()
    }

    /// The body's length (CONTENT_LENGTH).
    pub fn content_length(&self) -> u64 {
        self.raw.content_length.max(0) as u64
    }
    pub fn is_head(&self) -> bool {
        self.raw.flags & sys::WD_REQ_HEAD != 0
    }
    pub fn keep_alive(&self) -> bool {
        self.raw.flags & sys::WD_REQ_KEEPALIVE != 0
    }
    /// Unique within the worker, for log correlation.
    pub fn id(&self) -> u64 {
        self.raw.id
    }

    /// Headers in arrival order: (lower-case name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        export::headers(self.raw)
            .iter()
            .map(|h| (export::borrow(h.name), export::borrow(h.value)))
    }

    /// The first value of a header, by name (any case).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// An extra variable from the host (e.g. "REMOTE_PORT", "HTTP_X_FOO").
    pub fn var(&self, name: &str) -> Option<&'a [u8]> {
        export::get_var(self.host, self.raw, name)
    }

    /// Read the whole body.
    pub fn read_body(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::with_capacity(self.content_length().min(1 << 20) as usize);
        io::Read::read_to_end(self, &mut body)?;
        Ok(body)
    }

    /// Stage the status and headers (nothing is sent until the first body byte).
    /// An empty `reason` gets the standard phrase.
    pub fn start(
        &mut self,
        status: u16,
        reason: &str,
        headers: &[(&str, &[u8])],
    ) -> Result<(), WriteError> {
        export::start(self.host, self.raw, status, reason, headers, 0)
    }

    /// Replace the staged status and headers (WSGI exc_info); fails with
    /// `Committed` once the headers went out.
    pub fn restart(
        &mut self,
        status: u16,
        reason: &str,
        headers: &[(&str, &[u8])],
    ) -> Result<(), WriteError> {
        export::start(
            self.host,
            self.raw,
            status,
            reason,
            headers,
            sys::WD_START_REPLACE,
        )
    }

    /// Queue body bytes; blocks while the client is behind by the high watermark.
    pub fn write(&mut self, data: &[u8]) -> Result<(), WriteError> {
        export::write(self.host, self.raw, data, 0)
    }

    /// The last body bytes: without a Content-Length, the server sets it from this
    /// write and need not use chunked framing.
    pub fn write_final(&mut self, data: &[u8]) -> Result<(), WriteError> {
        export::write(self.host, self.raw, data, sys::WD_WRITE_FINAL)
    }

    /// A whole response in one call.
    pub fn respond(
        &mut self,
        status: u16,
        headers: &[(&str, &[u8])],
        body: &[u8],
    ) -> Result<(), WriteError> {
        self.start(status, "", headers)?;
        self.write_final(body)
    }

    /// Send `len` bytes of `file` from `offset` (None: to the end) with sendfile(2)
    /// from the I/O thread. `last` marks the region as the rest of the body: while
    /// the headers are still staged, a declared Content-Length shorter than the
    /// region is honoured (only that many bytes go out), a longer one is replaced by
    /// the region's length, and without one the region's length is sent
    /// (`rules::whole_body_file`).
    pub fn send_file(
        &mut self,
        file: &File,
        offset: u64,
        len: Option<u64>,
        last: bool,
    ) -> Result<(), WriteError> {
        export::send_file(self.host, self.raw, file, offset, len, last)
    }

    pub fn headers_sent(&self) -> bool {
        export::predicate(self.host.headers_sent, self.raw)
    }

    /// True once the client closed its sending side (read EOF, like Waitress's
    /// `client_disconnected`), reset the connection, or a write to it failed. After a
    /// mere EOF writes still go out (the client may only have half-closed). Poll it in
    /// long-running or streaming handlers.
    pub fn is_disconnected(&self) -> bool {
        export::predicate(self.host.is_disconnected, self.raw)
    }

    /// Attach a failure detail to this request (logged; shown in the 500 body only
    /// with --expose-tracebacks).
    pub fn set_error(&mut self, detail: &str) {
        export::set_error(self.host, self.raw, detail);
    }

    pub fn log(&self, level: crate::Level, msg: &str) {
        export::log(self.host, self.raw, level.code(), msg);
    }
}

impl io::Read for Request<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        export::read(self.host, self.raw, buf)
    }
}

impl io::Write for Request<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Request::write(self, buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
