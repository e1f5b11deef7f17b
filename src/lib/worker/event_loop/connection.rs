//! One connection as the I/O thread holds it, and `drive`: read what the socket
//! has, step the sans-IO `Conn`, hand a complete request to the app pool, write what
//! is queued, close (at once, or lingering). I/O thread.
use super::socket::{discard_input, is_disconnect, read_input, write_output, Discarded, Stream};
use super::timers::NextDeadline;
use super::{request_recycle, Accepting, EventLoop, Phase, FIRST_CONN};
use crate::conn::outbuf::OutBuf;
use crate::conn::CompleteRequest;
use crate::conn::{CloseKind, Conn, Step};
use crate::worker::access_log::{AccessLog, Record};
use crate::worker::task::{Peer, Task};
use mio::{Interest, Token};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a closing connection keeps reading (and discarding) after we shut down
/// our sending side, so unread client bytes do not turn our last response into an
/// RST (nginx `lingering_close`). Only where such bytes may be in flight
/// (`CloseKind::Linger`); it ends early when the client closes.
const LINGER: Duration = Duration::from_secs(2);
/// While draining, the longest a keep-alive connection between requests is kept for
/// a request its client may be about to send (see `drain_patience`).
const DRAIN_IDLE: Duration = Duration::from_millis(500);
/// Added to twice a client's longest observed pause before its next request.
const DRAIN_SLACK: Duration = Duration::from_millis(20);

/// A connection's place in its life.
#[derive(Debug, Clone, Copy)]
pub(super) enum Life {
    Open,
    /// Our side is shut down; read and discard until EOF or `deadline`.
    Lingering {
        deadline: Instant,
    },
}

pub(super) struct Connection {
    pub(super) stream: Stream,
    /// Where its app threads put their responses, one at a time (and through which
    /// they write to the socket themselves).
    pub(super) out: Arc<OutBuf>,
    pub(super) conn: Conn,
    pub(super) peer: Arc<Peer>,
    pub(super) life: Life,
    pub(super) readable: bool,
    pub(super) writable: bool,
    /// Whether the socket is registered for write readiness too: from the first
    /// write that found it full, for the rest of the connection.
    pub(super) writes_watched: bool,
    /// The kernel said the client closed its side (or the socket failed): read to
    /// the end, a short read does not mean drained (see `read_input`).
    pub(super) read_closed: bool,
    pub(super) last_activity: Instant,
    /// When the first byte of the request head now being received arrived.
    pub(super) head_since: Option<Instant>,
    /// When the connection last came to rest between requests (accepted, or its
    /// response written); None while a request is on its way or being served.
    pub(super) resting_since: Option<Instant>,
    /// How its client has used it so far, for `drain_patience`.
    pub(super) pace: Pace,
}

/// What a connection's client has shown of its habits, which decides how long a
/// drain waits before closing it between requests (`drain_patience`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pace {
    /// No request yet: the client has just connected and is about to send one.
    Fresh,
    /// One request, sent `after` the connection opened; not reused since.
    OneRequest { after: Duration },
    /// More than one request: a client that reuses its connection, perhaps in a
    /// loop that sends the next request moments after each response.
    Reused,
}

impl Connection {
    /// The request-head clock runs from a head's first byte to its last; a new
    /// head's deadline goes into `deadlines`.
    fn track_head_clock(
        &mut self,
        now: Instant,
        head_timeout: Duration,
        deadlines: &mut NextDeadline,
    ) {
        match (self.conn.is_receiving_head(), self.head_since) {
            (true, None) => {
                self.head_since = Some(now);
                if !head_timeout.is_zero() {
                    deadlines.expect(now + head_timeout);
                }
            }
            (false, Some(_)) => self.head_since = None,
            _ => {}
        }
    }

    /// A request has begun after a rest: learn the client's pace from that rest.
    fn track_pace(&mut self) {
        let Some(since) = self.resting_since else {
            return;
        };
        if !self.conn.is_between_requests() {
            let rest = self.last_activity.saturating_duration_since(since);
            self.pace = match self.pace {
                Pace::Fresh => Pace::OneRequest { after: rest },
                Pace::OneRequest { .. } | Pace::Reused => Pace::Reused,
            };
            self.resting_since = None;
        }
    }

