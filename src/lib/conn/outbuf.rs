//! `OutBuf`: the one object an app thread and the I/O thread share for a response.
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
use crate::buffer::Segment;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

/// How the I/O thread learns that a connection has output (implemented by the
/// event loop on a mio `Waker`). Called on app threads.
pub trait Notify: Send + Sync {
    fn notify(&self, token: usize);
}

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
    segments: VecDeque<Segment>,
    /// Bytes pushed and not yet written to the socket (including those the I/O thread
    /// has taken but not written): what the high watermark limits.
    queued: u64,
    /// The part of `queued` held in memory: what `outbuf_overflow` limits.
    queued_memory: u64,
    peer: Peer,
    producer: Producer,
    /// Whether a notification is outstanding (the I/O thread has not taken yet).
    notified: bool,
}

pub struct OutBuf {
    token: usize,
    high_watermark: u64,
    notify: std::sync::Arc<dyn Notify>,
    shared: Mutex<Shared>,
    drained: Condvar,
}

/// The push failed: the client is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnected;

impl OutBuf {
    pub fn new(token: usize, high_watermark: u64, notify: std::sync::Arc<dyn Notify>) -> OutBuf {
        OutBuf {
            token,
            high_watermark,
            notify,
            shared: Mutex::new(Shared {
                segments: VecDeque::new(),
                queued: 0,
                queued_memory: 0,
                peer: Peer::Connected,
                producer: Producer::Running,
                notified: false,
            }),
            drained: Condvar::new(),
        }
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
        s.segments.push_back(segment);
        let wake = !s.notified;
        s.notified = true;
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

    /// The response is over. App thread; called exactly once.
    pub fn finish(&self, completion: Completion) {
        let mut s = self.lock();
        debug_assert_eq!(s.producer, Producer::Running, "finish called twice");
        s.producer = Producer::Finished(completion);
        let wake = !s.notified;
        s.notified = true;
        drop(s);
        if wake {
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
    /// has finished (and nothing is left to take). I/O thread.
    pub fn take(&self, into: &mut VecDeque<Segment>) -> Option<Completion> {
        let mut s = self.lock();
        into.append(&mut s.segments);
        s.notified = false;
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

    #[test]
    fn notifies_once_per_empty_to_nonempty_transition() {
        let n = Arc::new(CountingNotify::default());
        let out = OutBuf::new(7, 1 << 20, n.clone());
        out.push(Segment::memory(b"a".to_vec())).unwrap();
        out.push(Segment::memory(b"b".to_vec())).unwrap();
        assert_eq!(n.0.load(Ordering::SeqCst), 1);
        let mut q = VecDeque::new();
        assert_eq!(out.take(&mut q), None);
        assert_eq!(q.len(), 2);
        out.finish(Completion::KeepAlive);
        assert_eq!(n.0.load(Ordering::SeqCst), 2);
        assert_eq!(out.take(&mut q), Some(Completion::KeepAlive));
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
        let mut q = VecDeque::new();
        out.take(&mut q);
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
