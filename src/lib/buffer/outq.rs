//! `OutQueue`: output waiting for a socket — memory and file segments in order, with
//! their byte counts — and the one routine that moves such a queue into a socket:
//! memory segments gathered into one writev, file regions through sendfile, as far
//! as the socket takes them (`write_to`; `write_memory_to` stops at a file region).
//! Each queue has one owner at a time (a connection's `OutBuf` holds one under its
//! lock for the app thread's direct writes, the I/O thread's `Conn` another), so
//! there are no locks here; the syscalls themselves are the `Sink`'s (the event
//! loop's sockets).
use super::Segment;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, IoSlice};

/// The most memory segments gathered into one writev (on the stack: a response is
/// a few segments; more go out in the next pass of the loop in `write_to`).
const MAX_IOV: usize = 16;

/// Where a queue's memory is written: a non-blocking socket.
pub trait Sink {
    /// writev(2): bytes taken, or WouldBlock when the socket is full.
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
}

/// A socket that file regions are sent to as well: the I/O thread's. (An app
/// thread's direct write leaves sendfile to the I/O thread: measured with the 1 MiB
/// file of scripts/bench.sh, two app threads each sending whole files ran at 0.8x
/// the responses per second of the one I/O thread sending them.)
pub trait FileSink: Sink {
    /// sendfile(2) of up to `count` bytes of `file` from `offset`: bytes taken, or
    /// WouldBlock.
    fn send_file(&self, file: &File, offset: u64, count: usize) -> io::Result<usize>;
}

/// Why `write_to` stopped.
#[derive(Debug)]
pub enum Stop {
    /// Everything was written.
    Drained,
    /// The socket is full: wait for it to drain.
    Full,
    /// The socket failed (or a file being sent was truncated); what is left is moot.
    Failed(io::Error),
}

/// What one `write_to` did.
#[derive(Debug)]
pub struct Written {
    /// Bytes that left the queue, and how many of them were in memory.
    pub bytes: u64,
    pub memory: u64,
    pub stop: Stop,
}

#[derive(Default)]
pub struct OutQueue {
    segments: VecDeque<Segment>,
    /// Bytes still to send, and how many of them are in memory.
    bytes: u64,
    memory: u64,
}

impl OutQueue {
    pub fn push(&mut self, segment: Segment) {
        if segment.remaining() == 0 {
            return;
        }
        self.bytes += segment.remaining();
        self.memory += segment.memory_bytes();
        self.segments.push_back(segment);
    }