    /// Log (and access-log) a request the connection rejected itself. Bad input is
    /// the client's business, and Waitress does not log it either; a failure on our
    /// side (a full disk, say) is the operator's.
    fn log_rejection(&mut self, index: usize, access_log: Option<&AccessLog>) {
        let Some(rejection) = self.conn.take_rejection() else {
            return;
        };
        if let Some(why) = &rejection.server_fault {
            log::error!(
                "channel {index} ({}): {} {why}",
                self.peer.remote_addr,
                rejection.status
            );
        }
        if let Some(log) = access_log {
            log.log(&Record {
                remote: &self.peer.remote_addr,
                status: rejection.status,
                bytes: rejection.bytes,
                ..Record::default()
            });
        }
    }
}

/// What `drive` does after a step.
enum Next {
    /// Step the connection again.
    Continue,
    /// Nothing more to do until the next readiness or news.
    Done,
}

impl EventLoop<'_> {
    /// Carry out everything a connection can do right now: read what the socket
    /// has, step the `Conn` and carry out each step, until it waits.
    pub(super) fn drive(&mut self, index: usize) {
        let Some(Some(c)) = self.conns.get_mut(index) else {
            return;
        };
        if let Life::Lingering { .. } = c.life {
            if c.readable && discard_input(c, &mut self.read_buf) == Discarded::Eof {
                self.close(index);
            }
            return;
        }
        loop {
            let Some(Some(c)) = self.conns.get_mut(index) else {
                return;
            };
            if c.readable && c.conn.wants_read() {
                if let Err(e) = read_input(c, &mut self.read_buf, self.now) {
                    self.socket_failed(index, "read", &e);
                    return;
                }
            }
            c.track_head_clock(
                self.now,
                self.settings.request_head_timeout,
                &mut self.deadlines,
            );
            c.track_pace();
            let step = c.conn.step(self.date.get(self.now_unix));
            c.log_rejection(index, self.task_settings.access_log.as_ref());
            let next = match step {
                Step::Dispatch(request) => self.dispatch(index, request),
                Step::Write => self.write(index),
                Step::Close(kind) => {
                    self.begin_close(index, kind);
                    Next::Done
                }
                Step::Wait => self.wait(index),
            };
            if let Next::Done = next {
                return;
            }
        }
    }

    /// Hand a complete request to the app pool, with the buffer its response goes
    /// into.
    fn dispatch(&mut self, index: usize, request: CompleteRequest) -> Next {
        let Some(Some(c)) = self.conns.get_mut(index) else {
            return Next::Done;
        };
        // The app thread may write its response itself, unless bytes are still
        // queued here ahead of it (a 100 Continue).
        let direct = c.conn.output().is_empty();
        c.out.begin(c.conn.work_behind(), direct);
        let out = c.out.clone();
        c.conn.serving(out.clone());
        let id = self.next_request_id;
        self.next_request_id += 1;
        if self.settings.max_requests > 0 && id >= self.settings.max_requests {
            request_recycle(
                &mut self.recycle_requested,
                self.link.as_mut(),
                "it reached max_requests",
            );
        }
        self.pool.submit(Task::new(
            id,
            request,
            c.peer.clone(),
            out,
            self.task_settings.clone(),
            self.now,
        ));
        // The app thread tells us when it has output for us or is done; looking at
        // its buffer now would only contend for its lock while it writes. Only more
        // input (pipelined, or a body) is our business.
        if c.readable && c.conn.wants_read() {
            Next::Continue
        } else {
            Next::Done
        }
    }

    /// Write what is queued, as far as the socket takes it.
    fn write(&mut self, index: usize) -> Next {
        let Some(Some(c)) = self.conns.get_mut(index) else {
            return Next::Done;
        };
        if !c.writable {
            return Next::Done;
        }
        match write_output(c) {
            Ok(true) => {
                c.last_activity = self.now;
                Next::Continue
            }
            Ok(false) => {
                c.writable = false;
                if !c.writes_watched {
                    c.writes_watched = true;
                    // Re-registering reports the socket at once if it drained
                    // meanwhile: no wake-up is lost.
                    let token = Token(FIRST_CONN + index);
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if let Err(e) =
                        self.poll
                            .registry()
                            .reregister(c.stream.source(), token, interest)
                    {
                        self.socket_failed(index, "register", &e);
                    }
                }
                Next::Done
            }
            Err(e) => {
                self.socket_failed(index, "write", &e);
                Next::Done
            }
        }
    }

    /// The connection waits: for input, or for its app thread. Between requests
    /// while draining, a client that is not about to send is closed now.
    fn wait(&mut self, index: usize) -> Next {
        let draining = matches!(self.phase, Phase::Draining { .. });
        let Some(Some(c)) = self.conns.get_mut(index) else {
            return Next::Done;
        };
        if c.conn.is_between_requests() {
            let now = self.now;
            let since = *c.resting_since.get_or_insert(now);
            if draining && now.duration_since(since) >= drain_patience(c) {
                // Everything the client sent has been read (the read above ran to
                // the end) and answered, and it is not about to send more: nothing
                // is lost by closing now.
                self.begin_close(index, CloseKind::Clean);
                return Next::Done;
            }
        }
        if c.readable && c.conn.wants_read() {
            Next::Continue
        } else {
            Next::Done
        }
    }

    /// A read or write failed: the client is gone (or the socket broke).
    fn socket_failed(&mut self, index: usize, op: &str, e: &std::io::Error) {
        let Some(Some(c)) = self.conns.get_mut(index) else {
            return;
        };
        if self.settings.log_socket_errors && !is_disconnect(e) {
            log::warn!(
                "socket error on channel {index} ({}): {e}",
                c.peer.remote_addr
            );
        } else {
            log::debug!("channel {index} {op} failed: {e}");
        }
        c.conn.disconnect();
        self.close(index);
    }

    /// Close a connection that has said everything: at once when the client is done
    /// sending, else shut down our side and linger.
    pub(super) fn begin_close(&mut self, index: usize, kind: CloseKind) {
        let Some(Some(c)) = self.conns.get_mut(index) else {
            return;
        };
        if c.conn.peer_eof() {
            self.close(index);
            return;
        }
        // Bytes left unread in the socket would make close() send a reset, which
        // can destroy the response still in flight: read what is there first, even
        // on a clean close (a client that sends after "Connection: close" gets the
        // lingering close after all).
        let discarded = discard_input(c, &mut self.read_buf);
        match (kind, discarded) {
            (_, Discarded::Eof) | (CloseKind::Clean, Discarded::Nothing) => self.close(index),
            (CloseKind::Linger, _) | (CloseKind::Clean, Discarded::Some) => {
                c.stream.shutdown_write();
                let deadline = self.now + LINGER;
                c.life = Life::Lingering { deadline };
                self.deadlines.expect(deadline);
            }
        }
    }

    pub(super) fn close(&mut self, index: usize) {
        let Some(mut c) = self.conns.get_mut(index).and_then(Option::take) else {
            return;
        };
        // No deregister: closing the socket (dropping the stream) removes it from
        // the epoll set, and the extra epoll_ctl would cost a syscall per connection.
        // App threads that write to it directly check the disconnect first, under
        // the output's lock (`OutBuf`): after this, none writes to the descriptor
        // that the drop below closes (and the kernel may reuse).
        c.conn.disconnect();
        c.out.disconnect();
        drop(c);
        log::debug!("channel {index} closed");
        self.free.push(index);
        self.open -= 1;
        if self.accepting == Accepting::Full && self.open < self.settings.connection_limit {
            self.accepting = Accepting::Open;
            self.accept_all();
        }
    }
}

/// How long a draining worker lets a keep-alive connection rest between requests
/// before closing it. Closing is safe once its client is not about to send. A client
/// that made one request and went quiet (a browser tab, a test, a `curl`) is closed
/// as soon as it has been quiet for twice the time it took to send that request,
/// plus a little: at once, in practice. A client that reuses its connection may be
/// in a loop that sends its next request moments after each response, and closing
/// in that moment would fail that request; it, and a client that has just connected,
/// get `DRAIN_IDLE` of quiet. A request that does arrive is answered with
/// `Connection: close`.
pub(super) fn drain_patience(c: &Connection) -> Duration {
    match c.pace {
        Pace::Fresh | Pace::Reused => DRAIN_IDLE,
        Pace::OneRequest { after } => after
            .saturating_mul(2)
            .saturating_add(DRAIN_SLACK)
            .min(DRAIN_IDLE),
    }
}
