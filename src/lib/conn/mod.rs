//! `Conn`: one client connection's state machine, sans I/O — the I/O-thread half of
//! Waitress's `channel.py`.
//!
//! The event loop feeds it the bytes it read (`received`, `eof`) and asks it what to do
//! next (`step`): hand a complete request to the app pool, write output, close, or
//! wait. It never touches a socket, a thread or a clock. Requests are parsed ahead
//! only up to `channel_request_lookahead` while one is being served, and responses
//! go out strictly in request order because only one request per connection is ever
//! in the hands of the app.
pub mod outbuf;

use crate::buffer::{OutQueue, Segment, SpillBuffer};
use crate::http::{
    BodyDecoder, BodyKind, HeadScan, Limits, ParseStatus, RequestError, RequestHead, Version,
};
use outbuf::{Completion, OutBuf};
use std::collections::VecDeque;
use std::sync::Arc;

/// How much unparsed input a connection buffers while a request is being served and
/// the lookahead is full. Past it the I/O thread stops reading (TCP pushes back).
const READ_AHEAD_BYTES: usize = 64 * 1024;

/// The interim response to `Expect: 100-continue` (RFC 9110 §10.1.1).
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The settings a connection needs (copied from `Config` once per worker).
#[derive(Debug, Clone)]
pub struct ConnSettings {
    pub limits: Limits,
    pub inbuf_overflow: u64,
    pub lookahead: usize,
    pub ident: String,
}

/// A request whose head and body have fully arrived.
pub struct CompleteRequest {
    pub head: RequestHead,
    pub body: SpillBuffer,
}

/// What the event loop should do next for this connection.
pub enum Step {
    /// Give this request to the app pool, then call `serving` with its OutBuf.
    Dispatch(CompleteRequest),
    /// `output()` holds bytes to write.
    Write,
    /// Everything is said: close the connection, in this way.
    Close(CloseKind),
    /// Nothing to do until more input, output, or a completion arrives.
    Wait,
}

/// How a connection that has said everything should be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseKind {
    /// The client has sent all it will (it asked to close, or closed its side, or sat
    /// idle between requests): close at once.
    Clean,
    /// Client bytes may still be in flight — an unread request body, or requests
    /// pipelined behind a response that ended the connection: shut down our side and
    /// read and discard until the client closes, so those bytes do not turn our last
    /// response into a reset (nginx `lingering_close`).
    Linger,
}

/// The state of `Expect: 100-continue` for the request whose body is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Nothing,
    /// The client waits for "100 Continue" before sending the body.
    Pending,
    Sent,
}

/// The request side.
enum ReadState {
    /// Waiting for (the rest of) a request head.
    Head,
    /// Reading the body of `head`.
    Body {
        head: RequestHead,
        decoder: BodyDecoder,
        body: SpillBuffer,
        expect: Expect,
    },
    /// Nothing more will be parsed: the client closed its side, or sent a bad
    /// request (nothing pipelined after a bad request is served).
    Stopped,
}

/// A parsed item waiting for its turn, in arrival order.
enum Ready {
    Request {
        request: CompleteRequest,
        /// `Pending` when the client's expectation is still to be answered.
        expect: Expect,
    },
    Error {
        error: RequestError,
        version: Version,
    },
}

/// The response side.
enum WriteState {
    /// No response in progress.
    Idle,
    /// An app thread is producing the response into `out`; `completion` is set once
    /// it has finished (the response is over when `output` is also empty).
    Serving {
        out: Arc<OutBuf>,
        completion: Option<Completion>,
    },
    /// Write what is in `output`, then close.
    Closing(CloseKind),
}

pub struct Conn {
    settings: Arc<ConnSettings>,
    inbuf: Vec<u8>,
    /// How much of the head arriving in `inbuf` has been checked already.
    head_scan: HeadScan,
    read: ReadState,
    ready: VecDeque<Ready>,
    write: WriteState,
    output: OutQueue,
    peer_eof: bool,
    /// The request dispatched last asked to be the client's last (`Connection:
    /// close`, or HTTP/1.0 without keep-alive): after it, nothing more should come.
    client_said_close: bool,
    /// A request this connection answered itself (bad input, or a server-side
    /// failure such as a spill file that could not be written).
    rejected: Option<Rejection>,
}

/// What the connection answered on its own, for the access log and the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    /// Bytes of the error body sent.
    pub bytes: u64,
    /// What failed, when the failure was ours (a spill file that could not be
    /// written) rather than the client's input.
    pub server_fault: Option<String>,
}

