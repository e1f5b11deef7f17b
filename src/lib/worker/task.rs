//! One request on an app thread (Waitress `task.py`): builds the app's view of the
//! request, calls the app, and turns what the app does — start, write, send_file,
//! return, fail — into framed response segments on the connection's `OutBuf`.
//!
//! The only file that knows both the engine's types (`http`, `conn`, `buffer`) and
//! the app's (`app`). Runs on an app thread; never touches a socket.
use super::access_log::{AccessLog, Record};
use crate::app::{self, App, AppThread, HostError, HostRequest, Outcome, RequestView};
use crate::buffer::{BodyReader, Segment, SpillWriter};
use crate::conn::outbuf::{Completion, OutBuf};
use crate::conn::CompleteRequest;
use crate::http::environ;
use crate::http::proxy::{self, ProxyConfig};
use crate::http::response::{
    encode_chunk, encode_head, validate_start, Exchange, Framing, StagedHead, LAST_CHUNK,
};
use crate::http::{Malformed, RequestError, RequestHead};
use std::cell::OnceCell;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use waitressd_sdk::rules::whole_body_file;

/// Settings and shared state every task of a worker reads.
pub struct TaskSettings {
    pub ident: String,
    pub server_software: String,
    pub expose_tracebacks: bool,
    pub url_scheme: String,
    pub url_prefix: String,
    pub server_name: String,
    pub outbuf_overflow: u64,
    /// Set when the worker is draining: every response says `Connection: close`.
    pub draining: AtomicBool,
    /// Set when an app returned WD_E_FATAL: the worker should be recycled.
    pub fatal: AtomicBool,
    /// Trusted proxy handling (Waitress `proxy_headers.py`).
    pub proxy: ProxyConfig,
    /// Where a line per response goes, if anywhere.
    pub access_log: Option<AccessLog>,
}

/// Where a connection came in and from whom (shared by its requests).
#[derive(Debug)]
pub struct Peer {
    pub remote_addr: String,
    pub remote_port: String,
    /// SERVER_PORT: the port of the listener the connection arrived on.
    pub local_port: String,
}

/// A complete request waiting for an app thread.
pub struct Task {
    id: u64,
    /// When the request was complete and handed to the pool.
    received: Instant,
    request: RequestData,
    body: BodyReader,
    out: Arc<OutBuf>,
    settings: Arc<TaskSettings>,
}

