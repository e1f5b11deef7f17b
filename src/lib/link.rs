//! The master↔worker link: one socketpair per worker. The worker tells the master it
//! is ready to serve, that its I/O loop is alive (a heartbeat every second), that it
//! reached --max-requests (or hit a fatal app error), or why it could not boot.
//! Messages are one tag byte; a boot failure carries a line of text. Both ends of
//! one protocol live in this file.
//!
//! The worker's end closes when its I/O loop stops (it may still be running the
//! app's shutdown). The master then reads the last messages, closes its end and stops
//! polling it: a socket at EOF is always readable, so polling it would spin. The
//! master learns of the exit itself from `waitpid` (SIGCHLD wakes its loop).
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

/// What a worker says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// The app is loaded and the I/O loop is accepting.
    Ready,
    /// The I/O loop turned (sent once a second).
    Heartbeat,
    /// --max-requests reached, or the app reported a fatal error: please start my
    /// replacement, then drain me.
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

/// The master's end: buffers partial messages between reads. Runs in the master.
pub struct MasterLink {
    /// None once the worker closed its end (or the link failed).
    stream: Option<UnixStream>,
    pending: Vec<u8>,
}

impl MasterLink {
    pub fn new(stream: UnixStream) -> io::Result<MasterLink> {
        stream.set_nonblocking(true)?;
        Ok(MasterLink {
            stream: Some(stream),
            pending: Vec::new(),
        })
    }

    /// The fd to poll for messages; None once the worker closed its end.
    pub fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.stream.as_ref().map(|s| s.as_fd())
    }

    /// Read whatever is available without blocking. At EOF (or on an error) the
    /// link is closed: `fd()` is None from then on.
    pub fn receive(&mut self) -> Vec<Message> {
        let Some(stream) = self.stream.as_mut() else {
            return Vec::new();
        };
        let mut buf = [0u8; 512];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => {
                    self.stream = None;
                    break;
                }
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.stream = None;
                    break;
                }
            }
        }
        self.parse()
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
        assert_eq!(
            m.receive(),
            vec![
                Message::Ready,
                Message::Heartbeat,
                Message::BootFailed("no way".into()),
                Message::Recycle
            ]
        );
        assert!(m.fd().is_some());
        drop(w);
        assert_eq!(m.receive(), vec![]);
        assert!(m.fd().is_none(), "a link at EOF is no longer polled");
        assert_eq!(m.receive(), vec![]);
    }

    #[test]
    fn the_last_messages_before_eof_are_read() {
        let (a, b) = UnixStream::pair().unwrap();
        let mut w = WorkerLink::new(a).unwrap();
        let mut m = MasterLink::new(b).unwrap();
        w.send(&Message::BootFailed("no app".into()));
        drop(w);
        assert_eq!(m.receive(), vec![Message::BootFailed("no app".into())]);
        assert!(m.fd().is_none());
    }
}
