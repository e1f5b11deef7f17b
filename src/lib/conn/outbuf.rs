//! `OutBuf`: the one object an app thread and the I/O thread share for a
//! connection's responses, one at a time: made when the connection is accepted and
//! reset by the I/O thread for each response it dispatches (`begin`), so a request
//! costs no allocation here.
//!
//! The app thread (through `worker::task`) pushes framed response segments and, at the
//! end, the response's `Completion`. The I/O thread takes the segments, writes them to
//! the socket and reports how many bytes left. A push blocks while the bytes queued
//! for this connection are at `outbuf_high_watermark` (Waitress's backpressure rule),
//! and fails as soon as the peer is gone.
//!
//! The lock is held only to move segments and update counters — never across a
//! syscall on the I/O side, and never across app code (Waitress #349 is what happens
//! otherwise). The I/O thread is told about new work through `Notify`, once per
//! empty → non-empty transition.
//!
//! The app thread may also write to the socket itself, as Waitress's task threads
//! flush: when nothing of this connection's output is in the I/O thread's hands
//! (`Flush::Owned`), a push is written at once through the socket's `Sink`,
//! non-blocking, and only what the socket did not take is left for the I/O thread.
//! A response written whole that way needs no wake-up at all: its completion is
//! noted for the I/O thread's next turn (`Notify::note`), unless the I/O thread
//! asked to hear of it promptly (it has pipelined requests waiting, or the client
//! has finished).
use crate::buffer::{OutQueue, Segment, Sink};
use std::io::{self, IoSlice};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// How the I/O thread learns that a connection has output (implemented by the
/// event loop on a mio `Waker`). Called on app threads.
pub trait Notify: Send + Sync {
    /// Wake the I/O thread for `token`.
    fn notify(&self, token: usize);
    /// Tell the I/O thread about `token` at its next turn, without waking it.
    fn note(&self, token: usize) {
        self.notify(token);
    }
}

/// The connection's socket as an app thread writes to it (implemented by the worker
/// on the socket's descriptor). Used only with the OutBuf's lock held, and the I/O
/// thread disconnects the OutBuf (taking that lock) before it closes the socket, so
/// a write never reaches a descriptor that was closed and reused.
pub type DirectWriter = Arc<dyn Sink + Send + Sync>;

/// How a response ended, decided by the app thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Complete and framed; the connection may serve the next request.
    KeepAlive,
    /// Complete; close the connection once it is written (Connection: close,
    /// close-delimited body, HTTP/1.0 without keep-alive).
    Close,
    /// Broken: send what is queued, then close without a valid terminator so the
    /// client can tell the response is incomplete.
    Abort,
}

/// The peer's side, as the I/O thread last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Connected,
    /// The client closed its sending side (read EOF). Usually it has left, so
    /// `is_disconnected` says so, as Waitress's `client_disconnected` does; but
    /// output still goes out, so a client that half-closes after its request
    /// (`shutdown(SHUT_WR)`) still gets the answer of an app that keeps writing.
    DoneSending,
    /// Reset, or a write failed: nothing more will reach the client.
    Gone,
}

/// What the app side has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Producer {
    Running,
    Finished(Completion),
}

struct Shared {
    segments: OutQueue,
    /// Bytes pushed and not yet written to the socket (including those the I/O thread
    /// has taken but not written): what the high watermark limits.
    queued: u64,
    /// The part of `queued` held in memory: what `outbuf_overflow` limits.
    queued_memory: u64,
    peer: Peer,
    producer: Producer,
    /// Whether a notification is outstanding (the I/O thread has not taken yet).
    notified: bool,
    /// Bytes the I/O thread has taken and not yet written: while any are, the
    /// output is in its hands and an app thread must not write.
    taken: u64,
    /// The I/O thread wants to hear of the completion at once (it has more to do
    /// on this connection after the response).
    prompt: bool,
    /// The producer queued its final bytes with `push_final`: they go out with
    /// `finish`, from the app thread, after it has left app code.
    holding: bool,
    /// This response may be written by the app thread directly: nothing of the
    /// connection was queued ahead of it (a 100 Continue) when it began.
    direct_allowed: bool,
}

/// Who may write this connection's pending output right now.
enum Flush {
    /// The app thread: nothing is in the I/O thread's hands.
    Owned,
    /// The I/O thread (it holds taken segments), or nobody (no direct writer, or
    /// the peer is gone).
    NotOurs,
}

pub struct OutBuf {
    token: usize,
    high_watermark: u64,
    notify: Arc<dyn Notify>,
    direct: Option<DirectWriter>,
    shared: Mutex<Shared>,
    drained: Condvar,
}

