//! Resource exhaustion: each bad client pattern runs while a good client must still
//! be served. Slow heads (slowloris), slow bodies, clients that never read,
//! half-open sockets, running out of file descriptors, 10,000 idle keep-alive
//! connections, a spill directory that cannot be written. CPU is read from
//! /proc/PID/stat to prove there is no busy loop.
use crate::util::{app, read_response, Server, BIN};
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// utime + stime of a process, in clock ticks (1/100 s).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields after the comm: state is [0], utime is [11], stime is [12].
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

/// CPU used by `pid` while `f` runs, in ticks.
fn cpu_during(pid: u32, f: impl FnOnce()) -> u64 {
    let before = cpu_ticks(pid);
    f();
    cpu_ticks(pid) - before
}

/// A good client gets its answer.
fn good_request(s: &Server) {
    let r = s.request(b"GET /good HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 200, "a good client is served");
}

#[test]
fn slowloris_heads_get_408_and_good_clients_are_served() {
    let s = Server::start(
        "hello",
        &["--request-head-timeout", "2", "--connection-limit", "200"],
    );
    let mut slow: Vec<TcpStream> = (0..30)
        .map(|_| {
            let mut c = s.connect();
            c.write_all(b"GET / HTTP/1.1\r\n").unwrap();
            c
        })
        .collect();
    let started = Instant::now();
    // Trickle a header byte per connection every 300 ms: never idle, never done.
    while started.elapsed() < Duration::from_millis(3500) {
        for c in &mut slow {
            let _ = c.write_all(b"X");
        }
        good_request(&s);
        std::thread::sleep(Duration::from_millis(300));
    }
    for c in &mut slow {
        let mut out = Vec::new();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = c.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{text}"
        );
        assert!(text.contains("Connection: close\r\n"));
    }
}

#[test]
fn slow_body_uploads_do_not_hold_up_good_clients() {
    let s = Server::start(
        "echo_body_only",
        &["--threads", "2", "--connection-limit", "200"],
    );
    let mut uploads: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut c = s.connect();
            c.write_all(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n")
                .unwrap();
            c
        })
        .collect();
    // The bodies are buffered by the I/O thread; no app thread waits for them.
    for _ in 0..5 {
        for c in &mut uploads {
            c.write_all(b"x").unwrap();
        }
        good_request(&s);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Finish one upload: it is answered with the whole body.
    let mut c = uploads.pop().unwrap();
    c.write_all(&[b'x'; 95]).unwrap();
    let r = read_response(&mut BufReader::new(c), false).unwrap();
    assert_eq!(r.body.len(), 100);
}

#[test]
fn clients_that_never_read_are_bounded_by_backpressure() {
    let s = Server::start("stream", &["--threads", "4"]);
    let (_, before) = s.rss_kib();
    // Eight clients ask for 50 MiB each and read nothing: each app write blocks at
    // the high watermark, output past outbuf_overflow waits in a spill file.
    let stuck: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut c = s.connect();
            c.write_all(b"GET /bytes?n=52428800&chunk=65536 HTTP/1.1\r\nHost: h\r\n\r\n")
                .unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let (_, peak) = s.rss_kib();
    let growth_mib = peak.saturating_sub(before) / 1024;
    assert!(
        growth_mib < 64,
        "8 stuck 50 MiB responses grew the worker by {growth_mib} MiB"
    );
    drop(stuck);
    // With four threads and some freed by the disconnects, good clients are served.
    std::thread::sleep(Duration::from_millis(300));
    let r = s.request(b"GET /bytes?n=10 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.body, b"xxxxxxxxxx");
}

#[test]
fn half_open_sockets_cause_no_busy_loop() {
    let s = Server::start("hello", &["--connection-limit", "200"]);
    let worker = s.wait_for_workers(1)[0];
    let mut held = Vec::new();
    for i in 0..60 {
        let mut c = s.connect();
        match i % 3 {
            // A partial head, then the client stops sending.
            0 => c.write_all(b"GET / HTTP/1.1\r\nHo").unwrap(),
            // A whole request, then the client stops sending and never reads.
            1 => c.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap(),
            // Nothing at all.
            _ => {}
        }
        let _ = c.shutdown(Shutdown::Write);
        held.push(c);
    }
    let ticks = cpu_during(worker, || std::thread::sleep(Duration::from_secs(2)));
    eprintln!("worker CPU with 60 half-open sockets: {ticks} ticks in 2 s");
    assert!(
        ticks <= 10,
        "the worker used {ticks}/200 ticks while idle: a busy loop"
    );
    good_request(&s);
}

#[test]
fn running_out_of_fds_at_accept_does_not_spin_and_recovers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "ulimit -n 48; exec {} --listen 127.0.0.1:{port} --connection-limit 1000 {}",
        BIN,
        app("hello").display()
    ));
    let (mut s, _) = Server::spawn_raw(cmd, "Serving on http://127.0.0.1:");
    s.port = port;
    let worker = s.wait_for_workers(1)[0];
    // More connections than the worker has descriptors for.
    let conns: Vec<TcpStream> = (0..80).map(|_| s.connect()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let ticks = cpu_during(worker, || std::thread::sleep(Duration::from_secs(2)));
    eprintln!("worker CPU while out of fds: {ticks} ticks in 2 s");
    assert!(ticks <= 20, "the worker spun on EMFILE: {ticks}/200 ticks");
    assert!(s
        .log()
        .iter()
        .any(|l| l.contains("cannot accept a connection")));
    drop(conns);
    // Once descriptors free up, the backlog drains and new clients are served.
    std::thread::sleep(Duration::from_millis(500));
    good_request(&s);
}

