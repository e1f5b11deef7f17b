//! The response side of one request, on the app thread (Waitress `task.py`): the
//! `HostRequest` the app's calls reach, and the PEP 3333 commit rules that turn
//! start, write, send_file, return and failure into framed segments on the
//! connection's `OutBuf`.
use super::request::Prepared;
use super::TaskSettings;
use crate::app::{HostError, HostRequest, Outcome};
use crate::buffer::{BodyReader, Segment, SpillWriter};
use crate::conn::outbuf::{Completion, OutBuf};
use crate::http::response::{
    encode_chunk, encode_head, validate_start, Exchange, Framing, StagedHead, LAST_CHUNK,
};
use crate::http::RequestError;
use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use waitressd_sdk::rules::whole_body_file;

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
/// From this size on, a body write is sent from the app's buffer where the socket
/// takes it (`OutBuf::push_through`) instead of being copied first: above it the
/// copy (and the fresh pages a large buffer needs) costs more than the write.
const WRITE_THROUGH: usize = 64 * 1024;

pub(super) struct HostSide<'a> {
    id: u64,
    request: &'a Prepared<'a>,
    body: BodyReader,
    out: &'a Arc<OutBuf>,
    settings: &'a TaskSettings,
    exchange: Exchange,
    response: Response,
    spill: SpillWriter,
    error_detail: Option<String>,
}

impl<'a> HostSide<'a> {
    pub fn new(
        id: u64,
        request: &'a Prepared<'a>,
        body: BodyReader,
        out: &'a Arc<OutBuf>,
        settings: &'a TaskSettings,
    ) -> HostSide<'a> {
        let head = request.head;
        HostSide {
            id,
            request,
            body,
            out,
            settings,
            exchange: Exchange {
                version: head.version,
                keep_alive: head.keep_alive,
                is_head: head.is_head(),
                force_close: settings.draining.load(Ordering::Relaxed),
            },
            response: Response::Fresh,
            spill: SpillWriter::default(),
            error_detail: None,
        }
    }

    /// For the access log: the status sent and the body bytes produced.
    pub fn status_and_bytes(&self) -> (u16, u64) {
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
    /// `reserve`: bytes the caller appends to the head (the first body bytes).
    fn commit_head(
        &mut self,
        derived_length: Option<u64>,
        reserve: usize,
    ) -> Result<Vec<u8>, HostError> {
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
        let head = crate::worker::with_date(|date| {
            encode_head(
                staged,
                derived,
                self.exchange,
                &self.settings.ident,
                date,
                reserve,
            )
        });
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
        let whole = matches!(c.framing, Framing::Length(_) | Framing::CloseDelimited);
        if whole && !c.suppress_body && data.len() >= WRITE_THROUGH {
            let spilling = self.out.queued_memory() >= self.settings.outbuf_overflow;
            if !spilling {
                self.out
                    .push_through(bytes, data)
                    .map_err(|_| HostError::Disconnected)?;
                return result;
            }
        }
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
    pub fn finish(&mut self, outcome: Outcome) -> Completion {
        if outcome == Outcome::Disconnected {
            let path = self.request.path_text();
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
        let path = || self.request.path_text();
        if outcome != Outcome::Ok {
            let path = path();
            let detail = self
                .error_detail
                .clone()
                .unwrap_or_else(|| "the application returned an error".to_string());
            log::error!("Exception while serving {path}: {detail}");
            return self.fail(detail);
        }
        if matches!(self.response, Response::Fresh) {
            let detail = "the application returned without starting a response".to_string();
            log::error!("Exception while serving {}: {detail}", path());
            return self.fail(detail);
        }
        if matches!(self.response, Response::Staged(_)) {
            // Nothing was written: the body is known to be empty.
            match self.commit_head(Some(0), 0) {
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
                    "request {}: application returned too few bytes ({} of Content-Length {n}) for {}; closing the connection",
                    self.id,
                    c.sent,
                    path()
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
        self.reject(&RequestError::Internal(body))
    }

    /// Answer the request with an error response of the server's own, before the
    /// app has sent anything (the request cannot be served, or the app failed).
    pub fn reject(&mut self, error: &RequestError) -> Completion {
        let response = crate::worker::with_date(|date| {
            error.to_response(
                self.exchange.version,
                self.exchange.is_head,
                &self.settings.ident,
                date,
            )
        });
        // Marked committed so nothing else is sent for this request.
        self.response = Response::Committed(Committed {
            status: response.status,
            framing: Framing::NoBody,
            sent: response.body_bytes,
            close: true,
            suppress_body: true,
            overflowed: false,
        });
        match self.push(response.bytes) {
            Ok(()) => Completion::Close,
            Err(_) => Completion::Abort,
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
                let head = self.commit_head(None, 0)?;
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
            Response::Staged(_) => {
                // The head carries a small body along; a large one goes out from the
                // app's buffer (`write_body`).
                let reserve = if data.len() < WRITE_THROUGH {
                    data.len() + 16
                } else {
                    0
                };
                self.commit_head(last.then_some(data.len() as u64), reserve)?
            }
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
            Response::Staged(_) => self.commit_head(last.then_some(len), 16)?,
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
        self.request
            .var(name, &self.settings.ident, self.out.is_disconnected())
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
