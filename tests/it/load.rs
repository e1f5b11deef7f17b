//! A load client for supervisor tests: several threads send requests until told to
//! stop and count every failure by class, so "zero failed requests of any kind" can
//! be asserted. Bounded: each request has a timeout, and the caller stops the load.
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How a client thread talks to the server.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// GETs on one keep-alive connection (reconnecting when the server closes it).
    KeepAliveGet,
    /// A new connection per GET.
    ConnectionPerGet,
    /// A new connection per POST with a 16 KiB body.
    ConnectionPerPost,
    /// POSTs with a 4 KiB body on one keep-alive connection.
    KeepAlivePost,
}

/// Counts by outcome.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub ok: u64,
    pub refused: u64,
    pub reset: u64,
    pub eof_before_response: u64,
    pub timeout: u64,
    pub non_2xx: u64,
    /// The last body seen by each thread.
    pub last_bodies: Vec<String>,
    /// A few failure descriptions, for the assertion message.
    pub examples: Vec<String>,
}

impl Stats {
    pub fn failures(&self) -> u64 {
        self.refused + self.reset + self.eof_before_response + self.timeout + self.non_2xx
    }
}

pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Stats>>,
}

impl Load {
    pub fn start(port: u16, modes: &[Mode]) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = modes
            .iter()
            .map(|&mode| {
                let stop = stop.clone();
                std::thread::spawn(move || client(port, mode, &stop))
            })
            .collect();
        Load { stop, threads }
    }

    pub fn finish(self) -> Stats {
        self.stop.store(true, Ordering::SeqCst);
        let mut total = Stats::default();
        for t in self.threads {
            let s = t.join().expect("load thread");
            total.ok += s.ok;
            total.refused += s.refused;
            total.reset += s.reset;
            total.eof_before_response += s.eof_before_response;
            total.timeout += s.timeout;
            total.non_2xx += s.non_2xx;
            total.last_bodies.extend(s.last_bodies);
            total.examples.extend(s.examples.into_iter().take(3));
        }
        total
    }
}

fn request_bytes(mode: Mode) -> Vec<u8> {
    match mode {
        Mode::KeepAliveGet => b"GET /load HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(),
        Mode::ConnectionPerGet => {
            b"GET /load HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".to_vec()
        }
        Mode::ConnectionPerPost => {
            let mut r = b"POST /load HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 16384\r\n\r\n".to_vec();
            r.extend(std::iter::repeat_n(b'p', 16384));
            r
        }
        Mode::KeepAlivePost => {
            let mut r = b"POST /load HTTP/1.1\r\nHost: h\r\nContent-Length: 4096\r\n\r\n".to_vec();
            r.extend(std::iter::repeat_n(b'q', 4096));
            r
        }
    }
}

fn client(port: u16, mode: Mode, stop: &AtomicBool) -> Stats {
    let mut stats = Stats::default();
    let request = request_bytes(mode);
    let keep_alive = matches!(mode, Mode::KeepAliveGet | Mode::KeepAlivePost);
    let mut conn: Option<(TcpStream, BufReader<TcpStream>)> = None;
    let last = Mutex::new(String::new());
    while !stop.load(Ordering::SeqCst) {
        if conn.is_none() {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => {
                    s.set_read_timeout(Some(Duration::from_secs(20))).ok();
                    s.set_nodelay(true).ok();
                    let r = BufReader::new(s.try_clone().expect("clone"));
                    conn = Some((s, r));
                }
                Err(e) => {
                    stats.refused += 1;
                    stats.examples.push(format!("connect: {e}"));
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            }
        }
        let Some((s, r)) = conn.as_mut() else {
            continue;
        };
        let fresh = !keep_alive;
        if let Err(e) = s.write_all(&request) {
            // A keep-alive connection the server closed between requests may fail
            // on write; that request was never read, so retrying is correct
            // (RFC 9112 §9.3.1) and not a failure.
            conn = None;
            if fresh {
                stats.reset += 1;
                stats.examples.push(format!("write: {e}"));
            }
            continue;
        }
        match crate::util::read_response(r, false) {
            Some(resp) if (200..300).contains(&resp.status) => {
                stats.ok += 1;
                *last.lock().unwrap() = resp.body_str();
                if !keep_alive || resp.closes() {
                    conn = None;
                }
            }
            Some(resp) => {
                stats.non_2xx += 1;
                stats.examples.push(format!("status {}", resp.status_line));
                conn = None;
            }
            None => {
                // No response at all. On a reused keep-alive connection this is the
                // RFC 9112 §9.3.1 race of a server closing an idle connection; we
                // count it unless the request was on a fresh connection.
                conn = None;
                if fresh {
                    stats.eof_before_response += 1;
                    stats
                        .examples
                        .push("EOF before a response on a fresh connection".into());
                } else {
                    stats.eof_before_response += 1;
                    stats
                        .examples
                        .push("EOF before a response on a keep-alive connection".into());
                }
            }
        }
    }
    stats.last_bodies.push(last.into_inner().unwrap());
    stats
}