#[test]
fn ten_thousand_idle_keep_alive_connections_on_one_worker() {
    let s = Server::start("hello", &["--connection-limit", "20000"]);
    let (before, _) = s.rss_kib();
    let mut conns = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        conns.push(c);
    }
    // Each connection makes one request, then stays open and idle.
    for c in &mut conns {
        c.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    }
    let mut buf = [0u8; 512];
    for c in &mut conns {
        let mut got = 0;
        while got == 0 || !buf[..got].ends_with(b"Hello, world!\n") {
            let n = c.read(&mut buf[got..]).unwrap();
            assert!(n > 0, "closed early");
            got += n;
        }
    }
    let (after, _) = s.rss_kib();
    let per_conn_bytes = after.saturating_sub(before) * 1024 / 10_000;
    eprintln!(
        "RSS per idle keep-alive connection: {per_conn_bytes} bytes ({before} KiB → {after} KiB)"
    );
    assert!(
        per_conn_bytes < 32 * 1024,
        "{per_conn_bytes} bytes per idle connection"
    );
    good_request(&s);
    drop(conns);
}

/// POST `len` bytes on a new connection and read the response (the server may answer
/// before it has read them all).
fn post_a_body_of(s: &Server, len: usize) -> crate::util::Response {
    let mut c = s.connect();
    let head = format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {len}\r\n\r\n");
    c.write_all(head.as_bytes()).unwrap();
    let _ = c.write_all(&vec![b'z'; len]);
    read_response(&mut BufReader::new(c), false).unwrap()
}

#[test]
fn a_spill_directory_that_cannot_be_written_gets_a_clear_500() {
    let mut cmd = Command::new(BIN);
    cmd.args(["--listen", "127.0.0.1:0", "--inbuf-overflow", "1024"])
        .arg(app("echo_body_only"))
        .env("TMPDIR", "/nonexistent/waitressd-spill");
    let s = Server::spawn(cmd);
    let r = post_a_body_of(&s, 10_000);
    assert_eq!(r.status, 500);
    assert!(
        r.body_str().contains("could not be buffered"),
        "{}",
        r.body_str()
    );
    assert!(r.closes());
    // The worker lives: small requests (no spill) are still served.
    let r = s.request(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(r.body, b"abc");
}

#[test]
fn a_spill_file_that_hits_the_file_size_limit_gets_a_clear_500_and_the_worker_lives() {
    // A full disk, as the process sees it: writes past `ulimit -f` (8 KiB) fail.
    // Without SIGXFSZ ignored, the first such write would kill the worker.
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "ulimit -f 8; exec {} --listen 127.0.0.1:0 --inbuf-overflow 1024 {}",
        BIN,
        app("echo_body_only").display()
    ));
    let s = Server::spawn(cmd);
    let worker = s.wait_for_workers(1)[0];
    let r = post_a_body_of(&s, 100_000);
    assert_eq!(r.status, 500);
    assert!(r.closes());
    assert_eq!(
        r.body_str(),
        "Internal Server Error\r\n\r\nthe request body could not be buffered: File too large \
         (os error 27)\r\n\r\n(generated by waitress)"
    );
    assert!(s.wait_for_log(
        "500 the request body could not be buffered: File too large",
        Duration::from_secs(5)
    ));
    // The same worker serves on.
    let r = s.request(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(r.body, b"abc");
    assert_eq!(s.wait_for_workers(1), vec![worker]);
    assert!(crate::util::alive(worker));
}

/// The lifecycle app, where a request to /stuck sleeps for ten minutes.
fn start_with_a_stuck_path(args: &[&str]) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.args(["--listen", "127.0.0.1:0"])
        .args(args)
        .args([
            "--app-opt",
            "sleep_path=/stuck",
            "--app-opt",
            "sleep_ms=600000",
        ])
        .arg(app("lifecycle"));
    Server::spawn(cmd)
}

#[test]
fn a_stuck_app_thread_does_not_stop_the_worker_while_threads_remain() {
    let s = start_with_a_stuck_path(&["--threads", "3"]);
    // Two app threads get stuck "forever"; the third keeps serving.
    let _stuck: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut c = s.connect();
            c.write_all(b"GET /stuck HTTP/1.1\r\nHost: h\r\n\r\n")
                .unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..20 {
        good_request(&s);
    }
    // The master dies: the worker must not wait for its stuck threads to exit.
    let worker = s.wait_for_workers(1)[0];
    crate::util::signal(s.pid(), libc::SIGKILL);
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while crate::util::alive(worker) {
        assert!(
            std::time::Instant::now() < deadline,
            "worker {worker} outlived its master, waiting on stuck app threads"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_graceful_stop_with_stuck_app_threads_ends_at_the_graceful_timeout() {
    let mut s = start_with_a_stuck_path(&["--graceful-timeout", "2"]);
    let worker = s.wait_for_workers(1)[0];
    let mut c = s.connect();
    c.write_all(b"GET /stuck HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    crate::util::signal(s.pid(), libc::SIGTERM);
    // The worker cuts the request at its own deadline (graceful - 1 s), gives its
    // threads 200 ms, and leaves without waiting for the stuck one, before the
    // master's SIGKILL at the graceful timeout.
    assert_eq!(s.wait_exit(Duration::from_secs(10)).code(), Some(0));
    assert!(!crate::util::alive(worker));
    let log = s.log();
    assert!(
        log.iter()
            .any(|l| l.contains("1 app thread(s) still busy 200 ms after the drain")),
        "{log:#?}"
    );
}