/// Everything the app's view borrows from.
struct RequestData {
    head: RequestHead,
    /// Headers the app sees: names lower-case, those with '_' dropped (Waitress).
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    script_name: Vec<u8>,
    path_info: Vec<u8>,
    query_string: Vec<u8>,
    server_name: Vec<u8>,
    server_port: Vec<u8>,
    url_scheme: Vec<u8>,
    /// REMOTE_ADDR / REMOTE_PORT after trusted proxy headers.
    remote_addr: String,
    remote_port: String,
    content_type: Option<Vec<u8>>,
    /// The request said how long its body is (Content-Length, or chunked framing).
    has_content_length: bool,
    content_length: u64,
    content_length_text: Vec<u8>,
    request_id_text: Vec<u8>,
    flags: u32,
    /// CGI variables for get_var("HTTP_..."), built on first use.
    cgi_headers: OnceCell<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl Task {
    /// Prepare `request` for an app thread; called on the I/O thread.
    pub fn new(
        id: u64,
        request: CompleteRequest,
        peer: Arc<Peer>,
        out: Arc<OutBuf>,
        settings: Arc<TaskSettings>,
    ) -> Result<Task, (RequestError, Arc<OutBuf>)> {
        let CompleteRequest { head, body } = request;
        let content_length = body.len();
        let chunked = head.body == crate::http::BodyKind::Chunked;
        let body = match body.into_reader() {
            Ok(reader) => reader,
            Err(e) => {
                return Err((
                    RequestError::Internal(format!("the request body could not be read back: {e}")),
                    out,
                ))
            }
        };
        let (raw_path, query_string) = environ::split_target(&head.target);
        let decoded = environ::percent_decode(&raw_path);
        let (script_name, path_info) = environ::script_and_path(&decoded, &settings.url_prefix);
        let (server_name, server_port) =
            environ::server_name_and_port(&settings.server_name, &peer.local_port);
        let mut view = proxy::View {
            remote_addr: peer.remote_addr.clone(),
            remote_port: peer.remote_port.clone(),
            url_scheme: settings.url_scheme.clone(),
            server_name,
            server_port,
            // Names with '_' are dropped, as Waitress does, so they cannot pose as
            // a proxy header or any other CGI variable.
            headers: head
                .headers
                .iter()
                .filter(|(name, _)| !name.contains(&b'_'))
                .cloned()
                .collect(),
        };
        match proxy::apply(&settings.proxy, &mut view) {
            Ok(notes) => log_proxy_notes(&notes, &peer.remote_addr),
            Err(m) => {
                log::warn!(
                    "Malformed proxy header \"{}\" from \"{}\": {} value: {}",
                    m.header,
                    peer.remote_addr,
                    m.reason,
                    m.value
                );
                return Err((Malformed::ProxyHeader(m.header.clone()).into(), out));
            }
        }
        let proxy::View {
            remote_addr,
            remote_port,
            url_scheme,
            server_name,
            server_port,
            headers,
        } = view;
        let content_type = head.header(b"content-type").map(<[u8]>::to_vec);
        let has_content_length = chunked || head.header(b"content-length").is_some();
        let mut flags = 0;
        if head.is_head() {
            flags |= app::WD_REQ_HEAD;
        }
        if head.keep_alive {
            flags |= app::WD_REQ_KEEPALIVE;
        }
        if chunked {
            flags |= app::WD_REQ_CHUNKED_IN;
        }
        Ok(Task {
            id,
            received: Instant::now(),
            request: RequestData {
                headers,
                script_name,
                path_info,
                query_string,
                server_name: server_name.into_bytes(),
                server_port: server_port.into_bytes(),
                url_scheme: url_scheme.into_bytes(),
                remote_addr,
                remote_port,
                content_type,
                has_content_length,
                content_length,
                content_length_text: content_length.to_string().into_bytes(),
                request_id_text: id.to_string().into_bytes(),
                flags,
                cgi_headers: OnceCell::new(),
                head,
            },
            body,
            out,
            settings,
        })
    }

    /// Run the app on this (app) thread and finish the response.
    pub fn run(self, app: &App, thread: &mut AppThread) {
        let Task {
            id,
            received,
            request,
            body,
            out,
            settings,
        } = self;
        let exchange = Exchange {
            version: request.head.version,
            keep_alive: request.head.keep_alive,
            is_head: request.head.is_head(),
            force_close: settings.draining.load(Ordering::Relaxed),
        };
        let mut host = HostSide {
            id,
            request: &request,
            body,
            out: &out,
            settings: &settings,
            exchange,
            response: Response::Fresh,
            spill: SpillWriter::default(),
            error_detail: None,
        };
        let _abort_on_unwind = AbortOnUnwind(&out);
        let view = request.view(id);
        let outcome = app.handle(thread, &view, &mut host);
        let completion = host.finish(outcome);
        let (status, bytes) = host.status_and_bytes();
        // Logged before the completion is handed over: the connection's next request
        // (logged by whoever serves it) cannot start before that, so lines keep the
        // order of the requests even when the response went out from this thread.
        if let Some(log) = &settings.access_log {
            log.log(&Record {
                remote: &request.remote_addr,
                method: &request.head.method,
                target: &request.head.target,
                protocol: request.head.version.as_str(),
                status,
                bytes,
                duration: received.elapsed(),
                request_id: id,
                user_agent: request.head.header(b"user-agent"),
                referer: request.head.header(b"referer"),
            });
        }
        out.finish(completion);
    }
}

/// If our own code panics mid-task, the connection is still closed (aborted) instead
/// of waiting forever for a completion that will never come.
struct AbortOnUnwind<'a>(&'a OutBuf);

impl Drop for AbortOnUnwind<'_> {
    fn drop(&mut self) {
        if !self.0.is_finished() {
            self.0.finish(Completion::Abort);
        }
    }
}

