//! The process entry, shared by the `waitressd` binary and the Python extension's
//! `main()`: block signals, read the configuration, bind (or adopt the sockets
//! systemd passed), write the pid file, and hand over to the master. Errors become
//! exit codes here and nowhere else (see `exit.rs`).
//!
//! A process without an embedded interpreter (the cargo-built binary) cannot import
//! a Python app itself; `delegate_to_python` replaces it, same pid, with a Python
//! that has waitressd installed, so pid files, `LISTEN_FDS` and `NOTIFY_SOCKET` keep
//! working.
use crate::config::{ArgsError, Config, ConfigSource};
use crate::master::{Master, MasterSignals};
use crate::{embed, exit, net, pidfile, sys, systemd};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Run the server as the command line `args` (argv, program name first) says.
pub fn main(args: Vec<OsString>) -> exit::Code {
    // First of all: a signal that arrives before its handler exists must wait, not
    // kill the process with its default action.
    if let Err(e) = sys::block_signals() {
        eprintln!("waitressd: cannot block signals: {e}");
        return exit::Code::Failure;
    }
    if let Err(e) = sys::ignore_file_size_signal() {
        eprintln!("waitressd: cannot ignore SIGXFSZ: {e}");
        return exit::Code::Failure;
    }
    let cfg = match Config::from_args(&args) {
        Ok(cfg) => cfg,
        Err(ArgsError::Info(text)) => {
            print_out(&text);
            return exit::Code::Ok;
        }
        Err(ArgsError::Invalid(line)) => {
            eprintln!("waitressd: {line}");
            return exit::Code::Usage;
        }
    };
    if cfg.check_config {
        return match serde_json::to_string_pretty(&cfg.to_json()) {
            Ok(json) => {
                print_out(&format!("{json}\n"));
                exit::Code::Ok
            }
            Err(e) => {
                eprintln!("waitressd: {e}");
                exit::Code::Failure
            }
        };
    }
    crate::logging::init(cfg.log_level);
    if cfg.app.is_python() && embed::embedder().is_none() {
        return delegate_to_python(&cfg, &args);
    }
    for warning in &cfg.warnings {
        log::warn!("{warning}");
    }
    serve(cfg, ConfigSource::Args(args))
}

/// `waitressd.serve(app, **kw)` (the Python extension): the configuration is made;
/// with one worker serve in this process, with more run the master here and fork
/// the workers from it. Returns when the server has stopped (Ctrl-C, TERM).
pub fn serve_embedded(cfg: Config, source: ConfigSource) -> exit::Code {
    if let Err(e) = sys::block_signals() {
        log::error!("cannot block signals: {e}");
        return exit::Code::Failure;
    }
    crate::logging::init(cfg.log_level);
    for warning in &cfg.warnings {
        log::warn!("{warning}");
    }
    let code = if cfg.workers == 1 {
        serve_in_process(cfg)
    } else {
        serve(cfg, source)
    };
    if let Err(e) = sys::unblock_signals() {
        log::error!("cannot unblock signals: {e}");
    }
    code
}

/// One process that is its own worker, no master (`serve()` with one worker, as
/// Waitress serves): TERM and INT (Ctrl-C) drain it, a second one or QUIT stops it
/// at once. The signal actions are removed again when it returns.
fn serve_in_process(cfg: Config) -> exit::Code {
    let listeners = match bind(&cfg) {
        Ok(l) => l,
        Err(code) => return code,
    };
    announce(&listeners);
    let (pipe, ids) = match crate::signal_pipe::SignalPipe::install(
        &[signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT],
        &[signal_hook::consts::SIGQUIT],
    ) {
        Ok(installed) => installed,
        Err(e) => {
            log::error!("cannot install signal handlers: {e}");
            return exit::Code::Failure;
        }
    };
    if let Err(e) = sys::unblock_signals() {
        log::error!("cannot unblock signals: {e}");
        return exit::Code::Failure;
    }
    let spec = crate::worker::WorkerSpec {
        index: 0,
        listeners,
        signals: Some(pipe),
        graceful_timeout: std::time::Duration::from_secs(cfg.graceful_timeout_secs.max(1)),
        link: None,
        max_requests: 0,
        master_pid: None,
    };
    let code = crate::worker::run(&cfg, spec);
    for id in ids {
        signal_hook::low_level::unregister(id);
    }
    code
}

