//! The worker's I/O thread: one mio loop that accepts, reads, writes, sends files,
//! times out and closes — the only code in the crate that does socket I/O.
//!
//! Each connection's protocol state lives in a sans-IO `Conn`; this loop feeds it
//! bytes and carries out its `Step`s. App threads reach the loop through `WakeQueue`
//! (a mio `Waker` plus the tokens that have news). Readiness is edge-triggered, so a
//! connection remembers unconsumed readiness (`readable`, `writable`) until a read or
//! write returns WouldBlock.
use super::access_log::Record;
use super::pool::Pool;
use super::task::{Peer, Task, TaskSettings};
use crate::buffer::Segment;
use crate::conn::outbuf::{DirectWrite, Notify, OutBuf};
use crate::conn::{CloseKind, Conn, ConnSettings, Step};
use crate::http::date::DateCache;
use crate::link::{Message, WorkerLink};
use crate::net::Listener;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Token, Waker};
use nix::unistd::Pid;
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAKER: Token = Token(0);
const SIGNALS: Token = Token(1);
const FIRST_LISTENER: usize = 2;
/// Connection tokens start here (listeners sit below).
const FIRST_CONN: usize = 1024;

/// How long a closing connection keeps reading (and discarding) after we shut down
/// our sending side, so unread client bytes do not turn our last response into an
/// RST (nginx `lingering_close`). Only where such bytes may be in flight
/// (`CloseKind::Linger`); it ends early when the client closes.
const LINGER: Duration = Duration::from_secs(2);
/// While draining, how often idle connections, lingering closes and the graceful
/// timeout are checked.
const DRAIN_TICK: Duration = Duration::from_millis(10);
/// While draining, the longest a keep-alive connection between requests is kept for
/// a request its client may be about to send (see `drain_patience`).
const DRAIN_IDLE: Duration = Duration::from_millis(500);
/// Added to twice a client's longest observed pause before its next request.
const DRAIN_SLACK: Duration = Duration::from_millis(20);
/// How often the loop tells the master it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Pause before retrying accept after EMFILE/ENFILE.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// The most memory segments gathered into one writev.
const MAX_IOV: usize = 64;

/// Settings the loop itself uses.
#[derive(Debug, Clone)]
pub struct LoopSettings {
    pub recv_bytes: usize,
    pub connection_limit: usize,
    pub channel_timeout: Duration,
    /// Zero = no limit.
    pub request_head_timeout: Duration,
    pub cleanup_interval: Duration,
    pub high_watermark: u64,
    pub graceful_timeout: Duration,
    pub log_socket_errors: bool,
    /// Ask the master for a replacement after this many requests (0 = never).
    pub max_requests: u64,
}

/// Tokens of connections with news from app threads, and the waker that interrupts
/// `poll`. App threads push; the I/O thread drains after every `poll`.
pub struct WakeQueue {
    pending: Mutex<Pending>,
    waker: Waker,
}

#[derive(Default)]
struct Pending {
    tokens: Vec<usize>,
    /// A wake-up was sent that the I/O thread has not drained yet.
    woken: bool,
}

impl WakeQueue {
    fn push(&self, token: usize, wake: bool) {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        p.tokens.push(token);
        let send = wake && !p.woken;
        p.woken |= send;
        drop(p);
        if send {
            if let Err(e) = self.waker.wake() {
                log::error!("cannot wake the I/O thread: {e}");
            }
        }
    }
}

impl Notify for WakeQueue {
    fn notify(&self, token: usize) {
        self.push(token, true);
    }

    fn note(&self, token: usize) {
        self.push(token, false);
    }
}

/// Why the loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Every connection finished (or the graceful timeout passed).
    Drained,
    /// Asked to stop now: in-flight requests are abandoned.
    Immediate,
}

/// How the loop is told to stop and whom it reports to.
pub struct Control {
    /// TERM (drain) and QUIT (stop now), delivered through pipes.
    pub signals: Option<SignalPipe>,
    /// The master's link: ready, heartbeat, recycle.
    pub link: Option<WorkerLink>,
    /// Stop at once if our parent is no longer this process.
    pub master_pid: Option<Pid>,
}

