//! The small libc/nix surface that needs `unsafe`, each call a safe function with its
//! contract stated once: fork, _exit, adopting inherited fds, the signal mask.
#![allow(unsafe_code)]

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::unistd::{ForkResult, Pid};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Leave the process now with `code`, without running atexit handlers or static
/// destructors: app.so's destructors must not race its own threads (the ABI
/// promises `_exit` after `shutdown`). Flush what must be flushed first.
pub fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stderr().flush();
    let _ = std::io::stdout().flush();
    // SAFETY: _exit is async-signal-safe and takes no pointers; it never returns.
    unsafe { libc::_exit(code) }
}

/// Which side of a fork we are on.
pub enum Forked {
    Parent(Pid),
    Child,
}

/// fork(2). Caller's contract: the process is single-threaded (the master is, by
/// design: no threads before or between forks), so the child's copy of every lock
/// and allocator is consistent.
pub fn fork() -> std::io::Result<Forked> {
    // SAFETY: called only from the single-threaded master (see above); the child
    // goes straight into worker setup and never returns into the master's loop.
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Parent { child }) => Ok(Forked::Parent(child)),
        Ok(ForkResult::Child) => Ok(Forked::Child),
        Err(e) => Err(e.into()),
    }
}

/// Take ownership of an fd inherited from our parent (systemd socket activation).
/// Caller's contract: `fd` is open and nothing else in this process owns it.
pub fn adopt_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: the LISTEN_FDS protocol hands these fds to this process alone, and
    // the caller adopts each once.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// The signals the master and workers handle.
pub const HANDLED_SIGNALS: [Signal; 9] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGQUIT,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGUSR1,
    Signal::SIGCHLD,
    Signal::SIGALRM,
];

fn handled_set() -> SigSet {
    let mut set = SigSet::empty();
    for s in HANDLED_SIGNALS {
        set.add(s);
    }
    set
}

/// Ignore SIGXFSZ, so that a write past the file-size limit (`ulimit -f`,
/// `LimitFSIZE=`) fails with EFBIG, which the spill code answers with a 5xx, instead
/// of killing the worker and every request in flight on it. Inherited by the workers.
pub fn ignore_file_size_signal() -> std::io::Result<()> {
    // SAFETY: SIG_IGN installs no handler code, so no async-signal-safety concern.
    unsafe { nix::sys::signal::signal(Signal::SIGXFSZ, nix::sys::signal::SigHandler::SigIgn) }
        .map(|_| ())
        .map_err(std::io::Error::from)
}

/// Block the handled signals: they stay pending until `unblock_signals`, so a signal
/// that arrives before its handler exists never kills the process with its default
/// action.
pub fn block_signals() -> std::io::Result<()> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&handled_set()), None)
        .map_err(std::io::Error::from)
}

/// Deliver the handled signals again (their handlers are installed).
pub fn unblock_signals() -> std::io::Result<()> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&handled_set()), None)
        .map_err(std::io::Error::from)
}

/// writev(2) on a socket this thread does not own (an app thread writing a response
/// straight out). Caller's contract: `fd` stays open for the call — the caller holds
/// the connection's OutBuf lock, which the I/O thread takes before it closes the
/// socket.
pub fn writev_borrowed(
    fd: std::os::fd::RawFd,
    bufs: &[std::io::IoSlice<'_>],
) -> std::io::Result<usize> {
    // SAFETY: see the contract: the descriptor is open for the whole call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    nix::sys::uio::writev(fd, bufs).map_err(std::io::Error::from)
}

/// Add the listening socket `fd` to the epoll set `epoll` for reads, edge-triggered
/// and exclusive (EPOLLEXCLUSIVE, Linux 4.5): of the workers waiting on a listener
/// they share, a new connection wakes one that is parked in epoll_wait, not all of
/// them (the thundering herd). `token` is what epoll reports for it (mio reads it
/// as the event's `Token`).
pub fn epoll_add_exclusive(epoll: RawFd, fd: RawFd, token: u64) -> std::io::Result<()> {
    let mut event = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLET | libc::EPOLLEXCLUSIVE) as u32,
        u64: token,
    };
    // SAFETY: epoll_ctl only reads `event`, during the call; both descriptors are
    // the caller's and open.
    if unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut event) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Two epoll sets (two workers) wait on one listener registered exclusively: a
    /// connection wakes one of them. (Non-exclusive, it wakes both, every time.) A
    /// waiter that is slow to reach epoll_wait sees the event too, so the check is
    /// that a round with exactly one woken happens, not that every round is one.
    #[test]
    fn an_exclusive_listener_wakes_one_waiting_worker_per_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut counts = Vec::new();
        for _ in 0..5 {
            let (woke_tx, woke_rx) = mpsc::channel();
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let poll = mio::Poll::new().unwrap();
                    epoll_add_exclusive(poll.as_raw_fd(), listener.as_raw_fd(), 7).unwrap();
                    let woke = woke_tx.clone();
                    std::thread::spawn(move || {
                        let mut poll = poll;
                        let mut events = mio::Events::with_capacity(4);
                        poll.poll(&mut events, Some(Duration::from_millis(600)))
                            .unwrap();
                        let got = events.iter().any(|e| e.token() == mio::Token(7));
                        woke.send(got).unwrap();
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(200));
            let _client = std::net::TcpStream::connect(addr).unwrap();
            for w in waiters {
                w.join().unwrap();
            }
            drop(woke_tx);
            counts.push(woke_rx.iter().filter(|&got| got).count());
            while listener.accept().is_ok() {}
        }
        assert!(counts.contains(&1), "woken per connection: {counts:?}");
        assert!(
            counts.iter().all(|&n| n >= 1),
            "a connection woke nobody: {counts:?}"
        );
    }
}
