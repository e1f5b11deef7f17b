//! The queue through which app threads tell the I/O thread that a connection has
//! news (output to write, a response finished), and the I/O thread's side of it.
//! App threads push (`Notify`); the I/O thread drains it once per turn of its loop.
use super::{request_recycle, EventLoop, FIRST_CONN};
use crate::conn::outbuf::Notify;
use mio::Waker;
use std::sync::Mutex;

/// Tokens of connections with news from app threads, and the waker that interrupts
/// `poll`. App threads push; the I/O thread drains after every `poll`.
pub struct WakeQueue {
    pending: Mutex<Pending>,
    waker: Waker,
}

#[derive(Default)]
pub(super) struct Pending {
    tokens: Vec<usize>,
    /// A wake-up was sent that the I/O thread has not drained yet.
    woken: bool,
}

impl WakeQueue {
    pub(super) fn push(&self, token: usize, wake: bool) {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        p.tokens.push(token);
        let send = wake && !p.woken;
        p.woken |= send;
        drop(p);
        if send {
            if let Err(e) = self.waker.wake() {
                log::error!("cannot wake the I/O thread: {e}");
            }
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

impl WakeQueue {
    pub(super) fn new(waker: Waker) -> WakeQueue {
        WakeQueue {
            pending: Mutex::new(Pending::default()),
            waker,
        }
    }
}

impl EventLoop<'_> {
    pub(super) fn on_wake(&mut self) {
        {
            let mut pending = self.wake.pending.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::swap(&mut pending.tokens, &mut self.woken);
            pending.woken = false;
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