/// Signals a worker reacts to, delivered through pipes.
pub struct SignalPipe {
    pub graceful: UnixStream,
    pub immediate: UnixStream,
}

impl SignalPipe {
    /// Deliver the `graceful` signals (drain) and the `immediate` ones (stop now)
    /// through new pipes; returns the pipes and the registrations, which
    /// `signal_hook::low_level::unregister` undoes.
    pub fn install(
        graceful: &[std::ffi::c_int],
        immediate: &[std::ffi::c_int],
    ) -> io::Result<(SignalPipe, Vec<signal_hook::SigId>)> {
        let (graceful_read, graceful_write) = std::os::unix::net::UnixStream::pair()?;
        let (immediate_read, immediate_write) = std::os::unix::net::UnixStream::pair()?;
        for s in [
            &graceful_read,
            &graceful_write,
            &immediate_read,
            &immediate_write,
        ] {
            s.set_nonblocking(true)?;
        }
        let mut ids = Vec::new();
        for &sig in graceful {
            ids.push(signal_hook::low_level::pipe::register(
                sig,
                graceful_write.try_clone()?,
            )?);
        }
        for &sig in immediate {
            ids.push(signal_hook::low_level::pipe::register(
                sig,
                immediate_write.try_clone()?,
            )?);
        }
        let pipe = SignalPipe {
            graceful: UnixStream::from_std(graceful_read),
            immediate: UnixStream::from_std(immediate_read),
        };
        Ok((pipe, ids))
    }
}

enum AnyListener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

struct ListenSlot {
    listener: AnyListener,
    local_port: String,
    registered: bool,
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
        }
    }

    fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }

    fn shutdown_write(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
        };
    }

    fn sendfile(&self, file: &std::fs::File, offset: &mut i64, count: usize) -> io::Result<usize> {
        let out = match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
        };
        nix::sys::sendfile::sendfile(out, file.as_fd(), Some(offset), count)
            .map_err(io::Error::from)
    }
}

/// A connection's socket as app threads write to it (see `conn::outbuf`).
struct SocketWriter(std::os::fd::RawFd);

impl DirectWrite for SocketWriter {
    fn write_now(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        crate::sys::writev_borrowed(self.0, bufs)
    }
}

/// A connection's place in its life.
#[derive(Debug, Clone, Copy)]
enum Life {
    Open,
    /// Our side is shut down; read and discard until EOF or `deadline`.
    Lingering {
        deadline: Instant,
    },
}

struct Connection {
    stream: Stream,
    /// The socket, for app threads that write a response straight out.
    direct: Arc<SocketWriter>,
    conn: Conn,
    peer: Arc<Peer>,
    life: Life,
    readable: bool,
    writable: bool,
    /// The kernel said the client closed its side (or the socket failed): read to
    /// the end, a short read does not mean drained (see `read_input`).
    read_closed: bool,
    last_activity: Instant,
    /// When the first byte of the request head now being received arrived.
    head_since: Option<Instant>,
    /// When the connection last came to rest between requests (accepted, or its
    /// response written); None while a request is on its way or being served.
    resting_since: Option<Instant>,
    /// How its client has used it so far, for `drain_patience`.
    pace: Pace,
}

/// What a connection's client has shown of its habits, which decides how long a
/// drain waits before closing it between requests (`drain_patience`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pace {
    /// No request yet: the client has just connected and is about to send one.
    Fresh,
    /// One request, sent `after` the connection opened; not reused since.
    OneRequest { after: Duration },
    /// More than one request: a client that reuses its connection, perhaps in a
    /// loop that sends the next request moments after each response.
    Reused,
}

/// Whether new connections are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accepting {
    Open,
    /// At `connection_limit`; resumes when a connection closes.
    Full,
    /// Out of file descriptors; retry at `until`.
    Backoff {
        until: Instant,
    },
    /// Draining: listeners are deregistered for good.
    Closed,
}