impl RequestData {
    fn view(&self, id: u64) -> RequestView<'_> {
        RequestView {
            id,
            flags: self.flags,
            method: self.head.method.as_bytes(),
            uri: &self.head.target,
            script_name: &self.script_name,
            path_info: &self.path_info,
            query_string: &self.query_string,
            protocol: self.head.version.as_str().as_bytes(),
            url_scheme: &self.url_scheme,
            server_name: &self.server_name,
            server_port: &self.server_port,
            remote_addr: self.remote_addr.as_bytes(),
            remote_port: self.remote_port.as_bytes(),
            remote_host: self.remote_addr.as_bytes(),
            content_type: self.content_type.as_deref(),
            has_content_length: self.has_content_length,
            headers: &self.headers,
            content_length: self.content_length as i64,
        }
    }

    /// WSGI's HTTP_* variables: duplicates joined with ", " (Waitress), Content-Type
    /// and Content-Length under their CGI names only.
    fn cgi_headers(&self) -> &[(Vec<u8>, Vec<u8>)] {
        self.cgi_headers.get_or_init(|| {
            let mut vars: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            for (name, value) in &self.headers {
                // Content-Type/-Length have their own names; Transfer-Encoding is
                // the server's business (Waitress pops it: the app sees a body
                // with a CONTENT_LENGTH, however it was framed).
                if name == b"content-type"
                    || name == b"content-length"
                    || name == b"transfer-encoding"
                {
                    continue;
                }
                let key = format!("HTTP_{}", environ::cgi_header_name(name)).into_bytes();
                match vars.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, v)) => {
                        v.extend_from_slice(b", ");
                        v.extend_from_slice(value);
                    }
                    None => vars.push((key, value.clone())),
                }
            }
            vars
        })
    }
}

/// Where the response is, from the app's point of view (PEP 3333 commit rules).
enum Response {
    /// `start()` not called yet.
    Fresh,
    /// Status and headers staged; nothing sent, replaceable.
    Staged(StagedHead),
    /// Headers sent; the body is framed by `framing`.
    Committed(Committed),
}

struct Committed {
    status: u16,
    framing: Framing,
    /// Body bytes the app produced (sent, or counted for HEAD).
    sent: u64,
    /// The head said Connection: close.
    close: bool,
    /// HEAD: body bytes are counted, never sent.
    suppress_body: bool,
    /// The app wrote more than Content-Length (logged once).
    overflowed: bool,
}

/// The `HostRequest` the app's calls reach during `handle()`.
struct HostSide<'a> {
    id: u64,
    request: &'a RequestData,
    body: BodyReader,
    out: &'a Arc<OutBuf>,
    settings: &'a TaskSettings,
    exchange: Exchange,
    response: Response,
    spill: SpillWriter,
    error_detail: Option<String>,
}

