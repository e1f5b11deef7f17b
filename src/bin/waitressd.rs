//! The `waitressd` binary: block signals, read the configuration, bind (or adopt the
//! sockets systemd passed), write the pid file, and hand over to the master.
//! Errors become exit codes here and nowhere else (see `exit.rs`).
use std::process::ExitCode;
use waitressd::config::{ArgsError, Config};
use waitressd::exit;
use waitressd::master::{Master, MasterSignals};
use waitressd::{net, pidfile, sys, systemd};

fn main() -> ExitCode {
    // First of all: a signal that arrives before its handler exists must wait, not
    // kill the process with its default action.
    if let Err(e) = sys::block_signals() {
        eprintln!("waitressd: cannot block signals: {e}");
        return code(exit::Code::Failure);
    }
    if let Err(e) = sys::ignore_file_size_signal() {
        eprintln!("waitressd: cannot ignore SIGXFSZ: {e}");
        return code(exit::Code::Failure);
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cfg = match Config::from_args(&args) {
        Ok(cfg) => cfg,
        Err(ArgsError::Info(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(ArgsError::Invalid(line)) => {
            eprintln!("waitressd: {line}");
            return code(exit::Code::Usage);
        }
    };
    if cfg.check_config {
        match serde_json::to_string_pretty(&cfg.to_json()) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("waitressd: {e}");
                return code(exit::Code::Failure);
            }
        }
        return ExitCode::SUCCESS;
    }
    waitressd::logging::init(cfg.log_level);
    for warning in &cfg.warnings {
        log::warn!("{warning}");
    }
    code(serve(cfg, args))
}

fn serve(cfg: Config, args: Vec<std::ffi::OsString>) -> exit::Code {
    let notifier = systemd::Notifier::from_env();
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
    let listeners = match listeners {
        Ok(l) => l,
        Err(e) => {
            log::error!("{e}");
            return exit::Code::Failure;
        }
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
    for l in &listeners {
        log::info!("Serving on {}", l.describe());
    }
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
    Master::new(cfg, args, listeners, signals, notifier).run()
}

fn code(c: exit::Code) -> ExitCode {
    ExitCode::from(c.as_i32() as u8)
}