/// Serving, or finishing what was accepted.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Serving,
    Draining { deadline: Instant },
}

pub struct EventLoop<'p> {
    poll: Poll,
    listeners: Vec<ListenSlot>,
    conns: Vec<Option<Connection>>,
    free: Vec<usize>,
    open: usize,
    wake: Arc<WakeQueue>,
    woken: Vec<usize>,
    pool: &'p Pool,
    conn_settings: Arc<ConnSettings>,
    task_settings: Arc<TaskSettings>,
    settings: LoopSettings,
    accepting: Accepting,
    phase: Phase,
    signals: Option<SignalPipe>,
    link: Option<WorkerLink>,
    master_pid: Option<Pid>,
    next_heartbeat: Instant,
    recycle_requested: bool,
    next_request_id: u64,
    next_cleanup: Instant,
    read_buf: Vec<u8>,
    /// The date for error responses the loop sends itself.
    date: DateCache,
    /// When the next connection deadline may fall due.
    deadlines: NextDeadline,
}

/// The earliest connection deadline (a request head's timeout, a lingering close's
/// end) that may be due, so the timer pass looks at the connections only then —
/// not after every wake-up, which would make each request cost more the more
/// connections are open. Conservative: a deadline that went away (the head arrived,
/// the client closed) just costs one pass that finds nothing; the pass then learns
/// the next earliest deadline from what it saw.
#[derive(Debug, Clone, Copy, Default)]
struct NextDeadline(Option<Instant>);

impl NextDeadline {
    /// A deadline was set at `at`.
    fn expect(&mut self, at: Instant) {
        self.0 = Some(self.0.map_or(at, |t| t.min(at)));
    }

    fn due(&self, now: Instant) -> bool {
        self.0.is_some_and(|t| now >= t)
    }
}

impl<'p> EventLoop<'p> {
    pub fn new(
        listeners: Vec<Listener>,
        pool: &'p Pool,
        conn_settings: Arc<ConnSettings>,
        task_settings: Arc<TaskSettings>,
        settings: LoopSettings,
        control: Control,
    ) -> io::Result<(EventLoop<'p>, Arc<WakeQueue>)> {
        let Control {
            signals,
            link,
            master_pid,
        } = control;
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let wake = Arc::new(WakeQueue {
            pending: Mutex::new(Pending::default()),
            waker,
        });
        let mut slots = Vec::with_capacity(listeners.len());
        for (i, l) in listeners.into_iter().enumerate() {
            let local_port = l.port().map(|p| p.to_string()).unwrap_or_default();
            let mut listener = match l {
                Listener::Tcp(t) => {
                    t.set_nonblocking(true)?;
                    AnyListener::Tcp(TcpListener::from_std(t))
                }
                Listener::Unix { listener, .. } => {
                    listener.set_nonblocking(true)?;
                    AnyListener::Unix(UnixListener::from_std(listener))
                }
            };
            let token = Token(FIRST_LISTENER + i);
            match &mut listener {
                AnyListener::Tcp(t) => poll.registry().register(t, token, Interest::READABLE)?,
                AnyListener::Unix(u) => poll.registry().register(u, token, Interest::READABLE)?,
            }
            slots.push(ListenSlot {
                listener,
                local_port,
                registered: true,
            });
        }
        let mut signals = signals;
        if let Some(s) = &mut signals {
            poll.registry()
                .register(&mut s.graceful, SIGNALS, Interest::READABLE)?;
            poll.registry()
                .register(&mut s.immediate, SIGNALS, Interest::READABLE)?;
        }
        let read_buf = vec![0; settings.recv_bytes.max(4096)];
        let next_cleanup = Instant::now() + settings.cleanup_interval;
        Ok((
            EventLoop {
                poll,
                listeners: slots,
                conns: Vec::new(),
                free: Vec::new(),
                open: 0,
                wake: wake.clone(),
                woken: Vec::new(),
                pool,
                conn_settings,
                task_settings,
                settings,
                accepting: Accepting::Open,
                phase: Phase::Serving,
                signals,
                link,
                master_pid,
                next_heartbeat: Instant::now(),
                recycle_requested: false,
                next_request_id: 1,
                next_cleanup,
                read_buf,
                date: DateCache::default(),
                deadlines: NextDeadline::default(),
            },
            wake,
        ))
    }

