//! Sockets as the I/O thread uses them: listeners, accepted streams (TCP or unix),
//! the raw socket app threads write through (`SocketWriter`), and the helpers that
//! read, discard and write a connection's bytes. I/O thread only, except
//! `SocketWriter::write_now`, which an app thread calls while it owns the output.
use super::connection::Connection;
use crate::buffer::Segment;
use crate::conn::outbuf::DirectWrite;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::time::Instant;

/// The most memory segments gathered into one writev.
const MAX_IOV: usize = 64;

pub(super) enum AnyListener {
    Tcp(TcpListener),
    Unix(UnixListener),
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

    pub(super) fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
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

    pub(super) fn sendfile(
        &self,
        file: &std::fs::File,
        offset: &mut i64,
        count: usize,
    ) -> io::Result<usize> {
        let out = match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
        };
        nix::sys::sendfile::sendfile(out, file.as_fd(), Some(offset), count)
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

impl DirectWrite for SocketWriter {
    fn write_now(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
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
