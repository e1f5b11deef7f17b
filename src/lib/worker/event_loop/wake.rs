//! The queue through which app threads tell the I/O thread that a connection has
//! news (output to write, a response finished), and the I/O thread's side of it.
//! App threads push (`Notify`); the I/O thread drains it once per turn of its loop.
use super::{request_recycle, EventLoop, FIRST_CONN};
use crate::conn::outbuf::Notify;
use mio::Waker;
use std::sync::Mutex;

/// Tokens of connections with news from app threads, and the waker that interrupts
/// `poll`. App threads push; the I/O thread drains at the start of every turn.
pub struct WakeQueue {
    pending: Mutex<Pending>,
    waker: Waker,
}

#[derive(Default)]
pub(super) struct Pending {
    tokens: Vec<usize>,
    io_thread: IoThread,
}

/// What the I/O thread is doing, as far as a notifier is concerned. A wake-up (a
/// write to an eventfd, and a return from `epoll_wait`) is needed only when it is
/// parked: a busy I/O thread drains the queue before it parks again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum IoThread {
    /// Running a turn of the loop.
    #[default]
    Busy,
    /// In `poll`, or about to be, having found the queue empty.
    Parked,
    /// Parked, and a wake-up has been sent.
    Woken,
}

impl WakeQueue {
    pub(super) fn new(waker: Waker) -> WakeQueue {
        WakeQueue {
            pending: Mutex::new(Pending::default()),
            waker,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, token: usize, wake: bool) {
        let mut p = self.lock();
        p.tokens.push(token);
        let send = wake && p.io_thread == IoThread::Parked;
        if send {
            p.io_thread = IoThread::Woken;
        }
        drop(p);
        if send {
            if let Err(e) = self.waker.wake() {
                log::error!("cannot wake the I/O thread: {e}");
            }
        }
    }

    /// The I/O thread is about to poll: true when it may block, false when news is
    /// already queued (poll without waiting, then drain it). I/O thread.
    pub(super) fn park(&self) -> bool {
        let mut p = self.lock();
        if p.tokens.is_empty() {
            p.io_thread = IoThread::Parked;
            true
        } else {
            false
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

impl EventLoop<'_> {
    pub(super) fn on_wake(&mut self) {
        {
            let mut pending = self.wake.lock();
            std::mem::swap(&mut pending.tokens, &mut self.woken);
            pending.io_thread = IoThread::Busy;
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
}