impl Conn {
    pub fn new(settings: Arc<ConnSettings>) -> Conn {
        Conn {
            settings,
            inbuf: Vec::new(),
            head_scan: HeadScan::default(),
            read: ReadState::Head,
            ready: VecDeque::new(),
            write: WriteState::Idle,
            output: OutQueue::default(),
            peer_eof: false,
            client_said_close: false,
            rejected: None,
        }
    }

    // ----- input -----

    /// Whether the event loop should read more from the socket now.
    pub fn wants_read(&self) -> bool {
        if self.peer_eof || matches!(self.read, ReadState::Stopped) {
            return false;
        }
        self.can_parse_head() || self.inbuf.len() < READ_AHEAD_BYTES
    }

    /// Bytes arrived from the client.
    pub fn received(&mut self, data: &[u8]) {
        if matches!(self.read, ReadState::Stopped) {
            return; // after a bad request or EOF nothing more is read
        }
        self.inbuf.extend_from_slice(data);
        self.parse();
    }

    /// The client closed its sending side. Requests already complete are still
    /// answered; a partial request is dropped (there is no one to answer it for).
    pub fn eof(&mut self) {
        self.peer_eof = true;
        if let WriteState::Serving { out, .. } = &self.write {
            out.peer_done_sending();
        }
        self.parse();
    }

    /// After EOF, input that cannot become a complete request is dropped.
    fn stop_if_starved(&mut self) {
        if self.peer_eof {
            self.read = ReadState::Stopped;
            self.inbuf = Vec::new();
        }
    }

    /// Whether the client has closed its sending side.
    pub fn peer_eof(&self) -> bool {
        self.peer_eof
    }

    /// Nothing is being served or waiting: only such connections time out
    /// (Waitress `maintenance`: channels with requests in progress are kept).
    pub fn is_idle(&self) -> bool {
        matches!(self.write, WriteState::Idle) && self.ready.is_empty() && self.output.is_empty()
    }

    /// Part of a request head has arrived and the rest has not: the state the
    /// request-head timeout bounds (slowloris).
    pub fn is_receiving_head(&self) -> bool {
        matches!(self.read, ReadState::Head) && !self.inbuf.is_empty() && self.can_parse_head()
    }

    /// The head did not complete within request_head_timeout: answer 408 in turn
    /// and read nothing more.
    pub fn head_timed_out(&mut self) {
        if self.is_receiving_head() {
            let version = guess_version(&self.inbuf);
            self.fail(RequestError::RequestTimeout, version);
        }
    }

    /// Idle and no partial request either: a keep-alive connection between requests.
    pub fn is_between_requests(&self) -> bool {
        self.is_idle() && matches!(self.read, ReadState::Head) && self.inbuf.is_empty()
    }

    fn can_parse_head(&self) -> bool {
        let serving = usize::from(!matches!(self.write, WriteState::Idle));
        self.ready.len() + serving <= self.settings.lookahead
    }

    /// Parse as far as the input and the lookahead allow.
    fn parse(&mut self) {
        loop {
            match &mut self.read {
                ReadState::Stopped => return,
                ReadState::Head => {
                    if !self.can_parse_head() {
                        return; // buffered requests wait for their turn, even after EOF
                    }
                    if self.inbuf.is_empty() {
                        self.stop_if_starved();
                        return;
                    }
                    match self.head_scan.parse(&self.inbuf, &self.settings.limits) {
                        Ok(ParseStatus::Partial) => {
                            self.stop_if_starved();
                            return;
                        }
                        Ok(ParseStatus::Complete { head, consumed }) => {
                            self.inbuf.drain(..consumed);
                            self.start_body(head);
                        }
                        Err(error) => {
                            let version = guess_version(&self.inbuf);
                            self.fail(error, version);
                            return;
                        }
                    }
                }
                ReadState::Body {
                    decoder,
                    body,
                    head,
                    ..
                } => {
                    let mut used = 0;
                    let mut failure = None;
                    let mut done = false;
                    while used < self.inbuf.len() {
                        match decoder.decode(&self.inbuf[used..]) {
                            Ok(d) => {
                                if let Err(e) = body.write(d.data) {
                                    failure = Some(RequestError::Internal(format!(
                                        "the request body could not be buffered: {e}"
                                    )));
                                    break;
                                }
                                used += d.consumed;
                                if d.done {
                                    done = true;
                                    break;
                                }
                                if d.consumed == 0 {
                                    break;
                                }
                            }
                            Err(e) => {
                                failure = Some(e);
                                break;
                            }
                        }
                    }
                    // A zero-length body (Content-Length: 0 is Empty, but a chunked
                    // body may end in its first bytes) is complete as soon as decoded.
                    if !done && decoder.is_done() {
                        done = true;
                    }
                    self.inbuf.drain(..used);
                    if let Some(error) = failure {
                        let version = head.version;
                        self.fail(error, version);
                        return;
                    }
                    if !done {
                        self.stop_if_starved();
                        return;
                    }
                    let ReadState::Body {
                        head, body, expect, ..
                    } = std::mem::replace(&mut self.read, ReadState::Head)
                    else {
                        unreachable!("matched Body above")
                    };
                    self.ready.push_back(Ready::Request {
                        request: CompleteRequest { head, body },
                        expect,
                    });
                }
            }
        }
    }

