//! The master (gunicorn's arbiter): owns the listening sockets, forks the workers,
//! and supervises them with signals. It never loads app.so and stays
//! single-threaded, so forking is always safe.
//!
//! One loop, readable top to bottom:
//!   1. act on signals (HUP reload, TERM/INT drain, QUIT stop, TTIN/TTOU, USR1);
//!   2. read worker links (ready, heartbeat, recycle, boot failure);
//!   3. reap exited children;
//!   4. enforce deadlines (boot, heartbeat, drain);
//!   5. manage: spawn to the target count, retire stale generations, finish phases;
//!   6. wait for a signal, a worker message, or the next deadline.
//!
//! A reload (HUP) starts a whole new generation next to the old one and drains the
//! old workers only once every new one is ready (or, with --reload-surge N, N at a
//! time, each ready new worker replacing an old one); if a new worker fails to
//! boot, the reload is abandoned and the old generation keeps serving.
mod signals;
mod spawn;

pub use signals::MasterSignals;

use crate::config::ConfigSource;
use crate::config::{ArgsError, Config};
use crate::exit;
use crate::link::{MasterLink, Message};
use crate::net::Listener;
use crate::systemd::Notifier;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Consecutive crashes before respawns are delayed, and the longest delay.
const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A worker that served this long before dying resets the crash count.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// After an immediate stop, how long workers get before SIGKILL.
const QUIT_GRACE: Duration = Duration::from_secs(2);
/// What systemd is told beyond our own deadlines (reaping, cleanup, slow machines).
const NOTIFY_MARGIN: Duration = Duration::from_secs(5);
/// After a heartbeat timeout's SIGABRT, how long before SIGKILL (time to dump core).
const ABORT_GRACE: Duration = Duration::from_secs(2);

/// The SIGKILL that ends a worker which did not go by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// Due at this instant.
    At(Instant),
    /// Sent; reaping the worker is all that is left.
    Sent,
}

impl Kill {
    fn is_due(self, now: Instant) -> bool {
        matches!(self, Kill::At(at) if now > at)
    }
}

/// Where a worker is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
enum WorkerState {
    /// Forked; loading the app. Killed at the boot timeout. `failure`: why it cannot
    /// boot, as it told us (or as the boot timeout found).
    Booting { kill: Kill, failure: Option<String> },
    /// Serving.
    Ready { since: Instant },
    /// Serving, but it asked to be replaced (--max-requests, a fatal app error): it
    /// no longer counts toward the target, and drains once a replacement is ready.
    /// `since`: when it became ready.
    Retiring { since: Instant },
    /// Told to finish its connections and exit (SIGTERM sent; SIGQUIT for an
    /// immediate stop), then killed if it has not.
    Draining { kill: Kill },
    /// Its I/O loop stopped turning: SIGABRT sent (a core dump shows where it hung),
    /// then SIGKILL if SIGABRT did not end it (a stopped or masked process).
    Aborting { kill: Kill },
}

impl WorkerState {
    /// Leaving for good: told to go, so its slot is refilled.
    fn is_leaving(&self) -> bool {
        matches!(
            self,
            WorkerState::Draining { .. } | WorkerState::Aborting { .. }
        )
    }

    /// Counted toward the target: booting or serving, not asked to be replaced.
    fn is_active(&self) -> bool {
        matches!(
            self,
            WorkerState::Booting { .. } | WorkerState::Ready { .. }
        )
    }
}

struct Worker {
    pid: Pid,
    index: u32,
    generation: u64,
    state: WorkerState,
    link: MasterLink,
    spawned: Instant,
    last_heartbeat: Instant,
}

/// The master's phase.
#[derive(Debug)]
enum Phase {
    /// The first generation is starting; a boot failure stops the server.
    Booting,
    Running,
    /// Generation `Master::generation` is starting next to generation `previous`,
    /// whose configuration is kept until the reload completes, to go back to if it
    /// is aborted.
    Reloading {
        previous: u64,
        previous_cfg: Box<Config>,
        started: Instant,
    },
    /// Shutting down: every worker was told to drain (or to stop now) and has its
    /// own SIGKILL deadline; the master exits once none is left.
    Stopping(Stop),
}

