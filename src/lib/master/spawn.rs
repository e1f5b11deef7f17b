//! Forking one worker. Both sides of the fork are here: the parent gets the child's
//! pid and its end of the link; the child sheds the master's signal actions and fds,
//! arranges to die with the master, runs `worker::run`, and exits — it never returns
//! into the master's code.
use super::signals::MasterSignals;
use crate::config::Config;
use crate::link::{MasterLink, WorkerLink};
use crate::net::Listener;
use crate::signal_pipe::SignalPipe;
use crate::sys::{self, Forked};
use crate::worker::{self, WorkerSpec};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// What the child needs from the master.
pub struct SpawnArgs<'a> {
    pub cfg: &'a Config,
    pub listeners: &'a [Listener],
    pub signals: &'a MasterSignals,
    /// Master-only fds the child must close (other workers' links, the wake pipe).
    pub master_fds: Vec<RawFd>,
    pub index: u32,
    pub max_requests: u64,
}

/// Fork a worker. Parent side: returns its pid and link.
pub fn spawn(args: SpawnArgs<'_>) -> std::io::Result<(Pid, MasterLink)> {
    let (master_end, worker_end) = UnixStream::pair()?;
    let master_pid = nix::unistd::getpid();
    // Keep signals blocked across fork: the child must not run the master's signal
    // actions before it has replaced them.
    sys::block_signals()?;
    // An embedding interpreter (Python) must prepare for the fork and repair its
    // state on both sides (PyOS_BeforeFork / AfterFork_*).
    let embedder = crate::embed::embedder();
    if let Some(e) = embedder {
        e.before_fork();
    }
    let forked = sys::fork();
    if let Some(e) = embedder {
        match forked {
            Ok(Forked::Child) => e.after_fork_in_child(),
            _ => e.after_fork_in_parent(),
        }
    }
    match forked {
        Ok(Forked::Parent(pid)) => {
            sys::unblock_signals()?;
            drop(worker_end);
            Ok((pid, MasterLink::new(master_end)?))
        }
        Ok(Forked::Child) => {
            drop(master_end);
            let code = child(args, worker_end, master_pid);
            sys::exit_now(code)
        }
        Err(e) => {
            sys::unblock_signals()?;
            Err(e)
        }
    }
}

/// The child side, single-threaded until `worker::run` starts the app threads.
fn child(args: SpawnArgs<'_>, link: UnixStream, master_pid: Pid) -> i32 {
    args.signals.forget_in_child();
    for fd in &args.master_fds {
        let _ = nix::unistd::close(*fd);
    }
    // Die with the master (SIGQUIT = stop now), and close the race where it died
    // before the prctl took effect.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGQUIT);
    if nix::unistd::getppid() != master_pid {
        return crate::exit::Code::Failure.as_i32();
    }
    let signals = match worker_signals() {
        Ok(s) => s,
        Err(e) => {
            log::error!("worker: cannot install signal handlers: {e}");
            return crate::exit::Code::Failure.as_i32();
        }
    };
    if let Err(e) = sys::unblock_signals() {
        log::error!("worker: cannot unblock signals: {e}");
        return crate::exit::Code::Failure.as_i32();
    }
    let listeners = match args
        .listeners
        .iter()
        .map(Listener::try_clone)
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(l) => l,
        Err(e) => {
            log::error!("worker: cannot use the listening sockets: {e}");
            return crate::exit::Code::Failure.as_i32();
        }
    };
    let link = match WorkerLink::new(link) {
        Ok(l) => l,
        Err(e) => {
            log::error!("worker: cannot set up the master link: {e}");
            return crate::exit::Code::Failure.as_i32();
        }
    };
    worker::run(
        args.cfg,
        WorkerSpec {
            index: args.index,
            listeners,
            signals: Some(signals),
            graceful_timeout: Duration::from_secs(
                args.cfg.graceful_timeout_secs.saturating_sub(1).max(1),
            ),
            link: Some(link),
            max_requests: args.max_requests,
            master_pid: Some(master_pid),
        },
    )
    .as_i32()
}

/// A worker drains on TERM and stops at once on QUIT; HUP, INT, TTIN, TTOU and USR1
/// are the master's business (ignored here: Ctrl-C reaches the whole process group,
/// and `pkill -HUP waitressd` must not kill workers).
fn worker_signals() -> std::io::Result<SignalPipe> {
    let (pipe, _ids) = SignalPipe::install(
        &[signal_hook::consts::SIGTERM],
        &[signal_hook::consts::SIGQUIT],
    )?;
    Ok(pipe)
}
