//! The worker's I/O thread: one mio loop that accepts, reads, writes, sends files,
//! times out and closes — the only code in the crate that does socket I/O. Runs on
//! the worker's main thread; app threads reach it only through `WakeQueue`.
//!
//! Each connection's protocol state lives in a sans-IO `Conn`; the loop feeds it
//! bytes and carries out its `Step`s. Readiness is edge-triggered, so a connection
//! remembers unconsumed readiness (`readable`, `writable`) until a read or write says
//! the socket is spent.
//!
//! This file owns the loop itself: its state, one turn (poll, app threads' news,
//! readiness, heartbeat, timers), signals and the drain. The rest, one concern each:
//!
//! - `accept`: taking new connections, within `connection_limit` and the fd supply;
//! - `connection`: one connection's I/O-thread state and `drive`, which carries out
//!   everything it can do right now, and closing (with lingering);
//! - `socket`: listeners, streams and the read/discard/write helpers;
//! - `timers`: connection deadlines (head timeout, linger, idle sweep, drain);
//! - `wake`: the queue through which app threads tell the loop of news.
mod accept;
mod connection;
mod socket;
mod timers;
mod wake;

pub use wake::WakeQueue;

use super::pool::Pool;
use super::task::TaskSettings;
use crate::conn::ConnSettings;
use crate::http::date::DateCache;
use crate::link::{Message, WorkerLink};
use crate::net::Listener;
use crate::signal_pipe::SignalPipe;
use connection::Connection;
use mio::net::{TcpListener, UnixListener};
use mio::{Events, Interest, Poll, Token, Waker};
use nix::unistd::Pid;
use socket::{AnyListener, ListenSlot};
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timers::NextDeadline;

const WAKER: Token = Token(0);
const SIGNALS: Token = Token(1);
const FIRST_LISTENER: usize = 2;
/// Connection tokens start here (listeners sit below).
const FIRST_CONN: usize = 1024;
/// While draining, how often idle connections, lingering closes and the graceful
/// timeout are checked.
const DRAIN_TICK: Duration = Duration::from_millis(10);
/// How often the loop tells the master it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Pause before retrying accept after EMFILE/ENFILE.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

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
    /// When this turn of the loop began (poll returned), and the Unix second then:
    /// every timestamp a turn records (activity, rest, a request's arrival) is read
    /// from here, one clock read per turn instead of several per request.
    now: Instant,
    now_unix: u64,
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
        let wake = Arc::new(WakeQueue::new(waker));
        let mut slots = Vec::with_capacity(listeners.len());
        for (i, l) in listeners.into_iter().enumerate() {
            let local_port = l.port().map(|p| p.to_string()).unwrap_or_default();
            let mut listener = match l {
                Listener::Tcp(t) => {
                    t.set_nonblocking(true)?;
                    socket::no_delay_for_accepted(&t)?;
                    AnyListener::Tcp(TcpListener::from_std(t))
                }
                Listener::Unix { listener, .. } => {
                    listener.set_nonblocking(true)?;
                    AnyListener::Unix(UnixListener::from_std(listener))
                }
            };
            let token = Token(FIRST_LISTENER + i);
            // Every worker waits on the same listening sockets: a new connection
            // should wake one of them, not all.
            if let Err(e) =
                crate::sys::epoll_add_exclusive(poll.as_raw_fd(), listener.raw_fd(), token.0 as u64)
            {
                log::debug!("EPOLLEXCLUSIVE refused ({e}); every worker is woken per connection");
                match &mut listener {
                    AnyListener::Tcp(t) => {
                        poll.registry().register(t, token, Interest::READABLE)?
                    }
                    AnyListener::Unix(u) => {
                        poll.registry().register(u, token, Interest::READABLE)?
                    }
                }
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
                now: Instant::now(),
                now_unix: unix_secs(),
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
            // (`now` is the end of the last turn, a moment ago.)
            if let Some(at) = self.pool.spread(self.now) {
                timeout = timeout.min(at.saturating_duration_since(self.now));
            }
            if !self.wake.park() {
                timeout = Duration::ZERO;
            }
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            self.now = Instant::now();
            self.now_unix = unix_secs();
            // What app threads reported first (with what they noted without a
            // wake): a connection whose response ended is then idle before its
            // next request is read below, rather than driven again after that
            // request was handed out (which would only contend for the new
            // response's lock while its app thread writes).
            self.on_wake();
            for event in events.iter() {
                match event.token() {
                    WAKER => {} // drained above
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
            let now = Instant::now();
            self.now = now;
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

    // ----- signals and the drain -----

    /// Read the signal pipes; returns Some when the loop must stop now.
    fn on_signal(&mut self) -> Option<Stop> {
        let signals = self.signals.as_mut()?;
        let graceful = crate::signal_pipe::drain(&mut signals.graceful);
        let immediate = crate::signal_pipe::drain(&mut signals.immediate);
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