/// How the master is stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// TERM or INT: workers drain within --graceful-timeout.
    Graceful,
    /// QUIT, a second TERM/INT, or a first generation that cannot boot: workers
    /// stop now and are killed after QUIT_GRACE.
    Immediate,
}

pub struct Master {
    cfg: Config,
    /// Where the configuration comes from (read again on HUP).
    source: ConfigSource,
    listeners: Vec<Listener>,
    signals: MasterSignals,
    notifier: Notifier,
    workers: Vec<Worker>,
    /// The generation new workers are spawned as (during a reload, the new one).
    generation: u64,
    /// How many workers of `generation` are wanted (--workers, changed by TTIN/TTOU).
    target: usize,
    phase: Phase,
    /// A HUP arrived while booting or reloading (coalesced: any number of them is
    /// one reload); it starts once the phase is Running again. Not a phase of its
    /// own: it is a request queued beside whichever phase is current.
    reload_pending: bool,
    crashes: u32,
    next_spawn: Instant,
    next_watchdog: Option<Instant>,
    exit_code: exit::Code,
}

impl Master {
    pub fn new(
        cfg: Config,
        source: ConfigSource,
        listeners: Vec<Listener>,
        signals: MasterSignals,
        notifier: Notifier,
    ) -> Master {
        let target = cfg.workers;
        let next_watchdog = notifier.watchdog_interval().map(|_| Instant::now());
        Master {
            cfg,
            source,
            listeners,
            signals,
            notifier,
            workers: Vec::new(),
            generation: 1,
            target,
            phase: Phase::Booting,
            reload_pending: false,
            crashes: 0,
            next_spawn: Instant::now(),
            next_watchdog,
            exit_code: exit::Code::Ok,
        }
    }

    /// Supervise until stopped; returns the process exit code.
    pub fn run(mut self) -> exit::Code {
        log::info!(
            "master {} starting {} worker(s) with {} thread(s) each",
            std::process::id(),
            self.target,
            self.cfg.threads
        );
        self.notifier.booting(self.boot_may_take());
        loop {
            for sig in self.signals.take() {
                self.on_signal(sig);
            }
            self.read_links();
            self.reap();
            self.check_deadlines();
            self.manage();
            if matches!(self.phase, Phase::Stopping { .. }) && self.workers.is_empty() {
                crate::net::remove_socket_files(&self.listeners);
                log::info!("master {} stopped", std::process::id());
                return self.exit_code;
            }
            // Last, so the first turn spawns the workers without waiting.
            self.wait();
        }
    }

    // ----- 1. signals -----

    fn on_signal(&mut self, sig: Signal) {
        match sig {
            Signal::SIGHUP => match self.phase {
                Phase::Stopping { .. } => {}
                Phase::Booting | Phase::Reloading { .. } => {
                    log::info!(
                        "reload requested; it will start when the current generation is ready"
                    );
                    // systemd (Type=notify-reload) waits for RELOADING=1 after each
                    // SIGHUP; the READY=1 that ends the coalesced reload answers it.
                    self.notifier.reloading(self.boot_may_take());
                    self.reload_pending = true;
                }
                Phase::Running => self.start_reload(),
            },
            Signal::SIGTERM | Signal::SIGINT => match self.phase {
                Phase::Stopping(Stop::Graceful) => {
                    log::info!("second {sig}: stopping now");
                    self.stop(Stop::Immediate);
                }
                Phase::Stopping(Stop::Immediate) => {}
                _ => {
                    log::info!("{sig}: graceful shutdown");
                    self.stop(Stop::Graceful);
                }
            },
            Signal::SIGQUIT => {
                log::info!("SIGQUIT: stopping now");
                self.stop(Stop::Immediate);
            }
            Signal::SIGTTIN => {
                self.target += 1;
                log::info!("SIGTTIN: {} worker(s) wanted", self.target);
            }
            Signal::SIGTTOU => {
                self.target = self.target.saturating_sub(1).max(1);
                log::info!("SIGTTOU: {} worker(s) wanted", self.target);
            }
            Signal::SIGUSR1 => {
                log::info!("SIGUSR1: reopening log files");
                self.signal_all(Signal::SIGUSR1);
            }
            _ => {} // SIGCHLD: reaping happens on every turn of the loop
        }
    }

