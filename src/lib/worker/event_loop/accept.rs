//! Taking new connections: every listener is read until it would block, within
//! `connection_limit` (beyond it the loop stops accepting until a connection
//! closes) and the process's file descriptors (EMFILE: back off and retry). I/O
//! thread.
use super::connection::{Connection, Life, Pace};
use super::socket::{is_fd_exhaustion, AnyListener, SocketWriter, Stream};
use super::{Accepting, EventLoop, ACCEPT_BACKOFF, FIRST_CONN};
use crate::conn::outbuf::OutBuf;
use crate::conn::Conn;
use crate::worker::task::Peer;
use mio::{Interest, Token};
use std::io;
use std::sync::Arc;
use std::time::Instant;

impl EventLoop<'_> {
    pub(super) fn accept_all(&mut self) {
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
                    // TCP_NODELAY comes from the listener (see EventLoop::new).
                    AnyListener::Tcp(l) => l.accept().map(|(s, addr)| {
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

    pub(super) fn add_connection(&mut self, mut stream: Stream, peer: Arc<Peer>) {
        let index = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let token = Token(FIRST_CONN + index);
        // Reads only: write readiness is watched once a write has filled the socket
        // (`Connection::writes_watched`), so a fresh socket's "writable" does not
        // cost a wake-up of its own.
        if let Err(e) = self
            .poll
            .registry()
            .register(stream.source(), token, Interest::READABLE)
        {
            log::error!("cannot register a connection: {e}");
            self.free.push(index);
            return;
        }
        log::debug!(
            "channel {index} opened from {}:{}",
            peer.remote_addr,
            peer.remote_port
        );
        let out = OutBuf::new(
            FIRST_CONN + index,
            self.settings.high_watermark,
            self.wake.clone(),
        )
        .with_direct_write(Arc::new(SocketWriter(stream.raw_fd())));
        self.conns[index] = Some(Connection {
            out: Arc::new(out),
            stream,
            conn: Conn::new(self.conn_settings.clone()),
            peer,
            life: Life::Open,
            // Bytes that arrived before the registration are reported by the next
            // poll (epoll reports what is ready when a socket is added), so there is
            // no read to try now.
            readable: false,
            writable: true,
            writes_watched: false,
            read_closed: false,
            last_activity: self.now,
            head_since: None,
            resting_since: Some(self.now),
            pace: Pace::Fresh,
        });
        self.open += 1;
    }
}
