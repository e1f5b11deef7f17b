//! A worker: load the app, start its thread pool, run the I/O loop, drain, exit.
//!
//! Runs in a worker process forked by the master (`master::spawn`, the child side of
//! the fork), or, for `waitressd.serve()` with one worker, in the serving process
//! itself without a master (`run::serve_in_process`). The app is loaded here and
//! nowhere else.
pub mod access_log;
pub mod event_loop;
pub mod pool;
pub mod task;

use crate::app::{App, HostInfo};
use crate::config::cpu_affinity::usable_cpus;
use crate::config::{Config, CpuAffinity};
use crate::conn::ConnSettings;
use crate::exit;
use crate::http::date::DateCache;
use crate::http::Limits;
use crate::link::{Message, WorkerLink};
use crate::net::Listener;
use crate::signal_pipe::SignalPipe;
use event_loop::{Control, EventLoop, LoopSettings, Stop};
use pool::Pool;
use std::cell::RefCell;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use task::TaskSettings;

/// "waitressd/0.1.0": SERVER_SOFTWARE for apps.
pub fn server_software() -> String {
    format!("waitressd/{}", env!("CARGO_PKG_VERSION"))
}

thread_local! {
    static DATE: RefCell<DateCache> = RefCell::new(DateCache::default());
}

/// Run `f` with the current IMF-fixdate, formatted at most once a second per thread.
pub fn with_date<R>(f: impl FnOnce(&str) -> R) -> R {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with(|d| f(d.borrow_mut().get(secs)))
}

/// What a worker needs besides the config.
pub struct WorkerSpec {
    pub index: u32,
    pub listeners: Vec<Listener>,
    pub signals: Option<SignalPipe>,
    pub graceful_timeout: Duration,
    /// The link to the master (None when serving in process, without one).
    pub link: Option<WorkerLink>,
    /// Ask to be recycled after this many requests (0 = never).
    pub max_requests: u64,
    /// Stop at once if our parent is no longer this process (the master died).
    pub master_pid: Option<nix::unistd::Pid>,
}

/// After the drain, how long idle app threads get to finish (thread_exit) before a
/// still-busy one is taken for stuck and left behind. The worker's drain deadline is
/// 1 s before the master's SIGKILL; this fits in that second.
const APP_THREAD_PATIENCE: Duration = Duration::from_millis(200);

/// Bind the calling thread, and so every thread it starts later (the app threads,
/// the access-log writer, whatever the app starts), to the CPU `cpu_affinity` gives
/// this worker's slot. Called first thing in the worker, while it has one thread.
fn bind_cpu(affinity: &CpuAffinity, slot: u32) {
    use nix::sched::{sched_setaffinity, CpuSet};
    let Some(cpu) = affinity.cpu_for(slot, &usable_cpus()) else {
        return;
    };
    let pid = std::process::id();
    let mut set = CpuSet::new();
    match set
        .set(cpu)
        .and_then(|()| sched_setaffinity(nix::unistd::Pid::from_raw(0), &set))
    {
        Ok(()) => log::info!("worker {pid}: bound to CPU {cpu}"),
        Err(e) => log::warn!("worker {pid}: cannot bind to CPU {cpu} ({e}); running on any CPU"),
    }
}