    /// A head arrived: queue it if it has no body, else start reading the body.
    fn start_body(&mut self, head: RequestHead) {
        let overflow = self.settings.inbuf_overflow;
        let max_body = self.settings.limits.max_request_body_size;
        // Waitress answers the expectation of every HTTP/1.1 request that has one,
        // even when the body came with the head (RFC 9110 §10.1.1 allows both).
        let expect = if head.expect_continue && head.version == Version::Http11 {
            Expect::Pending
        } else {
            Expect::Nothing
        };
        match (head.body, BodyDecoder::new(head.body, max_body)) {
            (BodyKind::Empty, _) | (_, None) => {
                let body = SpillBuffer::new(overflow);
                self.ready.push_back(Ready::Request {
                    request: CompleteRequest { head, body },
                    expect,
                });
            }
            (_, Some(decoder)) => {
                self.read = ReadState::Body {
                    head,
                    decoder,
                    body: SpillBuffer::new(overflow),
                    expect,
                };
            }
        }
    }

    /// A bad request: answer it in turn, and read nothing more.
    fn fail(&mut self, error: RequestError, version: Version) {
        self.read = ReadState::Stopped;
        self.inbuf = Vec::new();
        self.ready.push_back(Ready::Error { error, version });
    }

    // ----- output -----

    /// Whether work waits behind the response being served (pipelined input, or a
    /// client that has finished sending): the I/O thread wants to hear of the
    /// response's end at once (`OutBuf`'s prompt).
    pub fn work_behind(&self) -> bool {
        !self.ready.is_empty() || !self.inbuf.is_empty() || self.peer_eof
    }

    /// The request returned by `Step::Dispatch` is now served by an app thread
    /// writing into `out`. The I/O thread need not look at `out` again until the
    /// app thread notifies it (or it has read more input): `out` was made with the
    /// prompt `work_behind` gives now.
    pub fn serving(&mut self, out: Arc<OutBuf>) {
        debug_assert!(matches!(self.write, WriteState::Idle), "serving while busy");
        if self.peer_eof {
            out.peer_done_sending();
        }
        self.write = WriteState::Serving {
            out,
            completion: None,
        };
    }

    /// What to do next. `date` is the current HTTP date (for error responses).
    pub fn step(&mut self, date: &str) -> Step {
        loop {
            let prompt = self.work_behind();
            match &mut self.write {
                WriteState::Serving { out, completion } => {
                    if completion.is_none() {
                        *completion = out.take(&mut self.output, prompt);
                    }
                    if !self.output.is_empty() {
                        return Step::Write;
                    }
                    match *completion {
                        None => return Step::Wait,
                        Some(Completion::KeepAlive) => {
                            self.write = WriteState::Idle;
                            self.parse();
                        }
                        Some(Completion::Close | Completion::Abort) => {
                            self.write = WriteState::Closing(self.close_kind());
                        }
                    }
                }
                WriteState::Closing(kind) => {
                    return if self.output.is_empty() {
                        Step::Close(*kind)
                    } else {
                        Step::Write
                    };
                }
                WriteState::Idle => {
                    if !self.output.is_empty() {
                        return Step::Write;
                    }
                    match self.ready.pop_front() {
                        Some(Ready::Request { request, expect }) => {
                            if expect == Expect::Pending {
                                // Still unanswered (the body arrived before its turn
                                // came): the interim response precedes the final one.
                                self.output.push(Segment::memory(CONTINUE.to_vec()));
                            }
                            self.client_said_close = !request.head.keep_alive;
                            return Step::Dispatch(request);
                        }
                        Some(Ready::Error { error, version }) => {
                            let response =
                                error.to_response(version, false, &self.settings.ident, date);
                            self.rejected = Some(Rejection {
                                status: response.status,
                                bytes: response.body_bytes,
                                server_fault: error
                                    .is_server_fault()
                                    .then(|| error.detail().into_owned()),
                            });
                            self.output.push(Segment::memory(response.bytes));
                            // The rest of a rejected request may still be arriving.
                            self.write = WriteState::Closing(CloseKind::Linger);
                        }
                        None => {
                            if let ReadState::Body { expect, .. } = &mut self.read {
                                if *expect == Expect::Pending {
                                    *expect = Expect::Sent;
                                    self.output.push(Segment::memory(CONTINUE.to_vec()));
                                    continue;
                                }
                            }
                            if matches!(self.read, ReadState::Stopped) {
                                return Step::Close(self.close_kind());
                            }
                            return Step::Wait;
                        }
                    }
                }
            }
        }
    }