    /// Run until drained or told to stop now.
    pub fn run(&mut self) -> io::Result<Stop> {
        let mut events = Events::with_capacity(1024);
        if let Some(link) = &mut self.link {
            link.send(&Message::Ready);
        }
        loop {
            let mut timeout = match (self.accepting, self.phase) {
                (Accepting::Backoff { .. }, _) => ACCEPT_BACKOFF,
                (_, Phase::Draining { .. }) => DRAIN_TICK,
                _ => Duration::from_secs(1),
            };
            // Queued tasks: look again when the oldest is due for another thread.
            if let Some(at) = self.pool.spread(Instant::now()) {
                timeout = timeout.min(at.saturating_duration_since(Instant::now()));
            }
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for event in events.iter() {
                match event.token() {
                    WAKER => {} // drained below, with what was noted without a wake
                    SIGNALS => {
                        if let Some(stop) = self.on_signal() {
                            return Ok(stop);
                        }
                    }
                    Token(t) if t >= FIRST_CONN => {
                        let index = t - FIRST_CONN;
                        if let Some(Some(c)) = self.conns.get_mut(index) {
                            c.readable |=
                                event.is_readable() || event.is_read_closed() || event.is_error();
                            c.read_closed |= event.is_read_closed() || event.is_error();
                            c.writable |=
                                event.is_writable() || event.is_write_closed() || event.is_error();
                            self.drive(index);
                        }
                    }
                    Token(_) => self.accept_all(),
                }
            }
            self.on_wake();
            let now = Instant::now();
            if now >= self.next_heartbeat {
                self.next_heartbeat = now + HEARTBEAT;
                if let Some(link) = &mut self.link {
                    link.send(&Message::Heartbeat);
                }
                if self.master_pid.is_some_and(|m| nix::unistd::getppid() != m) {
                    log::warn!("the master is gone; stopping now");
                    return Ok(Stop::Immediate);
                }
            }
            self.on_tick(now);
            if let Phase::Draining { .. } = self.phase {
                if self.open == 0 {
                    return Ok(Stop::Drained);
                }
            }
        }
    }

    // ----- accepting -----