    /// Move everything in `other` to the end of this queue.
    pub fn append(&mut self, other: &mut OutQueue) {
        self.bytes += std::mem::take(&mut other.bytes);
        self.memory += std::mem::take(&mut other.memory);
        self.segments.append(&mut other.segments);
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Bytes still to send.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn clear(&mut self) {
        self.segments.clear();
        self.bytes = 0;
        self.memory = 0;
    }

    /// Write the queue to `sink` from the front, until it is empty, the socket is
    /// full, or the socket fails. Written bytes leave the queue.
    pub fn write_to<S: FileSink>(&mut self, sink: &S) -> Written {
        self.write(sink, Some(sink))
    }

    /// As `write_to`, but only the memory segments before the first file region.
    pub fn write_memory_to(&mut self, sink: &dyn Sink) -> Written {
        self.write(sink, None)
    }

    fn write(&mut self, sink: &dyn Sink, files: Option<&dyn FileSink>) -> Written {
        let mut done = Written {
            bytes: 0,
            memory: 0,
            stop: Stop::Drained,
        };
        loop {
            let result = match self.segments.front() {
                None => return done,
                Some(Segment::File {
                    file,
                    offset,
                    remaining,
                }) => {
                    let Some(files) = files else { return done };
                    let count = (*remaining).min(1 << 30) as usize;
                    match files.send_file(file, *offset, count) {
                        Ok(0) => Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the file being sent was truncated",
                        )),
                        other => other,
                    }
                }
                Some(Segment::Memory { .. }) => {
                    let mut slices = [IoSlice::new(&[]); MAX_IOV];
                    let mut n = 0;
                    for segment in self.segments.iter().take(MAX_IOV) {
                        let Segment::Memory { data, pos } = segment else {
                            break;
                        };
                        slices[n] = IoSlice::new(&data[*pos..]);
                        n += 1;
                    }
                    match sink.write_vectored(&slices[..n]) {
                        Ok(0) => Err(io::Error::new(io::ErrorKind::WriteZero, "write returned 0")),
                        other => other,
                    }
                }
            };
            match result {
                Ok(n) => {
                    let memory = self.consume(n as u64);
                    done.bytes += n as u64;
                    done.memory += memory;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    done.stop = Stop::Full;
                    return done;
                }
                Err(e) => {
                    done.stop = Stop::Failed(e);
                    return done;
                }
            }
        }
    }

    /// `n` bytes from the front were written: drop them. Returns how many of them
    /// were in memory.
    fn consume(&mut self, mut n: u64) -> u64 {
        self.bytes -= n;
        let mut memory = 0;
        while n > 0 {
            let Some(front) = self.segments.front_mut() else {
                break;
            };
            let left = front.remaining();
            let taken = n.min(left);
            match front {
                Segment::Memory { pos, .. } => {
                    *pos += taken as usize;
                    memory += taken;
                }
                Segment::File {
                    offset, remaining, ..
                } => {
                    *offset += taken;
                    *remaining -= taken;
                }
            }
            if taken == left {
                self.segments.pop_front();
            }
            n -= taken;
        }
        self.memory -= memory;
        memory
    }

    /// The queued bytes of memory segments, front first (tests).
    #[cfg(test)]
    pub fn memory_contents(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for segment in &self.segments {
            if let Segment::Memory { data, pos } = segment {
                all.extend_from_slice(&data[*pos..]);
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::os::unix::fs::FileExt;

    /// A socket that takes up to `room` bytes per call, `calls` calls in all.
    struct Socket {
        room: usize,
        calls: RefCell<usize>,
        got: RefCell<Vec<u8>>,
    }

    impl Socket {
        fn new(room: usize, calls: usize) -> Socket {
            Socket {
                room,
                calls: RefCell::new(calls),
                got: RefCell::new(Vec::new()),
            }
        }

        fn take(&self) -> io::Result<usize> {
            let mut calls = self.calls.borrow_mut();
            if *calls == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            *calls -= 1;
            Ok(self.room)
        }
    }

    impl Sink for Socket {
        fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            let mut room = self.take()?;
            let mut n = 0;
            for b in bufs {
                let k = b.len().min(room);
                self.got.borrow_mut().extend_from_slice(&b[..k]);
                room -= k;
                n += k;
            }
            Ok(n)
        }
    }

    impl FileSink for Socket {
        fn send_file(&self, file: &File, offset: u64, count: usize) -> io::Result<usize> {
            let room = self.take()?;
            let mut buf = vec![0; count.min(room)];
            let n = file.read_at(&mut buf, offset)?;
            self.got.borrow_mut().extend_from_slice(&buf[..n]);
            Ok(n)
        }
    }

    fn file_with(bytes: &[u8]) -> File {
        let file = tempfile::tempfile().unwrap();
        file.write_all_at(bytes, 0).unwrap();
        file
    }

    fn queue() -> OutQueue {
        let mut q = OutQueue::default();
        q.push(Segment::memory(b"head ".to_vec()));
        q.push(Segment::File {
            file: file_with(b"xxFILEyy"),
            offset: 2,
            remaining: 4,
        });
        q.push(Segment::memory(b" tail".to_vec()));
        q
    }

    #[test]
    fn memory_and_file_segments_go_out_in_order() {
        let mut q = queue();
        assert_eq!(q.bytes(), 14);
        let sock = Socket::new(1000, 100);
        let w = q.write_to(&sock);
        assert!(matches!(w.stop, Stop::Drained), "{w:?}");
        assert_eq!((w.bytes, w.memory), (14, 10));
        assert_eq!(*sock.got.borrow(), b"head FILE tail");
        assert!(q.is_empty() && q.bytes() == 0);
    }

    #[test]
    fn a_full_socket_leaves_the_rest_queued_exactly() {
        // Every byte boundary: 3 bytes per call, then full, then the rest.
        for calls in 0..6 {
            let mut q = queue();
            let first = Socket::new(3, calls);
            let w = q.write_to(&first);
            assert!(matches!(w.stop, Stop::Full), "{calls}: {w:?}");
            assert_eq!(q.bytes(), 14 - w.bytes, "{calls}");
            let rest = Socket::new(1000, 100);
            q.write_to(&rest);
            let mut all = first.got.borrow().clone();
            all.extend_from_slice(&rest.got.borrow());
            assert_eq!(all, b"head FILE tail", "{calls}");
        }
    }

    #[test]
    fn upto_the_first_file_stops_before_it() {
        let mut q = queue();
        let sock = Socket::new(1000, 100);
        let w = q.write_memory_to(&sock);
        assert!(matches!(w.stop, Stop::Drained));
        assert_eq!((w.bytes, q.bytes()), (5, 9));
        assert_eq!(*sock.got.borrow(), b"head ");
    }

    #[test]
    fn a_truncated_file_fails_the_write() {
        let mut q = OutQueue::default();
        q.push(Segment::File {
            file: file_with(b"ab"),
            offset: 0,
            remaining: 5,
        });
        let w = q.write_to(&Socket::new(1000, 100));
        assert!(matches!(w.stop, Stop::Failed(ref e) if e.kind() == io::ErrorKind::UnexpectedEof));
        assert_eq!(w.bytes, 2);
    }

    #[test]
    fn append_moves_everything_and_its_counts() {
        let mut a = OutQueue::default();
        a.push(Segment::memory(b"a".to_vec()));
        let mut b = queue();
        a.append(&mut b);
        assert!(b.is_empty() && b.bytes() == 0);
        assert_eq!(a.bytes(), 15);
        a.clear();
        assert!(a.is_empty() && a.bytes() == 0);
    }
}