/// Bind, or adopt the sockets systemd passed.
fn bind(cfg: &Config) -> Result<Vec<net::Listener>, exit::Code> {
    let inherited = systemd::listen_fds();
    let listeners = if inherited > 0 {
        log::info!("using {inherited} socket(s) passed by systemd");
        net::adopt_systemd(inherited)
    } else {
        let unix = cfg
            .unix_socket
            .as_deref()
            .map(|p| (p, cfg.unix_socket_perms));
        net::bind_all(&cfg.listen, unix, cfg.backlog)
    };
    listeners.map_err(|e| {
        log::error!("{e}");
        exit::Code::Failure
    })
}

/// "Serving on http://127.0.0.1:8080" (Waitress's line; tests and people wait for it).
fn announce(listeners: &[net::Listener]) {
    for l in listeners {
        log::info!("Serving on {}", l.describe());
    }
}

/// Write to standard output; a reader that went away (`| head`) is not an error
/// (SIGPIPE is ignored, so the write fails with EPIPE instead of killing us).
fn print_out(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn serve(cfg: Config, source: ConfigSource) -> exit::Code {
    let notifier = systemd::Notifier::from_env();
    let listeners = match bind(&cfg) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let _pid_file = match cfg.pid_file.as_deref().map(pidfile::PidFile::create) {
        Some(Err(e)) => {
            log::error!("{e}");
            net::remove_socket_files(&listeners);
            return exit::Code::Failure;
        }
        Some(Ok(f)) => Some(f),
        None => None,
    };
    announce(&listeners);
    let signals = match MasterSignals::install() {
        Ok(s) => s,
        Err(e) => {
            log::error!("cannot install signal handlers: {e}");
            return exit::Code::Failure;
        }
    };
    if let Err(e) = sys::unblock_signals() {
        log::error!("cannot unblock signals: {e}");
        return exit::Code::Failure;
    }
    Master::new(cfg, source, listeners, signals, notifier).run()
}

/// This process has no interpreter: become `PYTHON -m waitressd ARGS...`, where
/// PYTHON is `--python` (an interpreter, or a virtualenv directory) or the active
/// virtualenv's. Only returns on failure, having said why in one line.
fn delegate_to_python(cfg: &Config, args: &[OsString]) -> exit::Code {
    use std::os::unix::process::CommandExt as _;
    let app = cfg.app.describe();
    let python = match find_python(cfg.python.as_deref()) {
        Ok(p) => p,
        Err(why) => {
            log::error!("cannot run the Python app {app}: {why}");
            return exit::Code::Usage;
        }
    };
    // Ask first, so a virtualenv without waitressd gets a clear answer instead of
    // Python's "No module named waitressd".
    let probe = std::process::Command::new(&python)
        .args(["-c", "import waitressd._native"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match probe {
        Ok(status) if status.success() => {}
        Ok(_) => {
            log::error!(
                "cannot run the Python app {app}: {} has no waitressd package (pip install it there)",
                python.display()
            );
            return exit::Code::Usage;
        }
        Err(e) => {
            log::error!(
                "cannot run the Python app {app}: cannot start {}: {e}",
                python.display()
            );
            return exit::Code::Usage;
        }
    }
    log::debug!("handing {app} to {}", python.display());
    // Signals stay blocked across exec: the new image installs its handlers first.
    // argv[0] stays the interpreter's path: CPython finds its prefix (and the
    // virtualenv) from it.
    let err = std::process::Command::new(&python)
        .args(["-m", "waitressd"])
        .args(args.iter().skip(1))
        .exec();
    log::error!("cannot run {}: {err}", python.display());
    exit::Code::Failure
}

/// `--python` (an interpreter, or a virtualenv whose `bin/python` is used), else
/// `$VIRTUAL_ENV/bin/python`.
fn find_python(flag: Option<&Path>) -> Result<PathBuf, String> {
    let (candidate, from) =
        match flag {
            Some(p) => (p.to_path_buf(), "--python"),
            None => match std::env::var_os("VIRTUAL_ENV") {
                Some(venv) if !venv.is_empty() => (PathBuf::from(venv), "$VIRTUAL_ENV"),
                _ => return Err(
                    "this waitressd has no Python of its own; activate the virtualenv that has \
                     waitressd installed, pass --python, or run that virtualenv's waitressd"
                        .to_string(),
                ),
            },
        };
    let python = if candidate.is_dir() {
        candidate.join("bin").join("python")
    } else {
        candidate.clone()
    };
    if python.is_file() {
        Ok(python)
    } else {
        Err(format!(
            "{from} is {}, which is neither a Python interpreter nor a virtualenv",
            candidate.display()
        ))
    }
}