    /// A request this connection answered itself since the last call.
    pub fn take_rejection(&mut self) -> Option<Rejection> {
        self.rejected.take()
    }

    /// The queued output, front first, for the event loop to write.
    pub fn output(&mut self) -> &mut OutQueue {
        &mut self.output
    }

    /// `bytes` of output were written (`memory_bytes` of them from memory segments);
    /// finished segments must already be popped by the caller.
    pub fn wrote(&mut self, bytes: u64, memory_bytes: u64) {
        if let WriteState::Serving { out, .. } = &self.write {
            out.written(bytes, memory_bytes);
        }
    }

    /// The peer is gone (reset or write error): stop the app's writes.
    pub fn disconnect(&mut self) {
        if let WriteState::Serving { out, .. } = &self.write {
            out.disconnect();
        }
        self.output.clear();
        self.read = ReadState::Stopped;
        self.write = WriteState::Closing(CloseKind::Clean);
    }

    /// After the response that ends this connection: may the client still be
    /// sending? Not once it closed its side, nor after a request that said it was
    /// its last with nothing behind it.
    fn close_kind(&self) -> CloseKind {
        let nothing_behind = self.inbuf.is_empty()
            && self.ready.is_empty()
            && !matches!(self.read, ReadState::Body { .. });
        if self.peer_eof || (self.client_said_close && nothing_behind) {
            CloseKind::Clean
        } else {
            CloseKind::Linger
        }
    }

    /// Whether an app thread is still working on this connection's request.
    pub fn is_serving(&self) -> bool {
        matches!(
            self.write,
            WriteState::Serving {
                completion: None,
                ..
            }
        )
    }
}

