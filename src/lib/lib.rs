//! waitressd: an HTTP/1.x application server for native apps (app.so), with the
//! settings and behaviour of the Python server Waitress.
//!
//! # Where a byte goes
//!
//! ```text
//! socket ──► worker::event_loop (the I/O thread; the only code doing socket I/O)
//!              │  bytes
//!              ▼
//!            conn::Conn (sans-IO state machine: parse ahead, pipelining order)
//!              │  uses http::head (request heads), http::body (Content-Length and
//!              │  chunked decoding) and buffer::SpillBuffer (bodies spill to disk)
//!              ▼  a complete request
//!            worker::pool ──► worker::task (an app thread) ──► app::App::handle
//!                                 │  start / write / send_file through app::host,
//!                                 │  framed by http::response
//!                                 ▼
//!            conn::outbuf::OutBuf (shared; backpressure at the high watermark)
//!              │  segments, wake-up through a mio Waker
//!              ▼
//! socket ◄── worker::event_loop (writev / sendfile)
//! ```
//!
//! Around that, processes: the `master` (the binary's main process) binds every
//! socket (`net`, `systemd` for activation), forks workers and supervises them with
//! signals; each worker (`worker::run`, after fork) loads the app and runs the loop
//! above, reporting to the master over `link`. The master never loads app code.
//!
//! `config` is read by everyone and imports nothing else; `http`, `buffer` and `conn`
//! never touch mio, threads or the app; `app` knows nothing of HTTP. Unsafe code is
//! fenced: `git grep 'allow(unsafe_code)'` lists every file that may use it.
#![deny(unsafe_code)]

pub mod app;
pub mod buffer;
pub mod config;
pub mod conn;
pub mod embed;
pub mod exit;
pub mod http;
pub mod link;
pub mod logging;
pub mod master;
pub mod net;
pub mod pidfile;
pub mod run;
pub mod signal_pipe;
pub mod sys;
pub mod systemd;
pub mod worker;
