//! The master's signals: each handled signal sets a flag and writes a byte to a wake
//! pipe (signal-hook's async-signal-safe actions), and the master loop drains them
//! with `take()`. No work happens in signal context (gunicorn's rule).
use nix::sys::signal::Signal;
use signal_hook::SigId;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The signals the master acts on, in the order `take()` reports them.
const MASTER_SIGNALS: [Signal; 8] = [
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGUSR1,
    Signal::SIGCHLD,
];

pub struct MasterSignals {
    flags: Vec<(Signal, Arc<AtomicBool>)>,
    ids: Vec<SigId>,
    wake: UnixStream,
}

impl MasterSignals {
    /// Install the actions. Call with the signals blocked (see `sys::block_signals`);
    /// unblock afterwards.
    pub fn install() -> io::Result<MasterSignals> {
        let (wake, wake_write) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        wake_write.set_nonblocking(true)?;
        let mut flags = Vec::new();
        let mut ids = Vec::new();
        for sig in MASTER_SIGNALS {
            let flag = Arc::new(AtomicBool::new(false));
            ids.push(signal_hook::flag::register(sig as i32, flag.clone())?);
            ids.push(signal_hook::low_level::pipe::register(
                sig as i32,
                wake_write.try_clone()?,
            )?);
            flags.push((sig, flag));
        }
        Ok(MasterSignals { flags, ids, wake })
    }

    /// Poll this for readability: a signal arrived.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// The signals that arrived since the last call, most urgent first.
    pub fn take(&mut self) -> Vec<Signal> {
        let mut buf = [0u8; 64];
        while matches!(self.wake.read(&mut buf), Ok(n) if n > 0) {}
        self.flags
            .iter()
            .filter(|(_, f)| f.swap(false, Ordering::SeqCst))
            .map(|(s, _)| *s)
            .collect()
    }

    /// In a freshly forked worker: drop the master's actions. Signals without an
    /// action are then ignored (signal-hook keeps its handler installed), which is
    /// what a worker wants for HUP, INT, TTIN, TTOU and CHLD.
    pub fn forget_in_child(&self) {
        for id in &self.ids {
            signal_hook::low_level::unregister(*id);
        }
    }
}

impl Drop for MasterSignals {
    /// The master is done (`waitressd.serve()` returns into its caller): its signal
    /// actions go with it.
    fn drop(&mut self) {
        for id in &self.ids {
            signal_hook::low_level::unregister(*id);
        }
    }
}
