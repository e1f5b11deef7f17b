//! The one integration test binary (ripgrep's layout): each module an area, each
//! test starting the real `waitressd` binary on 127.0.0.1:0 with a fixture app and
//! speaking raw bytes to it.

/// The harness: start/stop servers by PID, raw exchanges, response parsing.
mod util;

/// The command line: bad values get one line and exit 2.
mod cli;
