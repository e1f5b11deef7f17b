//! The `waitressd` binary: parse the command line, set up logging, bind, and run.
//! Errors become exit codes here and nowhere else (see `exit.rs`).
use clap::error::ErrorKind;
use clap::Parser;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Duration;
use waitressd::config::{Cli, Config};
use waitressd::exit;
use waitressd::worker::event_loop::SignalPipe;
use waitressd::worker::{self, WorkerSpec};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            _ => {
                // clap's first line names the flag and the value; the usage and
                // "For more information" lines are noise in a service log.
                let text = e.to_string();
                let line = text.lines().next().unwrap_or("error: invalid arguments");
                eprintln!("waitressd: {}", line.trim_start_matches("error: "));
                return code(exit::Code::Usage);
            }
        },
    };
    let cfg = match Config::from_cli(cli) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("waitressd: {e}");
            return code(exit::Code::Usage);
        }
    };
    waitressd::logging::init(cfg.log_level);
    code(serve_single(&cfg))
}

/// One foreground process: bind, then run a worker in this process.
fn serve_single(cfg: &Config) -> exit::Code {
    let signals = match signal_pipes() {
        Ok(s) => s,
        Err(e) => {
            log::error!("cannot install signal handlers: {e}");
            return exit::Code::Failure;
        }
    };
    let listeners = match waitressd::net::bind_all(&cfg.listen, cfg.backlog) {
        Ok(l) => l,
        Err(e) => {
            log::error!("{e}");
            return exit::Code::Failure;
        }
    };
    for l in &listeners {
        log::info!("Serving on {}", l.describe());
    }
    let result = worker::run(
        cfg,
        WorkerSpec {
            index: 0,
            listeners,
            signals: Some(signals),
            graceful_timeout: Duration::from_secs(30),
        },
    );
    // Leave without running app.so's static destructors while its threads may still
    // exist (the ABI promises _exit after shutdown).
    waitressd::sys::exit_now(result.as_i32())
}

/// INT/TERM drain gracefully (a second one stops now); QUIT stops now.
fn signal_pipes() -> std::io::Result<SignalPipe> {
    let (graceful_read, graceful_write) = UnixStream::pair()?;
    let (immediate_read, immediate_write) = UnixStream::pair()?;
    for s in [
        &graceful_read,
        &graceful_write,
        &immediate_read,
        &immediate_write,
    ] {
        s.set_nonblocking(true)?;
    }
    signal_hook::low_level::pipe::register(
        signal_hook::consts::SIGINT,
        graceful_write.try_clone()?,
    )?;
    signal_hook::low_level::pipe::register(signal_hook::consts::SIGTERM, graceful_write)?;
    signal_hook::low_level::pipe::register(signal_hook::consts::SIGQUIT, immediate_write)?;
    Ok(SignalPipe {
        graceful: mio::net::UnixStream::from_std(graceful_read),
        immediate: mio::net::UnixStream::from_std(immediate_read),
    })
}

fn code(c: exit::Code) -> ExitCode {
    ExitCode::from(c.as_i32() as u8)
}