/// Load the app and serve until drained. Returns the process exit code.
pub fn run(cfg: &Config, mut spec: WorkerSpec) -> exit::Code {
    let pid = std::process::id();
    bind_cpu(&cfg.cpu_affinity, spec.index);
    // A boot failure goes to the master, which reports it once; without a master it
    // is logged here.
    let mut boot_failed = |why: String| {
        match spec.link.as_mut() {
            Some(link) => link.send(&Message::BootFailed(why)),
            None => log::error!("{why}"),
        }
        exit::Code::AppBoot
    };
    let info = HostInfo {
        server_software: server_software(),
        ident: cfg.ident.clone(),
        worker_index: spec.index,
        n_threads: cfg.threads as u32,
        multiprocess: cfg.workers > 1,
    };
    let app = match App::load(&cfg.app, info, &cfg.app_opts) {
        Ok(app) => Arc::new(app),
        Err(e) => return boot_failed(e.to_string()),
    };
    log::info!("worker {pid}: loaded {}", app.describe());
    let mut pool = match Pool::start(app.clone(), cfg.threads) {
        Ok(pool) => pool,
        Err(why) => return boot_failed(why),
    };
    // The access log's writer thread, reopened on SIGUSR1 (forwarded by the master).
    let mut access_writer = None;
    let mut access_log = None;
    if let Some(target) = &cfg.access_log {
        let reopen = Arc::new(AtomicBool::new(false));
        if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGUSR1, reopen.clone()) {
            log::warn!("worker {pid}: SIGUSR1 will not reopen the access log: {e}");
        }
        match access_log::Writer::start(target, cfg.access_log_format, reopen) {
            Ok((log, writer)) => {
                access_log = Some(log);
                access_writer = Some(writer);
            }
            Err(e) => return boot_failed(format!("cannot open the access log {target}: {e}")),
        }
    }
    let conn_settings = Arc::new(ConnSettings {
        limits: Limits {
            max_request_header_size: cfg.max_request_header_size,
            max_request_body_size: cfg.max_request_body_size,
        },
        inbuf_overflow: cfg.inbuf_overflow,
        lookahead: cfg.channel_request_lookahead,
        ident: cfg.ident.clone(),
    });
    let task_settings = Arc::new(TaskSettings {
        ident: cfg.ident.clone(),
        server_software: server_software(),
        expose_tracebacks: cfg.expose_tracebacks,
        url_scheme: cfg.url_scheme.clone(),
        url_prefix: cfg.url_prefix.clone(),
        server_name: cfg.server_name.clone(),
        outbuf_overflow: cfg.outbuf_overflow,
        draining: AtomicBool::new(false),
        fatal: AtomicBool::new(false),
        proxy: cfg.proxy.clone(),
        access_log,
    });
    let loop_settings = LoopSettings {
        recv_bytes: cfg.recv_bytes,
        connection_limit: cfg.connection_limit,
        channel_timeout: Duration::from_secs(cfg.channel_timeout_secs),
        request_head_timeout: Duration::from_secs(cfg.request_head_timeout_secs),
        cleanup_interval: Duration::from_secs(cfg.cleanup_interval_secs),
        high_watermark: cfg.outbuf_high_watermark,
        graceful_timeout: spec.graceful_timeout,
        log_socket_errors: cfg.log_socket_errors,
        max_requests: spec.max_requests,
    };
    let stop = match EventLoop::new(
        spec.listeners,
        &pool,
        conn_settings,
        task_settings,
        loop_settings,
        Control {
            signals: spec.signals,
            link: spec.link,
            master_pid: spec.master_pid,
        },
    ) {
        Ok((mut event_loop, _wake)) => event_loop.run(),
        Err(e) => Err(e),
    };
    let mut stop_access_log = || {
        if let Some(w) = access_writer.as_mut() {
            w.stop();
        }
    };
    match stop {
        Ok(Stop::Drained) => {
            // Every connection is closed, so app threads are idle unless one is stuck
            // on a request the drain deadline cut off. Waiting for it would only end
            // at the master's SIGKILL, or never if the master is gone.
            let stuck = pool.shutdown_within(APP_THREAD_PATIENCE);
            if stuck == 0 {
                app.shutdown();
            } else {
                log::warn!(
                    "worker {pid}: {stuck} app thread(s) still busy {} ms after the drain; exiting without the app's shutdown",
                    APP_THREAD_PATIENCE.as_millis()
                );
            }
            stop_access_log();
            log::info!("worker {pid}: stopped");
            exit::Code::Ok
        }
        Ok(Stop::Immediate) => {
            pool.abandon();
            stop_access_log();
            exit::Code::Ok
        }
        Err(e) => {
            log::error!("worker {pid}: I/O loop failed: {e}");
            exit::Code::Failure
        }
    }
}