    /// How long a generation may take to become ready, as told to systemd.
    fn boot_may_take(&self) -> Duration {
        Duration::from_secs(self.cfg.boot_timeout_secs) + NOTIFY_MARGIN
    }

    /// HUP: re-read the configuration and start a new generation beside the old.
    fn start_reload(&mut self) {
        // This answers every HUP so far, whether the reload starts or is aborted
        // below: a pending one left set would retry a bad file on every turn.
        self.reload_pending = false;
        self.notifier.reloading(self.boot_may_take());
        let mut cfg = match self.source.read() {
            Ok(cfg) => cfg,
            Err(ArgsError::Info(_)) => return,
            Err(ArgsError::Invalid(why)) => {
                log::error!("reload aborted: {why}");
                self.notifier.ready("reload aborted: bad configuration");
                return;
            }
        };
        if cfg.listen != self.cfg.listen || cfg.unix_socket != self.cfg.unix_socket {
            log::warn!("reload: listening changes need a restart; keeping the current sockets");
        }
        resolve_app(&mut cfg.app);
        log::info!(
            "reloading: generation {} with app {}",
            self.generation + 1,
            cfg.app.describe()
        );
        let previous_cfg = Box::new(std::mem::replace(&mut self.cfg, cfg));
        self.target = self.cfg.workers;
        self.phase = Phase::Reloading {
            previous: self.generation,
            previous_cfg,
            started: Instant::now(),
        };
        self.generation += 1;
    }

    /// A new-generation worker failed to boot: keep the old generation.
    fn abort_reload(&mut self, why: &str) {
        debug_assert!(
            matches!(self.phase, Phase::Reloading { .. }),
            "abort_reload() called while {:?}",
            self.phase
        );
        if !matches!(self.phase, Phase::Reloading { .. }) {
            return;
        }
        let Phase::Reloading {
            previous,
            previous_cfg,
            ..
        } = std::mem::replace(&mut self.phase, Phase::Running)
        else {
            unreachable!("checked above");
        };
        log::error!("reload aborted: {why}; generation {previous} keeps serving");
        self.cfg = *previous_cfg;
        self.target = self.cfg.workers;
        let failed = self.generation;
        self.generation = previous;
        for i in 0..self.workers.len() {
            if self.workers[i].generation == failed {
                self.drain(i);
            }
        }
        self.notifier
            .ready("reload aborted; previous generation serving");
    }

    fn stop(&mut self, how: Stop) {
        let (grace, sig) = match how {
            Stop::Immediate => (QUIT_GRACE, Signal::SIGQUIT),
            Stop::Graceful => (
                Duration::from_secs(self.cfg.graceful_timeout_secs),
                Signal::SIGTERM,
            ),
        };
        self.notifier.stopping(grace + NOTIFY_MARGIN);
        self.phase = Phase::Stopping(how);
        for w in &mut self.workers {
            if let WorkerState::Aborting { .. } = w.state {
                continue; // already on its way out, with its own SIGKILL deadline
            }
            let _ = kill(w.pid, sig);
            w.state = WorkerState::Draining {
                kill: Kill::At(Instant::now() + grace),
            };
        }
    }

    fn signal_all(&self, sig: Signal) {
        for w in &self.workers {
            let _ = kill(w.pid, sig);
        }
    }

    // ----- 2. worker links -----

    fn read_links(&mut self) {
        for i in 0..self.workers.len() {
            for message in self.workers[i].link.receive() {
                self.on_message(i, message);
            }
        }
    }