impl HostSide<'_> {
    /// For the access log: the status sent and the body bytes produced.
    fn status_and_bytes(&self) -> (u16, u64) {
        match &self.response {
            Response::Committed(c) => (c.status, c.sent),
            Response::Staged(s) => (s.status, 0),
            Response::Fresh => (500, 0),
        }
    }

    /// Queue bytes: in memory below `outbuf_overflow`, else through the spill file.
    fn push(&mut self, bytes: Vec<u8>) -> Result<(), HostError> {
        self.push_as(bytes, false)
    }

    /// As `push`; `last`: the response's final bytes (written at `finish`).
    fn push_as(&mut self, bytes: Vec<u8>, last: bool) -> Result<(), HostError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let segment = if self.out.queued_memory() >= self.settings.outbuf_overflow {
            self.spill.spill(&bytes).map_err(|e| {
                log::error!(
                    "request {}: cannot spill output to a temp file: {e}",
                    self.id
                );
                HostError::Io
            })?
        } else {
            Segment::memory(bytes)
        };
        if last {
            self.out.push_final(segment)
        } else {
            self.out.push(segment)
        }
        .map_err(|_| HostError::Disconnected)
    }

    fn push_segment(&mut self, segment: Segment) -> Result<(), HostError> {
        self.out.push(segment).map_err(|_| HostError::Disconnected)
    }

    /// Send the staged head; `derived_length` is the length of a final write.
    fn commit_head(&mut self, derived_length: Option<u64>) -> Result<Vec<u8>, HostError> {
        let Response::Staged(staged) = &self.response else {
            return Err(HostError::State);
        };
        let derived = if staged.content_length.is_none() {
            derived_length
        } else {
            None
        };
        // Read at commit, not at dispatch: a response of a request that was already
        // running when the worker began draining must still say Connection: close.
        if self.settings.draining.load(Ordering::Relaxed) {
            self.exchange.force_close = true;
        }
        let date = super::current_date();
        let head = encode_head(staged, derived, self.exchange, &self.settings.ident, &date);
        self.response = Response::Committed(Committed {
            status: staged.status,
            framing: head.framing,
            sent: 0,
            close: head.close,
            suppress_body: self.exchange.is_head,
            overflowed: false,
        });
        Ok(head.bytes)
    }

    /// Frame `data` as the next body bytes after `prefix` (the head, when committing
    /// now) and queue them as one segment.
    fn write_body(&mut self, mut bytes: Vec<u8>, data: &[u8], last: bool) -> Result<(), HostError> {
        let id = self.id;
        let Response::Committed(c) = &mut self.response else {
            return Err(HostError::State);
        };
        let mut result = Ok(());
        let data = match c.framing {
            Framing::Length(n) => {
                let allowed = n.saturating_sub(c.sent);
                if (data.len() as u64) > allowed {
                    if !c.overflowed {
                        c.overflowed = true;
                        log::warn!(
                            "request {id}: application-written content exceeded the number of bytes specified by Content-Length header ({n}); the excess was dropped"
                        );
                    }
                    result = Err(HostError::Length);
                    &data[..allowed as usize]
                } else {
                    data
                }
            }
            _ => data,
        };
        c.sent += data.len() as u64;
        if !c.suppress_body && !data.is_empty() {
            match c.framing {
                Framing::Chunked => encode_chunk(data, &mut bytes),
                Framing::Length(_) | Framing::CloseDelimited => bytes.extend_from_slice(data),
                Framing::NoBody => {}
            }
        }
        self.push_as(bytes, last)?;
        result
    }

    /// The app's handle() returned: close the body properly, or fail.
    fn finish(&mut self, outcome: Outcome) -> Completion {
        let path = String::from_utf8_lossy(&self.request.path_info).into_owned();
        if outcome == Outcome::Disconnected {
            log::info!("Client disconnected while serving {path}");
            return Completion::Abort;
        }
        if outcome == Outcome::Fatal {
            self.settings.fatal.store(true, Ordering::Relaxed);
            log::error!(
                "request {}: the app reported a fatal error (WD_E_FATAL); this worker will be recycled",
                self.id
            );
        }
        if outcome != Outcome::Ok {
            let detail = self
                .error_detail
                .clone()
                .unwrap_or_else(|| "the application returned an error".to_string());
            log::error!("Exception while serving {path}: {detail}");
            return self.fail(detail);
        }
        if matches!(self.response, Response::Fresh) {
            let detail = "the application returned without starting a response".to_string();
            log::error!("Exception while serving {path}: {detail}");
            return self.fail(detail);
        }
        if matches!(self.response, Response::Staged(_)) {
            // Nothing was written: the body is known to be empty.
            match self.commit_head(Some(0)) {
                Ok(head) => {
                    if self.push(head).is_err() {
                        return Completion::Abort;
                    }
                }
                Err(_) => return Completion::Abort,
            }
        }
        let Response::Committed(c) = &self.response else {
            return Completion::Abort;
        };
        match c.framing {
            Framing::Chunked => {
                let close = c.close;
                if self.push(LAST_CHUNK.to_vec()).is_err() {
                    return Completion::Abort;
                }
                completion(close)
            }
            // A HEAD response carries no body: an app that writes none (Werkzeug)
            // is not short (Waitress skips the check for HEAD too).
            Framing::Length(n) if c.sent < n && !c.suppress_body => {
                log::warn!(
                    "request {}: application returned too few bytes ({} of Content-Length {n}) for {path}; closing the connection",
                    self.id,
                    c.sent
                );
                Completion::Abort
            }
            Framing::Length(_) | Framing::NoBody => completion(c.close),
            Framing::CloseDelimited => Completion::Close,
        }
    }

    /// The app failed: a 500 if nothing was sent, else cut the connection.
    fn fail(&mut self, detail: String) -> Completion {
        if matches!(self.response, Response::Committed(_)) {
            return Completion::Abort;
        }
        let body = if self.settings.expose_tracebacks {
            detail
        } else {
            "The server encountered an unexpected internal server error".to_string()
        };
        let date = super::current_date();
        let mut bytes = RequestError::Internal(body).to_response(
            self.exchange.version,
            &self.settings.ident,
            &date,
        );
        if self.exchange.is_head {
            if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                bytes.truncate(end + 4);
            }
        }
        // Mark committed so nothing else is sent for this request.
        let error_body = crate::http::response::body_length(&bytes);
        self.response = Response::Committed(Committed {
            status: 500,
            framing: Framing::NoBody,
            sent: error_body,
            close: true,
            suppress_body: true,
            overflowed: false,
        });
        match self.push(bytes) {
            Ok(()) => Completion::Close,
            Err(_) => Completion::Abort,
        }
    }
}