/// The push failed: the client is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnected;

impl OutBuf {
    pub fn new(token: usize, high_watermark: u64, notify: Arc<dyn Notify>) -> OutBuf {
        OutBuf {
            token,
            high_watermark,
            notify,
            direct: None,
            shared: Mutex::new(Shared {
                segments: OutQueue::default(),
                queued: 0,
                queued_memory: 0,
                peer: Peer::Connected,
                producer: Producer::Running,
                notified: false,
                taken: 0,
                prompt: false,
                holding: false,
                direct_allowed: true,
            }),
            drained: Condvar::new(),
        }
    }

    /// Let app threads write to the socket themselves (see the module doc).
    pub fn with_direct_write(mut self, direct: DirectWriter) -> OutBuf {
        self.direct = Some(direct);
        self
    }

    /// A new response begins: the connection's previous one is over (finished, and
    /// all of it written), and its app thread will not touch this buffer again.
    /// `prompt`: the I/O thread's wish to hear of the end at once (see
    /// `Shared::prompt`), as `take` would give it; `direct`: whether the app thread
    /// may write this response itself (nothing is queued ahead of it). I/O thread,
    /// when it dispatches a request.
    pub fn begin(&self, prompt: bool, direct: bool) {
        let mut s = self.lock();
        debug_assert!(s.segments.is_empty() && s.taken == 0 && s.queued == 0);
        s.producer = Producer::Running;
        s.notified = false;
        s.prompt = prompt;
        s.holding = false;
        s.direct_allowed = direct;
    }

    fn flush(&self, s: &Shared) -> Flush {
        if self.direct.is_some() && s.direct_allowed && s.taken == 0 && s.peer != Peer::Gone {
            Flush::Owned
        } else {
            Flush::NotOurs
        }
    }