    fn on_message(&mut self, i: usize, message: Message) {
        let now = Instant::now();
        let w = &mut self.workers[i];
        w.last_heartbeat = now;
        match message {
            Message::Ready => {
                if let WorkerState::Booting { .. } = w.state {
                    w.state = WorkerState::Ready { since: now };
                    log::info!(
                        "worker {} ready (generation {}, slot {}) in {} ms",
                        w.pid,
                        w.generation,
                        w.index,
                        now.duration_since(w.spawned).as_millis()
                    );
                }
            }
            Message::Heartbeat => {}
            Message::Recycle => {
                // Only a serving worker can ask; one already leaving is being
                // replaced anyway.
                if let WorkerState::Ready { since } = w.state {
                    log::info!(
                        "worker {} asked to be recycled (max-requests or a fatal app error); replacing it",
                        w.pid
                    );
                    w.state = WorkerState::Retiring { since };
                }
            }
            Message::BootFailed(reason) => {
                if let WorkerState::Booting { failure, .. } = &mut w.state {
                    *failure = Some(reason);
                }
            }
        }
    }

    // ----- 3. reaping -----

    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => {
                    self.on_exit(pid, format!("exit code {code}"), Some(code))
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    self.on_exit(pid, format!("signal {sig}"), None)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    fn on_exit(&mut self, pid: Pid, how: String, code: Option<i32>) {
        // Unknown children (we may be PID 1 in a container) are reaped silently.
        let Some(i) = self.workers.iter().position(|w| w.pid == pid) else {
            return;
        };
        let mut w = self.workers.remove(i);
        // A boot-failure line may still sit in the link.
        for m in w.link.receive() {
            if let (Message::BootFailed(reason), WorkerState::Booting { failure, .. }) =
                (m, &mut w.state)
            {
                *failure = Some(reason);
            }
        }
        match w.state {
            WorkerState::Draining { .. } => {
                log::info!("worker {} exited ({how})", w.pid);
            }
            WorkerState::Booting { ref failure, .. } => {
                let told = failure.is_some();
                let reason = failure
                    .clone()
                    .unwrap_or_else(|| format!("worker {} died while booting ({how})", w.pid));
                self.on_boot_failure(&w, reason, told, code);
            }
            WorkerState::Aborting { .. } => {
                log::warn!(
                    "worker {} (generation {}) died ({how}) after its heartbeat timeout",
                    w.pid,
                    w.generation
                );
                self.crashed();
            }
            WorkerState::Ready { since } | WorkerState::Retiring { since } => {
                log::warn!(
                    "worker {} (generation {}) died ({how}); respawning",
                    w.pid,
                    w.generation
                );
                if since.elapsed() > STABLE_AFTER {
                    self.crashes = 0;
                }
                self.crashed();
            }
        }
    }

    /// `told`: the worker (or its boot timeout) said why, rather than just dying.
    fn on_boot_failure(&mut self, w: &Worker, reason: String, told: bool, code: Option<i32>) {
        match self.phase {
            Phase::Booting => {
                log::error!("{reason}");
                log::info!("the first generation cannot boot; stopping");
                self.exit_code = if code == Some(exit::Code::AppBoot.as_i32()) || told {
                    exit::Code::AppBoot
                } else {
                    exit::Code::Failure
                };
                self.stop(Stop::Immediate);
            }
            Phase::Reloading { .. } if w.generation == self.generation => {
                self.abort_reload(&reason);
            }
            _ => {
                log::error!("{reason}");
                self.crashed();
            }
        }
    }

    /// Count a crash and push the next spawn out (0 s, then 0.5 s doubling to 30 s).
    fn crashed(&mut self) {
        self.crashes += 1;
        if self.crashes > 1 {
            let delay = BACKOFF_START
                .saturating_mul(1 << (self.crashes - 2).min(10))
                .min(BACKOFF_MAX);
            log::info!(
                "respawning in {} ms ({} crashes in a row)",
                delay.as_millis(),
                self.crashes
            );
            self.next_spawn = Instant::now() + delay;
        }
    }

    // ----- 4. deadlines -----

    fn check_deadlines(&mut self) {
        let now = Instant::now();
        let heartbeat = Duration::from_secs(self.cfg.timeout_secs);
        for w in &mut self.workers {
            match &mut w.state {
                WorkerState::Booting { kill: k, failure } if k.is_due(now) => {
                    let boot = match *k {
                        Kill::At(at) => at.duration_since(w.spawned).as_secs(),
                        Kill::Sent => 0,
                    };
                    log::error!(
                        "worker {} did not become ready within --boot-timeout {boot}s; killing it",
                        w.pid,
                    );
                    *failure = Some(format!(
                        "worker {} did not become ready within {boot}s",
                        w.pid,
                    ));
                    let _ = kill(w.pid, Signal::SIGKILL);
                    *k = Kill::Sent;
                }
                WorkerState::Ready { .. } | WorkerState::Retiring { .. }
                    if !heartbeat.is_zero() && now.duration_since(w.last_heartbeat) > heartbeat =>
                {
                    log::error!(
                        "worker {} heartbeat timeout: its I/O loop has not turned for {}s; sending SIGABRT (SIGKILL in {}s); starting a replacement",
                        w.pid,
                        heartbeat.as_secs(),
                        ABORT_GRACE.as_secs()
                    );
                    let _ = kill(w.pid, Signal::SIGABRT);
                    w.state = WorkerState::Aborting {
                        kill: Kill::At(now + ABORT_GRACE),
                    };
                }
                WorkerState::Aborting { kill: k } if k.is_due(now) => {
                    log::warn!("worker {} survived SIGABRT; sending SIGKILL", w.pid);
                    let _ = kill(w.pid, Signal::SIGKILL);
                    *k = Kill::Sent;
                }
                WorkerState::Draining { kill: k } if k.is_due(now) => {
                    log::warn!(
                        "worker {} still running after the graceful timeout; killing it",
                        w.pid
                    );
                    let _ = kill(w.pid, Signal::SIGKILL);
                    *k = Kill::Sent;
                }
                _ => {}
            }
        }
        if let (Some(at), Some(every)) = (self.next_watchdog, self.notifier.watchdog_interval()) {
            if now >= at {
                self.notifier.watchdog();
                self.next_watchdog = Some(now + every);
            }
        }
    }

    // ----- 5. managing the workers -----

    fn manage(&mut self) {
        if let Phase::Stopping { .. } = self.phase {
            return;
        }
        let gen = self.generation;
        let active: Vec<usize> = (0..self.workers.len())
            .filter(|&i| {
                let w = &self.workers[i];
                w.generation == gen && w.state.is_active()
            })
            .collect();
        // Too few: spawn (after any crash backoff). During a reload with
        // --reload-surge N, at most N new workers boot at a time.
        if active.len() < self.target && Instant::now() >= self.next_spawn {
            let mut wanted = self.target - active.len();
            if let (Phase::Reloading { .. }, Some(surge)) = (&self.phase, self.reload_surge()) {
                let booting = active
                    .iter()
                    .filter(|&&i| matches!(self.workers[i].state, WorkerState::Booting { .. }))
                    .count();
                wanted = wanted.min(surge.saturating_sub(booting));
            }
            if wanted > 0 {
                for _ in 0..wanted {
                    self.spawn();
                }
                return;
            }
        }
        // Too many (TTOU): drain the newest extras.
        if active.len() > self.target {
            for &i in active.iter().rev().take(active.len() - self.target) {
                self.drain(i);
            }
        }
        let ready = active
            .iter()
            .filter(|&&i| matches!(self.workers[i].state, WorkerState::Ready { .. }))
            .count();
        if let (Phase::Reloading { .. }, Some(_)) = (&self.phase, self.reload_surge()) {
            self.replace_old_workers(ready);
        }
        if ready < self.target.min(active.len()) {
            return; // the current generation is not all ready yet
        }
        // Everything of another generation, and every retiring worker, now drains.
        for i in 0..self.workers.len() {
            let w = &self.workers[i];
            let stale = w.generation != gen || matches!(w.state, WorkerState::Retiring { .. });
            if stale && !w.state.is_leaving() {
                self.drain(i);
            }
        }
        match self.phase {
            Phase::Booting => {
                self.phase = Phase::Running;
                log::info!("{} worker(s) ready", ready);
                self.notifier.ready(&format!("{ready} worker(s) ready"));
            }
            Phase::Reloading { started, .. } => {
                self.phase = Phase::Running; // the previous config goes with it
                log::info!(
                    "reload complete: generation {gen} serving ({} ms)",
                    started.elapsed().as_millis()
                );
                self.notifier
                    .ready(&format!("{ready} worker(s) ready, generation {gen}"));
            }
            _ => {}
        }
        if self.reload_pending && matches!(self.phase, Phase::Running) {
            self.start_reload();
        }
    }

    /// --reload-surge N: the reload advances one batch at a time.
    fn reload_surge(&self) -> Option<usize> {
        usize::try_from(self.cfg.reload_surge)
            .ok()
            .filter(|&n| n > 0)
    }

    /// During a batched reload: each new worker that is ready lets one old one go
    /// (oldest first), so `target` workers keep serving throughout.
    fn replace_old_workers(&mut self, new_ready: usize) {
        let gen = self.generation;
        let old: Vec<usize> = (0..self.workers.len())
            .filter(|&i| {
                let w = &self.workers[i];
                w.generation != gen && !w.state.is_leaving()
            })
            .collect();
        let excess = (old.len() + new_ready).saturating_sub(self.target);
        for &i in old.iter().take(excess) {
            self.drain(i);
        }
    }

    fn drain(&mut self, i: usize) {
        let w = &mut self.workers[i];
        log::info!("worker {} (generation {}) draining", w.pid, w.generation);
        let _ = kill(w.pid, Signal::SIGTERM);
        w.state = WorkerState::Draining {
            kill: Kill::At(Instant::now() + Duration::from_secs(self.cfg.graceful_timeout_secs)),
        };
    }

    fn spawn(&mut self) {
        let gen = self.generation;
        let index = (0u32..)
            .find(|i| {
                !self
                    .workers
                    .iter()
                    .any(|w| w.index == *i && w.generation == gen && !w.state.is_leaving())
            })
            .unwrap_or(0);
        let jitter = if self.cfg.max_requests_jitter > 0 {
            pseudo_random() % (self.cfg.max_requests_jitter + 1)
        } else {
            0
        };
        let max_requests = if self.cfg.max_requests > 0 {
            self.cfg.max_requests + jitter
        } else {
            0
        };
        let mut master_fds: Vec<_> = self
            .workers
            .iter()
            .filter_map(|w| w.link.fd())
            .map(|fd| fd.as_raw_fd())
            .collect();
        master_fds.push(self.signals.fd().as_raw_fd());
        let args = spawn::SpawnArgs {
            cfg: &self.cfg,
            listeners: &self.listeners,
            signals: &self.signals,
            master_fds,
            index,
            max_requests,
        };
        match spawn::spawn(args) {
            Ok((pid, link)) => {
                log::info!("spawned worker {pid} (generation {gen}, slot {index})");
                let now = Instant::now();
                let boot = Duration::from_secs(self.cfg.boot_timeout_secs);
                self.workers.push(Worker {
                    pid,
                    index,
                    generation: gen,
                    state: WorkerState::Booting {
                        kill: Kill::At(now + boot),
                        failure: None,
                    },
                    link,
                    spawned: now,
                    last_heartbeat: now,
                });
            }
            Err(e) => {
                log::error!("cannot fork a worker: {e}");
                self.crashed();
            }
        }
    }

    // ----- 6. waiting -----

    fn wait(&mut self) {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut fds = vec![PollFd::new(self.signals.fd(), PollFlags::POLLIN)];
        // A closed link (the worker is exiting) is not polled: it would always be
        // readable. Its exit wakes us through SIGCHLD.
        fds.extend(
            self.workers
                .iter()
                .filter_map(|w| w.link.fd())
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN)),
        );
        // Deadlines are checked at this granularity; it also bounds the delay of a
        // respawn after backoff.
        let _ = poll(&mut fds, PollTimeout::from(250u16));
    }
}

/// The app path as it resolves now (symlinked deploys: `current -> releases/N`).
fn resolve_app(app: &mut crate::config::AppSpec) {
    // A Python app is found by name in each new worker (which re-imports it).
    if let crate::config::AppSpec::Native(path) = app {
        if let Ok(real) = std::fs::canonicalize(&*path) {
            *path = real;
        }
    }
}

/// Jitter for --max-requests: no crypto needed, just spread.
fn pseudo_random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}
