//! The one integration test binary (ripgrep's layout): each module an area, each
//! test starting the real `waitressd` binary on 127.0.0.1:0 with a fixture app and
//! speaking raw bytes to it.

/// The harness: start/stop servers by PID, raw exchanges, response parsing.
mod util;

/// The C header and the Rust mirror agree on every size and offset.
mod layout;

/// Loading apps: one clear line and exit code 3 per broken .so; contained panics.
mod abi;
/// The command line: bad values get one line and exit 2.
mod cli;
/// Resource exhaustion: slowloris, slow bodies, never-reading clients, half-open
/// sockets, EMFILE, 10,000 idle connections, an unwritable spill directory.
mod exhaustion;
/// Waitress's functional tests, fixture by fixture (echo, badcl, error, nocl, ...).
mod functional;
/// The hostile-input suite: 190+ named raw-byte cases, each citing its source.
mod hostile;
/// Framing, keep-alive, pipelining, 100-continue, HEAD, chunked in and out.
mod http1;
/// Limits and buffers: 431, 413, spill to disk, backpressure, connection_limit,
/// channel_timeout.
mod limits;
/// A load client that counts every failure by class.
mod load;
/// Waitress parity: proxy headers, config file, waitress-serve flags, access log.
mod parity;
/// Regressions, one test per issue that found a bug (`issue_NN_...`).
mod regression;
/// Requests that enable smuggling or break the grammar: rejected, connection closed.
mod rejects;
/// The settings table agrees with the command line, files, JSON and README.
mod settings;
/// The master: workers, crashes, reloads under load, stop, signals, sockets, systemd.
mod supervisor;
/// Python WSGI apps: boot, PEP 3333 and Waitress's environ, failures, threads,
/// signals, the cargo binary handing them to a virtualenv, reload and drain.
mod wsgi;