    /// Write the memory segments at the front straight to the socket (app thread,
    /// lock held, `Flush::Owned`), until a file region (the I/O thread's: see
    /// `buffer::outq::FileSink`) or a full socket. An error is left for the I/O
    /// thread to meet on its own write and report.
    fn write_directly(&self, s: &mut Shared) {
        let Some(direct) = &self.direct else { return };
        let written = s.segments.write_memory_to(direct.as_ref());
        s.queued -= written.bytes;
        s.queued_memory -= written.memory;
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A poisoned lock means a thread panicked while moving segments; the data is
        // still consistent (every critical section is a few field updates).
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ----- app thread -----

    /// Bytes held in memory and not yet written: the writer spills to disk above
    /// `outbuf_overflow`. App thread.
    pub fn queued_memory(&self) -> u64 {
        self.lock().queued_memory
    }

    /// Whether pushing `more` bytes would block at the high watermark. App thread
    /// (only the producer adds bytes, so the answer holds until it pushes).
    pub fn would_block(&self, more: u64) -> bool {
        self.lock().queued.saturating_add(more) >= self.high_watermark
    }

    /// Queue a segment, then block while the queue is at the high watermark.
    /// App thread.
    pub fn push(&self, segment: Segment) -> Result<(), Disconnected> {
        let mut s = self.lock();
        if s.peer == Peer::Gone {
            return Err(Disconnected);
        }
        debug_assert_eq!(s.producer, Producer::Running, "push after finish");
        s.queued += segment.remaining();
        s.queued_memory += segment.memory_bytes();
        s.segments.push(segment);
        if s.holding {
            return Ok(()); // after a final push: all of it goes out with `finish`
        }
        if let Flush::Owned = self.flush(&s) {
            self.write_directly(&mut s);
        }
        let wake = !s.segments.is_empty() && !s.notified;
        if wake {
            s.notified = true;
        }
        drop(s);
        if wake {
            self.notify.notify(self.token);
        }
        let mut s = self.lock();
        while s.queued >= self.high_watermark && s.peer != Peer::Gone {
            s = self.drained.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        if s.peer == Peer::Gone {
            return Err(Disconnected);
        }
        Ok(())
    }

    /// Queue `prefix` (framing, or the head) followed by `data`, which the app lends
    /// for this call only. When this thread owns the output and nothing is queued
    /// ahead, both are written from where they are and only what the socket did not
    /// take is copied: a large body costs no allocation and no copy of the part that
    /// went out at once. Otherwise they are copied into one segment, as `push` does.
    /// App thread.
    pub fn push_through(&self, prefix: Vec<u8>, data: &[u8]) -> Result<(), Disconnected> {
        let s = self.lock();
        if s.peer == Peer::Gone {
            return Err(Disconnected);
        }
        let direct = match (&self.direct, self.flush(&s)) {
            (Some(direct), Flush::Owned) if s.segments.is_empty() && !s.holding => direct,
            _ => {
                drop(s);
                let mut bytes = prefix;
                bytes.extend_from_slice(data);
                return self.push(Segment::memory(bytes));
            }
        };
        let total = prefix.len() + data.len();
        let mut written = 0;
        while written < total {
            let slices = [
                IoSlice::new(&prefix[written.min(prefix.len())..]),
                IoSlice::new(&data[written.saturating_sub(prefix.len())..]),
            ];
            match direct.write_vectored(&slices) {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // WouldBlock: the I/O thread writes the rest; an error it meets too.
                Err(_) => break,
            }
        }
        if written == total {
            return Ok(());
        }
        let mut rest = Vec::with_capacity(total - written);
        rest.extend_from_slice(&prefix[written.min(prefix.len())..]);
        rest.extend_from_slice(&data[written.saturating_sub(prefix.len())..]);
        drop(s);
        self.push(Segment::memory(rest))
    }

    /// Queue the response's last bytes. When this thread owns the output they are
    /// held and written by `finish` (which follows once the app has returned: an
    /// embedded interpreter has released its lock by then, so the write costs the
    /// app's other threads nothing); otherwise as `push`. App thread.
    pub fn push_final(&self, segment: Segment) -> Result<(), Disconnected> {
        let mut s = self.lock();
        if let Flush::Owned = self.flush(&s) {
            debug_assert_eq!(s.producer, Producer::Running, "push after finish");
            s.queued += segment.remaining();
            s.queued_memory += segment.memory_bytes();
            s.segments.push(segment);
            s.holding = true;
            return Ok(());
        }
        drop(s);
        self.push(segment)
    }

    /// The response is over. App thread; called exactly once.
    pub fn finish(&self, completion: Completion) {
        let mut s = self.lock();
        debug_assert_eq!(s.producer, Producer::Running, "finish called twice");
        s.producer = Producer::Finished(completion);
        if std::mem::take(&mut s.holding) {
            if let Flush::Owned = self.flush(&s) {
                self.write_directly(&mut s);
            }
            if !s.segments.is_empty() {
                s.notified = true;
                drop(s);
                self.notify.notify(self.token);
                return;
            }
        }
        if s.notified {
            return; // the I/O thread will take the completion with what it was told of
        }
        s.notified = true;
        // Written whole by this thread, and the connection just waits for its next
        // request: the I/O thread learns of it at its next turn.
        let quiet = completion == Completion::KeepAlive
            && s.segments.is_empty()
            && s.taken == 0
            && !s.prompt;
        drop(s);
        if quiet {
            self.notify.note(self.token);
        } else {
            self.notify.notify(self.token);
        }
    }

    /// Whether the I/O thread has seen the peer go away. Any thread.
    pub fn is_disconnected(&self) -> bool {
        self.lock().peer != Peer::Connected
    }

    /// Whether `finish` was called. Any thread.
    pub fn is_finished(&self) -> bool {
        matches!(self.lock().producer, Producer::Finished(_))
    }

    // ----- I/O thread -----

    /// Move every queued segment to `into`; returns the completion once the producer
    /// has finished (and nothing is left to take). `prompt`: wake me as soon as the
    /// response is over (more work waits on this connection). I/O thread.
    pub fn take(&self, into: &mut OutQueue, prompt: bool) -> Option<Completion> {
        let mut s = self.lock();
        s.taken += s.segments.bytes();
        into.append(&mut s.segments);
        s.notified = false;
        s.prompt = prompt;
        match s.producer {
            Producer::Finished(c) => Some(c),
            Producer::Running => None,
        }
    }

    /// `bytes` left for the socket, `memory_bytes` of them from memory. Wakes a writer
    /// blocked at the high watermark once the queue falls below it. I/O thread.
    pub fn written(&self, bytes: u64, memory_bytes: u64) {
        let mut s = self.lock();
        let was_full = s.queued >= self.high_watermark;
        s.queued = s.queued.saturating_sub(bytes);
        s.taken = s.taken.saturating_sub(bytes);
        s.queued_memory = s.queued_memory.saturating_sub(memory_bytes);
        if was_full && s.queued < self.high_watermark {
            self.drained.notify_all();
        }
    }

    /// The client will send nothing more (read EOF): report it, keep writing. I/O thread.
    pub fn peer_done_sending(&self) {
        let mut s = self.lock();
        if s.peer == Peer::Connected {
            s.peer = Peer::DoneSending;
        }
    }

    /// The peer is gone: fail the writer's pushes from now on. I/O thread.
    pub fn disconnect(&self) {
        let mut s = self.lock();
        s.peer = Peer::Gone;
        s.segments.clear();
        self.drained.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[derive(Default)]
    struct CountingNotify(AtomicUsize);
    impl Notify for CountingNotify {
        fn notify(&self, _token: usize) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Counts wake-ups and quiet notes apart.
    #[derive(Default)]
    struct Both {
        woken: AtomicUsize,
        noted: AtomicUsize,
    }
    impl Notify for Both {
        fn notify(&self, _token: usize) {
            self.woken.fetch_add(1, Ordering::SeqCst);
        }
        fn note(&self, _token: usize) {
            self.noted.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A socket that takes up to `room` bytes.
    struct Socket {
        room: Mutex<usize>,
        got: Mutex<Vec<u8>>,
    }
    impl Sink for Socket {
        fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            let mut room = self.room.lock().unwrap();
            if *room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(*room - n);
                self.got.lock().unwrap().extend_from_slice(&b[..take]);
                n += take;
            }
            *room -= n;
            Ok(n)
        }
    }

    fn socket(room: usize) -> Arc<Socket> {
        Arc::new(Socket {
            room: Mutex::new(room),
            got: Mutex::new(Vec::new()),
        })
    }

    #[test]
    fn an_owned_response_is_written_directly_and_needs_no_wake_up() {
        let n = Arc::new(Both::default());
        let sock = socket(1000);
        let out = OutBuf::new(1, 1 << 20, n.clone()).with_direct_write(sock.clone());
        out.push(Segment::memory(b"head".to_vec())).unwrap();
        out.push(Segment::memory(b"body".to_vec())).unwrap();
        out.finish(Completion::KeepAlive);
        assert_eq!(*sock.got.lock().unwrap(), b"headbody");
        assert_eq!(n.woken.load(Ordering::SeqCst), 0);
        assert_eq!(n.noted.load(Ordering::SeqCst), 1);
        let mut q = OutQueue::default();
        assert_eq!(out.take(&mut q, false), Some(Completion::KeepAlive));
        assert!(q.is_empty());
    }

    #[test]
    fn one_buffer_serves_a_connections_responses_in_turn() {
        let n = Arc::new(Both::default());
        let sock = socket(1000);
        let out = OutBuf::new(1, 1 << 20, n.clone()).with_direct_write(sock.clone());
        out.push(Segment::memory(b"one".to_vec())).unwrap();
        out.finish(Completion::KeepAlive);
        let mut q = OutQueue::default();
        assert_eq!(out.take(&mut q, false), Some(Completion::KeepAlive));
        // The next response runs again; with a 100 Continue queued ahead of it, it
        // is not written directly but handed to the I/O thread.
        out.begin(false, false);
        assert!(!out.is_finished());
        out.push(Segment::memory(b"two".to_vec())).unwrap();
        assert_eq!(*sock.got.lock().unwrap(), b"one");
        assert_eq!(out.take(&mut q, false), None);
        assert_eq!(q.bytes(), 3);
        q.clear();
        out.written(3, 3);
        out.finish(Completion::Close);
        assert_eq!(out.take(&mut q, false), Some(Completion::Close));
        // With nothing ahead, the app thread writes it itself again.
        out.begin(true, true);
        out.push(Segment::memory(b"three".to_vec())).unwrap();
        assert_eq!(*sock.got.lock().unwrap(), b"onethree");
    }

    #[test]
    fn what_the_socket_does_not_take_goes_to_the_io_thread_in_order() {
        let n = Arc::new(Both::default());
        let sock = socket(3);
        let out = OutBuf::new(1, 1 << 20, n.clone()).with_direct_write(sock.clone());
        out.push(Segment::memory(b"abcdef".to_vec())).unwrap();
        assert_eq!(
            n.woken.load(Ordering::SeqCst),
            1,
            "the rest needs the I/O thread"
        );
        // Once the I/O thread holds output, this thread never writes past it.
        let mut q = OutQueue::default();
        out.take(&mut q, false);
        *sock.room.lock().unwrap() = 100;
        out.push(Segment::memory(b"gh".to_vec())).unwrap();
        assert_eq!(*sock.got.lock().unwrap(), b"abc");
        out.finish(Completion::KeepAlive);
        assert_eq!(
            n.noted.load(Ordering::SeqCst),
            0,
            "not written whole: a wake-up"
        );
        // After the I/O thread wrote its part, the output is the app thread's again.
        out.written(3, 3);
        let mut rest = OutQueue::default();
        out.take(&mut rest, false);
        assert_eq!(rest.bytes(), 2);
    }

    #[test]
    fn final_bytes_are_held_until_finish() {
        let n = Arc::new(Both::default());
        let sock = socket(1000);
        let out = OutBuf::new(1, 1 << 20, n.clone()).with_direct_write(sock.clone());
        out.push_final(Segment::memory(b"all".to_vec())).unwrap();
        out.push(Segment::memory(b"+trailer".to_vec())).unwrap();
        assert!(sock.got.lock().unwrap().is_empty(), "held");
        out.finish(Completion::KeepAlive);
        assert_eq!(*sock.got.lock().unwrap(), b"all+trailer");
        assert_eq!(
            (
                n.woken.load(Ordering::SeqCst),
                n.noted.load(Ordering::SeqCst)
            ),
            (0, 1)
        );
        // Without ownership, a final push is an ordinary one.
        let n = Arc::new(Both::default());
        let out = OutBuf::new(1, 1 << 20, n.clone());
        out.push_final(Segment::memory(b"x".to_vec())).unwrap();
        assert_eq!(n.woken.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_prompt_request_or_a_close_always_wakes() {
        for (prompt, completion) in [(true, Completion::KeepAlive), (false, Completion::Close)] {
            let n = Arc::new(Both::default());
            let out = OutBuf::new(1, 1 << 20, n.clone()).with_direct_write(socket(100));
            let mut q = OutQueue::default();
            out.take(&mut q, prompt);
            out.push(Segment::memory(b"x".to_vec())).unwrap();
            out.finish(completion);
            assert_eq!(n.woken.load(Ordering::SeqCst), 1, "{prompt} {completion:?}");
            assert_eq!(n.noted.load(Ordering::SeqCst), 0);
        }
    }

    #[test]
    fn nothing_is_written_directly_once_the_peer_is_gone() {
        let n = Arc::new(Both::default());
        let sock = socket(100);
        let out = OutBuf::new(1, 1 << 20, n).with_direct_write(sock.clone());
        out.disconnect();
        assert_eq!(out.push(Segment::memory(b"x".to_vec())), Err(Disconnected));
        assert!(sock.got.lock().unwrap().is_empty());
    }

    #[test]
    fn notifies_once_per_empty_to_nonempty_transition() {
        let n = Arc::new(CountingNotify::default());
        let out = OutBuf::new(7, 1 << 20, n.clone());
        out.push(Segment::memory(b"a".to_vec())).unwrap();
        out.push(Segment::memory(b"b".to_vec())).unwrap();
        assert_eq!(n.0.load(Ordering::SeqCst), 1);
        let mut q = OutQueue::default();
        assert_eq!(out.take(&mut q, false), None);
        assert_eq!(q.bytes(), 2);
        out.finish(Completion::KeepAlive);
        assert_eq!(n.0.load(Ordering::SeqCst), 2);
        assert_eq!(out.take(&mut q, false), Some(Completion::KeepAlive));
    }

    #[test]
    fn writer_blocks_at_high_watermark_until_drained() {
        let n = Arc::new(CountingNotify::default());
        let out = Arc::new(OutBuf::new(1, 10, n));
        let writer = {
            let out = out.clone();
            std::thread::spawn(move || out.push(Segment::memory(vec![0; 10])))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!writer.is_finished(), "push must block at the watermark");
        let mut q = OutQueue::default();
        out.take(&mut q, false);
        out.written(10, 10);
        assert_eq!(writer.join().unwrap(), Ok(()));
    }

    #[test]
    fn blocked_writer_fails_on_disconnect() {
        let n = Arc::new(CountingNotify::default());
        let out = Arc::new(OutBuf::new(1, 10, n));
        let writer = {
            let out = out.clone();
            std::thread::spawn(move || out.push(Segment::memory(vec![0; 20])))
        };
        std::thread::sleep(Duration::from_millis(20));
        out.disconnect();
        assert_eq!(writer.join().unwrap(), Err(Disconnected));
        assert!(out.is_disconnected());
        assert_eq!(out.push(Segment::memory(vec![1])), Err(Disconnected));
    }

    #[test]
    fn a_peer_done_sending_is_reported_but_still_written_to() {
        let n = Arc::new(CountingNotify::default());
        let out = OutBuf::new(1, 10, n);
        assert!(!out.is_disconnected());
        out.peer_done_sending();
        assert!(out.is_disconnected());
        assert_eq!(out.push(Segment::memory(vec![1])), Ok(()));
        out.disconnect();
        out.peer_done_sending(); // does not bring a gone peer back
        assert_eq!(out.push(Segment::memory(vec![1])), Err(Disconnected));
    }
}