fn log_proxy_notes(notes: &[proxy::Note], peer: &str) {
    for note in notes {
        match note {
            proxy::Note::UnknownForwardedToken(token) => {
                log::warn!("Unknown Forwarded token: {token}")
            }
            proxy::Note::RemovedUntrusted(names) => log::warn!(
                "Removed untrusted headers ({}) from {peer}. Waitress recommends these be removed upstream.",
                names.join(", ")
            ),
        }
    }
}

fn completion(close: bool) -> Completion {
    if close {
        Completion::Close
    } else {
        Completion::KeepAlive
    }
}

impl HostRequest for HostSide<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, HostError> {
        self.body.read(buf).map_err(|e| {
            log::error!("request {}: cannot read the request body: {e}", self.id);
            HostError::Io
        })
    }

    fn seek_body(&mut self, pos: std::io::SeekFrom) -> Result<u64, HostError> {
        use std::io::Seek;
        self.body.seek(pos).map_err(|e| {
            log::error!("request {}: cannot seek in the request body: {e}", self.id);
            HostError::Io
        })
    }

    fn whole_body(&mut self, region: u64) -> Result<u64, HostError> {
        match &mut self.response {
            Response::Fresh => Err(HostError::State),
            Response::Committed(_) => Ok(region),
            Response::Staged(staged) => {
                let body = whole_body_file(staged.content_length, region);
                if staged.content_length.is_none() || body.replace_length {
                    staged.set_content_length(body.len);
                }
                Ok(body.len)
            }
        }
    }

    fn write_would_block(&self, len: usize) -> bool {
        // The head and framing ride along with the data; a little slack covers them.
        let len = len as u64 + 1024;
        self.out.would_block(len)
            || self.out.queued_memory().saturating_add(len) >= self.settings.outbuf_overflow
    }

    fn commit(&mut self) -> Result<(), HostError> {
        match self.response {
            Response::Fresh => Err(HostError::State),
            Response::Committed(_) => Ok(()),
            Response::Staged(_) => {
                let head = self.commit_head(None)?;
                self.push(head)
            }
        }
    }

    fn start(
        &mut self,
        status: u16,
        reason: &[u8],
        headers: &[(&[u8], &[u8])],
        replace: bool,
    ) -> Result<(), HostError> {
        match (&self.response, replace) {
            (Response::Committed(_), true) => return Err(HostError::Committed),
            (Response::Committed(_), false) | (Response::Staged(_), false) => {
                return Err(HostError::State)
            }
            (Response::Fresh, _) | (Response::Staged(_), true) => {}
        }
        let staged = validate_start(status, reason, headers).map_err(|e| {
            log::error!("request {}: start() refused: {e}", self.id);
            HostError::Invalid
        })?;
        self.response = Response::Staged(staged);
        Ok(())
    }

    fn write(&mut self, data: &[u8], last: bool) -> Result<(), HostError> {
        let prefix = match &self.response {
            Response::Fresh => return Err(HostError::State),
            Response::Staged(_) if data.is_empty() && !last => return Ok(()),
            Response::Staged(_) => self.commit_head(last.then_some(data.len() as u64))?,
            Response::Committed(_) => Vec::new(),
        };
        self.write_body(prefix, data, last)
    }

    fn send_file(
        &mut self,
        file: std::fs::File,
        offset: u64,
        len: Option<u64>,
        last: bool,
    ) -> Result<(), HostError> {
        let size = file.metadata().map_err(|_| HostError::Io)?.len();
        let mut len = len.unwrap_or_else(|| size.saturating_sub(offset));
        if offset.saturating_add(len) > size {
            return Err(HostError::Invalid);
        }
        if let (Response::Staged(staged), true) = (&mut self.response, last) {
            // The whole body is this file region: a shorter declared Content-Length is
            // honoured, a longer one replaced by the region's (the ABI's rule).
            let body = whole_body_file(staged.content_length, len);
            if body.replace_length {
                staged.remove_content_length();
            }
            len = body.len;
        }
        let head = match &self.response {
            Response::Fresh => return Err(HostError::State),
            Response::Staged(_) => self.commit_head(last.then_some(len))?,
            Response::Committed(_) => Vec::new(),
        };
        let id = self.id;
        let Response::Committed(c) = &mut self.response else {
            return Err(HostError::State);
        };
        let mut result = Ok(());
        let len = match c.framing {
            Framing::Length(n) if len > n.saturating_sub(c.sent) => {
                if !c.overflowed {
                    c.overflowed = true;
                    log::warn!(
                        "request {id}: application-written content exceeded the number of bytes specified by Content-Length header ({n}); the excess was dropped"
                    );
                }
                result = Err(HostError::Length);
                n.saturating_sub(c.sent)
            }
            _ => len,
        };
        c.sent += len;
        let framing = c.framing;
        if c.suppress_body || framing == Framing::NoBody || len == 0 {
            self.push(head)?;
            return result;
        }
        let mut prefix = head;
        if framing == Framing::Chunked {
            prefix.extend_from_slice(format!("{len:x}\r\n").as_bytes());
        }
        self.push(prefix)?;
        self.push_segment(Segment::File {
            file,
            offset,
            remaining: len,
        })?;
        if framing == Framing::Chunked {
            self.push(b"\r\n".to_vec())?;
        }
        result
    }

    fn headers_sent(&self) -> bool {
        matches!(self.response, Response::Committed(_))
    }

    fn is_disconnected(&self) -> bool {
        self.out.is_disconnected()
    }

    fn var(&self, name: &[u8]) -> Option<&[u8]> {
        let r = self.request;
        let v: &[u8] = match name {
            b"REQUEST_METHOD" => r.head.method.as_bytes(),
            b"REQUEST_URI" => &r.head.target,
            b"SCRIPT_NAME" => &r.script_name,
            b"PATH_INFO" => &r.path_info,
            b"QUERY_STRING" => &r.query_string,
            b"SERVER_PROTOCOL" => r.head.version.as_str().as_bytes(),
            b"SERVER_NAME" => &r.server_name,
            b"SERVER_PORT" => &r.server_port,
            b"SERVER_SOFTWARE" => self.settings.ident.as_bytes(),
            b"REMOTE_ADDR" | b"REMOTE_HOST" => r.remote_addr.as_bytes(),
            b"REMOTE_PORT" => r.remote_port.as_bytes(),
            b"CONTENT_TYPE" => r.content_type.as_deref().unwrap_or_default(),
            b"CONTENT_LENGTH" => &r.content_length_text,
            b"REQUEST_ID" => &r.request_id_text,
            b"wsgi.url_scheme" => &r.url_scheme,
            b"waitress.client_disconnected" => {
                if self.out.is_disconnected() {
                    b"1"
                } else {
                    b"0"
                }
            }
            _ => {
                return r
                    .cgi_headers()
                    .iter()
                    .find(|(k, _)| k.as_slice() == name)
                    .map(|(_, v)| v.as_slice())
            }
        };
        Some(v)
    }

    fn http_vars(&self) -> &[(Vec<u8>, Vec<u8>)] {
        self.request.cgi_headers()
    }

    fn set_error(&mut self, detail: &[u8]) {
        self.error_detail = Some(String::from_utf8_lossy(detail).into_owned());
    }

    fn id(&self) -> u64 {
        self.id
    }
}
