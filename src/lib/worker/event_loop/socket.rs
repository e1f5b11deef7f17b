//! Sockets as the I/O thread uses them: listeners, accepted streams (TCP or unix),
//! the raw socket app threads write through (`SocketWriter`), and the helpers that
//! read, discard and write a connection's bytes. I/O thread only, except the
//! `SocketWriter`'s writes, which an app thread makes while it owns the output.
use super::connection::Connection;
use crate::buffer::outq::{FileSink, Stop};
use crate::buffer::Sink;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::time::Instant;

pub(super) enum AnyListener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl AnyListener {
    pub(super) fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            AnyListener::Tcp(l) => l.as_raw_fd(),
            AnyListener::Unix(l) => l.as_raw_fd(),
        }
    }
}

pub(super) struct ListenSlot {
    pub(super) listener: AnyListener,
    pub(super) local_port: String,
    pub(super) registered: bool,
}

pub(super) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    pub(super) fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
        }
    }

    pub(super) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    pub(super) fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }

    pub(super) fn shutdown_write(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
        };
    }
}

/// The I/O thread's writes.
impl Sink for Stream {
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            // mio writes through a shared reference (`impl Write for &TcpStream`).
            Stream::Tcp(s) => {
                let mut s: &TcpStream = s;
                s.write_vectored(bufs)
            }
            Stream::Unix(s) => {
                let mut s: &UnixStream = s;
                s.write_vectored(bufs)
            }
        }
    }
}

impl FileSink for Stream {
    fn send_file(&self, file: &std::fs::File, offset: u64, count: usize) -> io::Result<usize> {
        let out = match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
        };
        let mut offset = offset as i64;
        nix::sys::sendfile::sendfile(out, file.as_fd(), Some(&mut offset), count)
            .map_err(io::Error::from)
    }
}

/// Turn Nagle's algorithm off for every connection `listener` accepts: responses go
/// out whole or in pieces the app chose, and Nagle would hold a small one back for
/// the client's delayed ACK. Set once on the listener, since Linux copies it to each
/// accepted socket: no setsockopt per connection.
pub(super) fn no_delay_for_accepted(listener: &std::net::TcpListener) -> io::Result<()> {
    socket2::SockRef::from(listener).set_nodelay(true)
}

/// A connection's socket as app threads write to it (see `conn::outbuf`).
pub(super) struct SocketWriter(pub(super) std::os::fd::RawFd);

impl Sink for SocketWriter {
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        crate::sys::writev_borrowed(self.0, bufs)
    }
}

/// Read until the socket is drained or the connection stops wanting input.
///
/// A read that returns less than the buffer holds took everything the socket had:
/// the readiness is spent, and bytes that arrive later raise a new edge (Linux's
/// epoll signals every arrival to an edge-triggered waiter), so there is no need for
/// the extra read that would only say WouldBlock — one syscall per request saved.
/// Not once the kernel has reported the client's FIN: that edge is already spent,
/// so the loop reads on to the EOF.
pub(super) fn read_input(c: &mut Connection, buf: &mut [u8], now: Instant) -> io::Result<()> {
    while c.conn.wants_read() {
        match c.stream.read(buf) {
            Ok(0) => {
                c.readable = false;
                c.conn.eof();
                return Ok(());
            }
            Ok(n) => {
                c.last_activity = now;
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
pub(super) enum Discarded {
    /// Nothing was waiting.
    Nothing,
    /// Bytes were waiting (and were dropped); more may follow.
    Some,
    /// The client closed (or the connection broke): it can be closed now.
    Eof,
}

/// Read and drop input until WouldBlock or EOF.
pub(super) fn discard_input(c: &mut Connection, buf: &mut [u8]) -> Discarded {
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
pub(super) fn write_output(c: &mut Connection) -> io::Result<bool> {
    let written = c.conn.output().write_to(&c.stream);
    c.conn.wrote(written.bytes, written.memory);
    match written.stop {
        Stop::Drained => Ok(true),
        Stop::Full => Ok(false),
        Stop::Failed(e) => Err(e),
    }
}

pub(super) fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}

/// Resets and broken pipes are clients going away, not server trouble.
pub(super) fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_sockets_inherit_no_delay_from_the_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        no_delay_for_accepted(&listener).unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}
