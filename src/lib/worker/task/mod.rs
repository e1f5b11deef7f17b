//! One request on an app thread (Waitress `task.py`). The I/O thread only bundles a
//! complete request with its connection's `OutBuf` into a `Task` and submits it; the
//! app thread that runs it does all the per-request work: reads the body back,
//! applies trusted proxy headers, builds the app's view (`request`), calls the app,
//! and frames what the app sends (`response`), then logs the access line.
//!
//! The only module that knows both the engine's types (`http`, `conn`, `buffer`) and
//! the app's (`app`). Never touches a socket except through `OutBuf`'s direct write.
mod request;
mod response;

use super::access_log::{AccessLog, Record};
use crate::app::{App, AppThread};
use crate::conn::outbuf::{Completion, OutBuf};
use crate::conn::CompleteRequest;
use crate::http::proxy::ProxyConfig;
use crate::http::{Malformed, RequestError};
use request::Prepared;
use response::HostSide;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

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
    request: CompleteRequest,
    peer: Arc<Peer>,
    out: Arc<OutBuf>,
    settings: Arc<TaskSettings>,
}

impl Task {
    /// Bundle a complete request, `received` at that instant, for the pool (I/O
    /// thread: nothing else is done here, so the I/O thread stays free for I/O).
    pub fn new(
        id: u64,
        request: CompleteRequest,
        peer: Arc<Peer>,
        out: Arc<OutBuf>,
        settings: Arc<TaskSettings>,
        received: Instant,
    ) -> Task {
        Task {
            id,
            received,
            request,
            peer,
            out,
            settings,
        }
    }

    /// When the request was complete and handed to the pool (which times how long
    /// it waits for a thread from this).
    pub fn received(&self) -> Instant {
        self.received
    }

    /// Serve the request on this (app) thread and finish the response.
    pub fn run(self, app: &App, thread: &mut AppThread) {
        let Task {
            id,
            received,
            request,
            peer,
            out,
            settings,
        } = self;
        let guard = AbortOnUnwind(&out);
        let CompleteRequest { head, body } = request;
        let content_length = body.len();
        // What can refuse the request before the app sees it: a body that cannot be
        // read back from its spill file, a malformed trusted proxy header.
        let body = body.into_reader().map_err(|e| {
            RequestError::Internal(format!("the request body could not be read back: {e}"))
        });
        let proxied = request::proxied(&head, &peer, &settings).map_err(|m| {
            log::warn!(
                "Malformed proxy header \"{}\" from \"{}\": {} value: {}",
                m.header,
                peer.remote_addr,
                m.reason,
                m.value
            );
            RequestError::from(Malformed::ProxyHeader(m.header.clone()))
        });
        let (body, proxied, refused) = match (body, proxied) {
            (Ok(body), Ok(proxied)) => (body, proxied, None),
            (Err(e), _) | (_, Err(e)) => (crate::buffer::BodyReader::empty(), None, Some(e)),
        };
        let prepared = Prepared::new(
            id,
            &head,
            &peer,
            &settings,
            proxied.as_ref(),
            content_length,
        );
        let mut host = HostSide::new(id, &prepared, body, &out, &settings);
        let completion = match refused {
            Some(error) => {
                log::warn!("request {id}: {}", error.detail());
                host.reject(&error)
            }
            None => {
                let outcome = app.handle(thread, &prepared.view(), &mut host);
                host.finish(outcome)
            }
        };
        let (status, bytes) = host.status_and_bytes();
        // Logged before the completion is handed over: the connection's next request
        // (logged by whoever serves it) cannot start before that, so lines keep the
        // order of the requests even when the response went out from this thread.
        if let Some(log) = &settings.access_log {
            log.log(&Record {
                remote: prepared.remote_addr,
                method: head.method(),
                target: head.target(),
                protocol: head.version.as_str(),
                status,
                bytes,
                duration: received.elapsed(),
                request_id: id,
                user_agent: head.header(b"user-agent"),
                referer: head.header(b"referer"),
            });
        }
        drop(host);
        // After `finish` the OutBuf belongs to the connection's next request: disarm
        // the guard first, so nothing of this task touches it again.
        std::mem::forget(guard);
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