    fn accept_all(&mut self) {
        for i in 0..self.listeners.len() {
            while self.accepting == Accepting::Open {
                if self.open >= self.settings.connection_limit {
                    log::debug!(
                        "connection limit {} reached; not accepting",
                        self.settings.connection_limit
                    );
                    self.accepting = Accepting::Full;
                    return;
                }
                let slot = &mut self.listeners[i];
                if !slot.registered {
                    break;
                }
                let accepted = match &slot.listener {
                    AnyListener::Tcp(l) => l.accept().map(|(s, addr)| {
                        let _ = s.set_nodelay(true);
                        (
                            Stream::Tcp(s),
                            addr.ip().to_string(),
                            addr.port().to_string(),
                        )
                    }),
                    AnyListener::Unix(l) => l
                        .accept()
                        .map(|(s, _)| (Stream::Unix(s), "localhost".to_string(), String::new())),
                };
                match accepted {
                    Ok((stream, remote_addr, remote_port)) => {
                        let peer = Arc::new(Peer {
                            remote_addr,
                            remote_port,
                            local_port: self.listeners[i].local_port.clone(),
                        });
                        self.add_connection(stream, peer);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if is_fd_exhaustion(&e) => {
                        log::error!("cannot accept a connection: {e}; retrying shortly");
                        self.accepting = Accepting::Backoff {
                            until: Instant::now() + ACCEPT_BACKOFF,
                        };
                        return;
                    }
                    Err(e) => {
                        // ECONNABORTED and friends: that client is gone; keep going.
                        log::debug!("accept failed: {e}");
                        continue;
                    }
                }
            }
        }
    }

    fn add_connection(&mut self, mut stream: Stream, peer: Arc<Peer>) {
        let index = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let token = Token(FIRST_CONN + index);
        if let Err(e) = self.poll.registry().register(
            stream.source(),
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            log::error!("cannot register a connection: {e}");
            self.free.push(index);
            return;
        }
        log::debug!(
            "channel {index} opened from {}:{}",
            peer.remote_addr,
            peer.remote_port
        );
        let direct = Arc::new(SocketWriter(stream.raw_fd()));
        self.conns[index] = Some(Connection {
            direct,
            stream,
            conn: Conn::new(self.conn_settings.clone()),
            peer,
            life: Life::Open,
            readable: true,
            writable: true,
            read_closed: false,
            last_activity: Instant::now(),
            head_since: None,
            resting_since: Some(Instant::now()),
            pace: Pace::Fresh,
        });
        self.open += 1;
        self.drive(index);
    }

    // ----- one connection -----

    /// Carry out everything a connection can do right now.
    fn drive(&mut self, index: usize) {
        let draining = matches!(self.phase, Phase::Draining { .. });
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
            if c.readable && c.conn.wants_read() {
                match read_input(c, &mut self.read_buf) {
                    Ok(()) => {}
                    Err(e) => {
                        if self.settings.log_socket_errors && !is_disconnect(&e) {
                            log::warn!(
                                "socket error on channel {index} ({}): {e}",
                                c.peer.remote_addr
                            );
                        } else {
                            log::debug!("channel {index} read failed: {e}");
                        }
                        c.conn.disconnect();
                        self.close(index);
                        return;
                    }
                }
            }
            // The request-head clock runs from a head's first byte to its last.
            match (c.conn.is_receiving_head(), c.head_since) {
                (true, None) => {
                    let now = Instant::now();
                    c.head_since = Some(now);
                    if !self.settings.request_head_timeout.is_zero() {
                        self.deadlines
                            .expect(now + self.settings.request_head_timeout);
                    }
                }
                (false, Some(_)) => c.head_since = None,
                _ => {}
            }
            if let Some(since) = c.resting_since {
                if !c.conn.is_between_requests() {
                    let rest = c.last_activity.saturating_duration_since(since);
                    c.pace = match c.pace {
                        Pace::Fresh => Pace::OneRequest { after: rest },
                        Pace::OneRequest { .. } | Pace::Reused => Pace::Reused,
                    };
                    c.resting_since = None;
                }
            }
            let step = c.conn.step(self.date.get(unix_secs()));
            if let Some(rejection) = c.conn.take_rejection() {
                // Bad input is the client's business, and Waitress does not log it
                // either; a failure on our side (a full disk, say) is the operator's.
                if let Some(why) = &rejection.server_fault {
                    log::error!(
                        "channel {index} ({}): {} {why}",
                        c.peer.remote_addr,
                        rejection.status
                    );
                }
                if let Some(log) = &self.task_settings.access_log {
                    log.log(&Record {
                        remote: &c.peer.remote_addr,
                        status: rejection.status,
                        bytes: rejection.bytes,
                        ..Record::default()
                    });
                }
            }
            match step {
                Step::Dispatch(request) => {
                    let out = OutBuf::new(
                        FIRST_CONN + index,
                        self.settings.high_watermark,
                        self.wake.clone(),
                    );
                    // The app thread may write its response itself, unless bytes are
                    // still queued here ahead of it (a 100 Continue).
                    let out = Arc::new(if c.conn.output().is_empty() {
                        out.with_direct_write(c.direct.clone())
                    } else {
                        out
                    });
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
                    ));
                }
                Step::Write => {
                    if !c.writable {
                        return;
                    }
                    match write_output(c) {
                        Ok(true) => c.last_activity = Instant::now(),
                        Ok(false) => {
                            c.writable = false;
                            return;
                        }
                        Err(e) => {
                            if self.settings.log_socket_errors && !is_disconnect(&e) {
                                log::warn!(
                                    "socket error on channel {index} ({}): {e}",
                                    c.peer.remote_addr
                                );
                            } else {
                                log::debug!("channel {index} write failed: {e}");
                            }
                            c.conn.disconnect();
                            self.close(index);
                            return;
                        }
                    }
                }
                Step::Close(kind) => {
                    self.begin_close(index, kind);
                    return;
                }
                Step::Wait => {
                    if c.conn.is_between_requests() {
                        let now = Instant::now();
                        let since = *c.resting_since.get_or_insert(now);
                        if draining && now.duration_since(since) >= drain_patience(c) {
                            // Everything the client sent has been read (the read
                            // above ran to WouldBlock) and answered, and it is not
                            // about to send more: nothing is lost by closing now.
                            self.begin_close(index, CloseKind::Clean);
                            return;
                        }
                    }
                    if c.readable && c.conn.wants_read() {
                        continue;
                    }
                    return;
                }
            }
        }
    }

    /// Close a connection that has said everything: at once when the client is done
    /// sending, else shut down our side and linger.
    fn begin_close(&mut self, index: usize, kind: CloseKind) {
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
                let deadline = Instant::now() + LINGER;
                c.life = Life::Lingering { deadline };
                self.deadlines.expect(deadline);
            }
        }
    }

    fn close(&mut self, index: usize) {
        let Some(mut c) = self.conns.get_mut(index).and_then(Option::take) else {
            return;
        };
        let _ = self.poll.registry().deregister(c.stream.source());
        c.conn.disconnect();
        drop(c);
        log::debug!("channel {index} closed");
        self.free.push(index);
        self.open -= 1;
        if self.accepting == Accepting::Full && self.open < self.settings.connection_limit {
            self.accepting = Accepting::Open;
            self.accept_all();
        }
    }

    // ----- wake-ups, signals, timers -----

    fn on_wake(&mut self) {
        {
            let mut pending = self.wake.pending.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::swap(&mut pending.tokens, &mut self.woken);
            pending.woken = false;
        }
        let woken = std::mem::take(&mut self.woken);
        for &token in &woken {
            if token >= FIRST_CONN {
                self.drive(token - FIRST_CONN);
            }
        }
        self.woken = woken;
        self.woken.clear();
        // Tasks wake the loop when they finish, so this is where a WD_E_FATAL from the
        // app is noticed: the worker's app state is broken, replace the worker.
        if self
            .task_settings
            .fatal
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            request_recycle(
                &mut self.recycle_requested,
                self.link.as_mut(),
                "the app reported a fatal error (WD_E_FATAL)",
            );
        }
    }

    /// Read the signal pipes; returns Some when the loop must stop now.
    fn on_signal(&mut self) -> Option<Stop> {
        let signals = self.signals.as_mut()?;
        let graceful = drain_pipe(&mut signals.graceful);
        let immediate = drain_pipe(&mut signals.immediate);
        if immediate > 0 {
            log::info!("Shutting down now (in-flight requests are abandoned)");
            return Some(Stop::Immediate);
        }
        if graceful == 0 {
            return None;
        }
        match self.phase {
            Phase::Draining { .. } => {
                log::info!("Second stop signal: shutting down now");
                Some(Stop::Immediate)
            }
            Phase::Serving => {
                self.start_draining();
                None
            }
        }
    }

    /// Stop accepting and finish what was accepted (used by signals and the master).
    pub fn start_draining(&mut self) {
        let deadline = Instant::now() + self.settings.graceful_timeout;
        log::info!(
            "Draining: finishing {} open connection(s) within {:?}",
            self.open,
            self.settings.graceful_timeout
        );
        self.phase = Phase::Draining { deadline };
        self.task_settings.draining.store(true, Ordering::Relaxed);
        self.accepting = Accepting::Closed;
        for slot in &mut self.listeners {
            if slot.registered {
                let _ = match &mut slot.listener {
                    AnyListener::Tcp(l) => self.poll.registry().deregister(l),
                    AnyListener::Unix(l) => self.poll.registry().deregister(l),
                };
                slot.registered = false;
            }
        }
        self.close_idle_while_draining(Instant::now());
    }

    /// While draining, a keep-alive connection between requests is closed as soon as
    /// its client has rested longer than `drain_patience` (at once, for the usual
    /// idle client); busy ones close after their response. Each is read first,
    /// whatever its readiness says: a request that already arrived is answered,
    /// with `Connection: close`, instead of being dropped.
    fn close_idle_while_draining(&mut self, now: Instant) {
        for index in 0..self.conns.len() {
            if let Some(c) = self.conns[index].as_mut() {
                let rested_enough = c
                    .resting_since
                    .is_some_and(|since| now.duration_since(since) >= drain_patience(c));
                if matches!(c.life, Life::Open) && c.conn.is_between_requests() && rested_enough {
                    c.readable = true;
                    self.drive(index);
                }
            }
        }
    }

    fn on_tick(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Draining { .. }) {
            self.close_idle_while_draining(now);
        }
        if let Accepting::Backoff { until } = self.accepting {
            if now >= until {
                self.accepting = Accepting::Open;
                self.accept_all();
            }
        }
        let sweep_idle = now >= self.next_cleanup;
        if sweep_idle {
            self.next_cleanup = now + self.settings.cleanup_interval;
        }
        let forced = matches!(self.phase, Phase::Draining { deadline } if now >= deadline);
        if !(sweep_idle || forced || self.deadlines.due(now)) {
            return;
        }
        let head_timeout = self.settings.request_head_timeout;
        let mut next = NextDeadline::default();
        let mut to_close = Vec::new();
        let mut slow_heads = Vec::new();
        for (i, c) in self.conns.iter().enumerate() {
            let Some(c) = c else { continue };
            match c.life {
                Life::Lingering { deadline } if now >= deadline => to_close.push(i),
                Life::Lingering { deadline } => next.expect(deadline),
                Life::Open if forced => to_close.push(i),
                Life::Open => {
                    if let (false, Some(since)) = (head_timeout.is_zero(), c.head_since) {
                        if now.duration_since(since) > head_timeout {
                            slow_heads.push(i);
                            continue;
                        }
                        // Strictly after the timeout: look again just past it.
                        next.expect(since + head_timeout + Duration::from_millis(1));
                    }
                    if sweep_idle
                        && c.conn.is_idle()
                        && now.duration_since(c.last_activity) > self.settings.channel_timeout
                    {
                        log::info!(
                            "channel {i} ({}) timed out after {:?} of inactivity",
                            c.peer.remote_addr,
                            self.settings.channel_timeout
                        );
                        to_close.push(i);
                    }
                }
            }
        }
        self.deadlines = next;
        if forced && !to_close.is_empty() {
            log::warn!(
                "graceful timeout: closing {} connection(s) with requests still in progress",
                to_close.len()
            );
        }
        for i in to_close {
            self.close(i);
        }
        for i in slow_heads {
            if let Some(Some(c)) = self.conns.get_mut(i) {
                log::info!(
                    "channel {i} ({}): request head not received within {:?}; 408",
                    c.peer.remote_addr,
                    self.settings.request_head_timeout
                );
                c.conn.head_timed_out();
                c.head_since = None;
            }
            self.drive(i);
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
fn drain_patience(c: &Connection) -> Duration {
    match c.pace {
        Pace::Fresh | Pace::Reused => DRAIN_IDLE,
        Pace::OneRequest { after } => after
            .saturating_mul(2)
            .saturating_add(DRAIN_SLACK)
            .min(DRAIN_IDLE),
    }
}

// ----- socket helpers (I/O thread) -----

/// Read until the socket is drained or the connection stops wanting input.
///
/// A read that returns less than the buffer holds took everything the socket had:
/// the readiness is spent, and bytes that arrive later raise a new edge (Linux's
/// epoll signals every arrival to an edge-triggered waiter), so there is no need for
/// the extra read that would only say WouldBlock — one syscall per request saved.
/// Not once the kernel has reported the client's FIN: that edge is already spent,
/// so the loop reads on to the EOF.
fn read_input(c: &mut Connection, buf: &mut [u8]) -> io::Result<()> {
    while c.conn.wants_read() {
        match c.stream.read(buf) {
            Ok(0) => {
                c.readable = false;
                c.conn.eof();
                return Ok(());
            }
            Ok(n) => {
                c.last_activity = Instant::now();
                c.conn.received(&buf[..n]);
                if n < buf.len() && !c.read_closed {
                    c.readable = false;
                    return Ok(());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                c.readable = false;
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What reading a closing connection's input found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Discarded {
    /// Nothing was waiting.
    Nothing,
    /// Bytes were waiting (and were dropped); more may follow.
    Some,
    /// The client closed (or the connection broke): it can be closed now.
    Eof,
}

/// Read and drop input until WouldBlock or EOF.
fn discard_input(c: &mut Connection, buf: &mut [u8]) -> Discarded {
    let mut found = Discarded::Nothing;
    loop {
        match c.stream.read(buf) {
            Ok(0) => return Discarded::Eof,
            Ok(_) => found = Discarded::Some,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                c.readable = false;
                return found;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Discarded::Eof,
        }
    }
}

/// Write queued output. Ok(true): all written; Ok(false): the socket is full.
fn write_output(c: &mut Connection) -> io::Result<bool> {
    loop {
        let (written, memory) = {
            let out = c.conn.output();
            match out.front_mut() {
                None => return Ok(true),
                Some(Segment::File {
                    file,
                    offset,
                    remaining,
                }) => {
                    let count = (*remaining).min(1 << 30) as usize;
                    let mut off = *offset as i64;
                    let n = match c.stream.sendfile(file, &mut off, count) {
                        Ok(0) => {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "the file being sent was truncated",
                            ))
                        }
                        Ok(n) => n as u64,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    };
                    *offset += n;
                    *remaining -= n;
                    if *remaining == 0 {
                        out.pop_front();
                    }
                    (n, 0)
                }
                Some(Segment::Memory { .. }) => {
                    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(8);
                    for seg in out.iter() {
                        match seg {
                            Segment::Memory { data, pos } if slices.len() < MAX_IOV => {
                                slices.push(IoSlice::new(&data[*pos..]));
                            }
                            _ => break,
                        }
                    }
                    let n = match c.stream.write_vectored(&slices) {
                        Ok(0) => {
                            return Err(io::Error::new(
                                io::ErrorKind::WriteZero,
                                "write returned 0",
                            ))
                        }
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    };
                    drop(slices);
                    let mut left = n;
                    while left > 0 {
                        let Some(Segment::Memory { data, pos }) = out.front_mut() else {
                            break;
                        };
                        let avail = data.len() - *pos;
                        if left >= avail {
                            left -= avail;
                            out.pop_front();
                        } else {
                            *pos += left;
                            left = 0;
                        }
                    }
                    (n as u64, n as u64)
                }
            }
        };
        c.conn.wrote(written, memory);
    }
}

fn drain_pipe(pipe: &mut UnixStream) -> usize {
    let mut buf = [0u8; 64];
    let mut total = 0;
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return total,
        }
    }
}

/// Ask the master (once) for a replacement; it starts a new worker and then drains
/// this one through the same path as a reload, so no request is lost. (A free function
/// so it can run while a connection of the loop is borrowed.)
fn request_recycle(requested: &mut bool, link: Option<&mut WorkerLink>, why: &str) {
    if *requested {
        return;
    }
    *requested = true;
    log::info!(
        "worker {}: asking to be recycled: {why}",
        std::process::id()
    );
    if let Some(link) = link {
        link.send(&Message::Recycle);
    }
}

/// Seconds since the Unix epoch, now.
fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}

/// Resets and broken pipes are clients going away, not server trouble.
fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
    )
}