/// The version to answer a request that failed to parse with: HTTP/1.0 only when the
/// request line clearly says so, else HTTP/1.1 (RFC 9110 §6.2: our highest version).
fn guess_version(inbuf: &[u8]) -> Version {
    let line_end = inbuf
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(inbuf.len());
    let line = &inbuf[..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.ends_with(b" HTTP/1.0") {
        Version::Http10
    } else {
        Version::Http11
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::outbuf::Notify;

    struct NoNotify;
    impl Notify for NoNotify {
        fn notify(&self, _token: usize) {}
    }

    fn settings(lookahead: usize) -> Arc<ConnSettings> {
        Arc::new(ConnSettings {
            limits: Limits {
                max_request_header_size: 8192,
                max_request_body_size: 1 << 20,
            },
            inbuf_overflow: 1 << 16,
            lookahead,
            ident: "waitress".into(),
        })
    }

    fn drain_output(conn: &mut Conn) -> Vec<u8> {
        let all = conn.output().memory_contents();
        conn.output().clear();
        all
    }

    fn serve(conn: &mut Conn, body: &[u8], completion: Completion) {
        let out = Arc::new(OutBuf::new(0, 1 << 20, Arc::new(NoNotify)));
        conn.serving(out.clone());
        out.push(Segment::memory(body.to_vec())).unwrap();
        out.finish(completion);
    }

    #[test]
    fn pipelined_requests_are_dispatched_one_at_a_time_in_order() {
        let mut c = Conn::new(settings(0));
        c.received(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
        let Step::Dispatch(a) = c.step("d") else {
            panic!("expected /a")
        };
        assert_eq!(a.head.target(), b"/a");
        serve(&mut c, b"A", Completion::KeepAlive);
        assert!(matches!(c.step("d"), Step::Write));
        assert_eq!(drain_output(&mut c), b"A");
        let Step::Dispatch(b) = c.step("d") else {
            panic!("expected /b")
        };
        assert_eq!(b.head.target(), b"/b");
    }

    #[test]
    fn nothing_after_a_bad_request_is_served() {
        let mut c = Conn::new(settings(5));
        c.received(
            b"GET /a HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert!(matches!(c.step("d"), Step::Write));
        let out = drain_output(&mut c);
        assert!(out.starts_with(b"HTTP/1.1 400 Bad Request\r\n"), "{out:?}");
        assert!(matches!(c.step("d"), Step::Close(_)));
    }

    #[test]
    fn continue_is_sent_before_the_body_is_awaited() {
        let mut c = Conn::new(settings(0));
        c.received(
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        );
        assert!(matches!(c.step("d"), Step::Write));
        assert_eq!(drain_output(&mut c), CONTINUE);
        assert!(matches!(c.step("d"), Step::Wait));
        c.received(b"abc");
        let Step::Dispatch(r) = c.step("d") else {
            panic!("expected a request")
        };
        assert_eq!(r.body.len(), 3);
    }

    #[test]
    fn continue_is_sent_even_when_the_body_came_with_the_head() {
        let mut c = Conn::new(settings(0));
        c.received(
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
        );
        let Step::Dispatch(r) = c.step("d") else {
            panic!("expected a request")
        };
        assert_eq!(r.body.len(), 3);
        serve(&mut c, b"R", Completion::KeepAlive);
        assert!(matches!(c.step("d"), Step::Write));
        let mut expected = CONTINUE.to_vec();
        expected.extend_from_slice(b"R");
        assert_eq!(drain_output(&mut c), expected);
    }

    #[test]
    fn no_continue_for_http10_or_without_the_expectation() {
        for head in [
            &b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx"[..],
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx",
        ] {
            let mut c = Conn::new(settings(0));
            c.received(head);
            let Step::Dispatch(_) = c.step("d") else {
                panic!("expected a request")
            };
            serve(&mut c, b"R", Completion::KeepAlive);
            assert!(matches!(c.step("d"), Step::Write));
            assert_eq!(drain_output(&mut c), b"R");
        }
    }

    #[test]
    fn a_connection_closes_cleanly_only_when_nothing_more_can_come() {
        // The client asked to close and sent nothing behind its request.
        let mut c = Conn::new(settings(0));
        c.received(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let Step::Dispatch(_) = c.step("d") else {
            panic!("expected a request")
        };
        serve(&mut c, b"R", Completion::Close);
        assert!(matches!(c.step("d"), Step::Write));
        drain_output(&mut c);
        assert!(matches!(c.step("d"), Step::Close(CloseKind::Clean)));
        // A keep-alive request that the server ends (draining, an app failure): the
        // client may have pipelined more.
        let mut c = Conn::new(settings(0));
        c.received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let Step::Dispatch(_) = c.step("d") else {
            panic!("expected a request")
        };
        serve(&mut c, b"R", Completion::Close);
        assert!(matches!(c.step("d"), Step::Write));
        drain_output(&mut c);
        assert!(matches!(c.step("d"), Step::Close(CloseKind::Linger)));
        // A rejected request: the rest of its body may be on its way.
        let mut c = Conn::new(settings(0));
        c.received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n");
        assert!(matches!(c.step("d"), Step::Write));
        drain_output(&mut c);
        assert!(matches!(c.step("d"), Step::Close(CloseKind::Linger)));
    }

    #[test]
    fn eof_after_complete_request_still_answers_then_closes() {
        let mut c = Conn::new(settings(0));
        c.received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        c.eof();
        let Step::Dispatch(_) = c.step("d") else {
            panic!("expected a request")
        };
        serve(&mut c, b"R", Completion::KeepAlive);
        assert!(matches!(c.step("d"), Step::Write));
        drain_output(&mut c);
        assert!(matches!(c.step("d"), Step::Close(_)));
    }

    #[test]
    fn eof_keeps_pipelined_requests_waiting_behind_the_lookahead() {
        let mut c = Conn::new(settings(0));
        c.received(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c");
        c.eof();
        for path in [&b"/a"[..], b"/b"] {
            let Step::Dispatch(r) = c.step("d") else {
                panic!("expected {path:?}")
            };
            assert_eq!(r.head.target(), path);
            serve(&mut c, b"R", Completion::KeepAlive);
            assert!(matches!(c.step("d"), Step::Write));
            assert_eq!(drain_output(&mut c), b"R");
        }
        // "/c" can never complete: dropped, and the connection closes.
        assert!(matches!(c.step("d"), Step::Close(_)));
    }

    /// Valid requests of every framing, alone and pipelined.
    const VALID: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /a?b=c HTTP/1.0\r\n\r\n",
        b"\r\nGET / HTTP/1.1\r\nHost: x\r\nX-A:  v \r\nX-A: w\r\n\r\n",
        b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
        b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b c\"\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET http://x/y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"PUT /u HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
        b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiGET /3 HTTP/1.1\r\nHost: x\r\n\r\n",
    ];

    /// Feed `pieces` to a fresh connection and serve every request; returns what
    /// the app would see: (method, target, body) per request, in order.
    fn requests_seen(pieces: &[&[u8]]) -> Vec<(String, Vec<u8>, Vec<u8>)> {
        use std::io::Read;
        let mut c = Conn::new(settings(8));
        let mut seen = Vec::new();
        let drain = |c: &mut Conn, seen: &mut Vec<(String, Vec<u8>, Vec<u8>)>| {
            for _ in 0..64 {
                match c.step("d") {
                    Step::Dispatch(r) => {
                        let CompleteRequest { head, body } = r;
                        let mut bytes = Vec::new();
                        body.into_reader().unwrap().read_to_end(&mut bytes).unwrap();
                        seen.push((head.method().to_string(), head.target().to_vec(), bytes));
                        serve(c, b"R", Completion::KeepAlive);
                    }
                    Step::Write => {
                        drain_output(c);
                    }
                    Step::Wait | Step::Close(_) => return,
                }
            }
        };
        for piece in pieces {
            c.received(piece);
            drain(&mut c, &mut seen);
        }
        c.eof();
        drain(&mut c, &mut seen);
        seen
    }

    #[test]
    fn every_split_and_byte_at_a_time_give_what_whole_input_gives() {
        for input in VALID {
            let whole = requests_seen(&[input]);
            assert!(!whole.is_empty(), "{:?}", String::from_utf8_lossy(input));
            for at in 0..=input.len() {
                let (a, b) = input.split_at(at);
                assert_eq!(
                    requests_seen(&[a, b]),
                    whole,
                    "split at {at} of {:?}",
                    String::from_utf8_lossy(input)
                );
            }
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(requests_seen(&bytes), whole, "byte at a time");
        }
    }

    #[test]
    fn random_input_never_panics_the_connection() {
        let mut x: u64 = 0xdead_beef_cafe_f00d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..3_000 {
            let base = VALID[(next() % VALID.len() as u64) as usize];
            let mut input = base.to_vec();
            // Mutate a few bytes, insert or delete some.
            for _ in 0..(next() % 6) {
                if input.is_empty() {
                    break;
                }
                let at = (next() % input.len() as u64) as usize;
                match next() % 3 {
                    0 => input[at] = (next() >> 8) as u8,
                    1 => input.insert(at, b"\r\n:; 0\t"[(next() % 7) as usize]),
                    _ => {
                        input.remove(at);
                    }
                }
            }
            let split = (next() as usize) % (input.len() + 1);
            let _ = requests_seen(&[&input[..split], &input[split..]]);
        }
    }

    #[test]
    fn every_split_of_pipelined_input_gives_the_same_requests() {
        let input: &[u8] = b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
        for split in 0..input.len() {
            let mut c = Conn::new(settings(4));
            c.received(&input[..split]);
            c.received(&input[split..]);
            let Step::Dispatch(a) = c.step("d") else {
                panic!("split {split}: expected /a")
            };
            assert_eq!(a.body.len(), 3, "split {split}");
            serve(&mut c, b"", Completion::KeepAlive);
            let mut dispatched_b = false;
            for _ in 0..3 {
                match c.step("d") {
                    Step::Write => {
                        drain_output(&mut c);
                    }
                    Step::Dispatch(b) => {
                        assert_eq!(b.head.target(), b"/b", "split {split}");
                        dispatched_b = true;
                        break;
                    }
                    _ => break,
                }
            }
            assert!(dispatched_b, "split {split}");
        }
    }
}
