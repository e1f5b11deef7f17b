//! The master↔worker link: one socketpair per worker. The worker tells the master it
//! is ready to serve, that its I/O loop is alive (a heartbeat every second), that it
//! reached --max-requests, or why it could not boot. The master learns of a worker's
//! death from EOF as well as from SIGCHLD. Messages are one tag byte; a boot failure
//! carries a line of text. Both ends of one protocol live in this file.
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

/// What a worker says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// The app is loaded and the I/O loop is accepting.
    Ready,
    /// The I/O loop turned (sent once a second).
    Heartbeat,
    /// --max-requests reached: please start my replacement, then stop me.
    Recycle,
    /// The app could not be loaded or initialized; the worker exits with code 3.
    BootFailed(String),
}

const READY: u8 = b'R';
const HEARTBEAT: u8 = b'H';
const RECYCLE: u8 = b'M';
const BOOT_FAILED: u8 = b'F';

/// The worker's end. Writes never block the I/O loop: a heartbeat that does not fit
/// is dropped (the master is not reading; it will notice the next one).
pub struct WorkerLink {
    stream: UnixStream,
}

impl WorkerLink {
    pub fn new(stream: UnixStream) -> io::Result<WorkerLink> {
        stream.set_nonblocking(true)?;
        Ok(WorkerLink { stream })
    }

    pub fn send(&mut self, message: &Message) {
        let bytes = match message {
            Message::Ready => vec![READY],
            Message::Heartbeat => vec![HEARTBEAT],
            Message::Recycle => vec![RECYCLE],
            Message::BootFailed(reason) => {
                let mut v = vec![BOOT_FAILED];
                v.extend(reason.replace('\n', " ").into_bytes());
                v.push(b'\n');
                v
            }
        };
        // A failed write means the master is gone or not reading; the parent check
        // in the I/O loop handles the former.
        let _ = self.stream.write_all(&bytes);
    }
}

/// The master's end: buffers partial messages between reads.
pub struct MasterLink {
    stream: UnixStream,
    pending: Vec<u8>,
}

/// What one read of the link found.
pub struct Received {
    pub messages: Vec<Message>,
    /// The worker closed its end (it exited, or is exiting).
    pub closed: bool,
}

impl MasterLink {
    pub fn new(stream: UnixStream) -> io::Result<MasterLink> {
        stream.set_nonblocking(true)?;
        Ok(MasterLink {
            stream,
            pending: Vec::new(),
        })
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.stream.as_fd()
    }

    /// Read whatever is available without blocking.
    pub fn receive(&mut self) -> Received {
        let mut closed = false;
        let mut buf = [0u8; 512];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        Received {
            messages: self.parse(),
            closed,
        }
    }

    fn parse(&mut self) -> Vec<Message> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            match self.pending[i] {
                READY => out.push(Message::Ready),
                HEARTBEAT => out.push(Message::Heartbeat),
                RECYCLE => out.push(Message::Recycle),
                BOOT_FAILED => match self.pending[i..].iter().position(|&b| b == b'\n') {
                    Some(end) => {
                        let text = String::from_utf8_lossy(&self.pending[i + 1..i + end]);
                        out.push(Message::BootFailed(text.into_owned()));
                        i += end;
                    }
                    None => break, // the rest of the line has not arrived yet
                },
                _ => {} // unknown tags are skipped
            }
            i += 1;
        }
        self.pending.drain(..i);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_split_lines_wait() {
        let (a, b) = UnixStream::pair().unwrap();
        let mut w = WorkerLink::new(a).unwrap();
        let mut m = MasterLink::new(b).unwrap();
        w.send(&Message::Ready);
        w.send(&Message::Heartbeat);
        w.send(&Message::BootFailed("no\nway".into()));
        w.send(&Message::Recycle);
        let r = m.receive();
        assert_eq!(
            r.messages,
            vec![
                Message::Ready,
                Message::Heartbeat,
                Message::BootFailed("no way".into()),
                Message::Recycle
            ]
        );
        assert!(!r.closed);
        drop(w);
        assert!(m.receive().closed);
    }
}
