//! Loading apps: each way an app.so can be broken gives one clear line naming the
//! path, what was expected and what was found, and exit code 3 (exit::Code::AppBoot).
use crate::util::{app, wait_timeout, Server, BIN};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Run waitressd on `app_path`; return (exit code, stderr).
fn boot(app_path: &std::path::Path) -> (i32, String) {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0"])
        .arg(app_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_timeout(&mut child, Duration::from_secs(20));
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code().unwrap_or(-1), err)
}

fn error_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains("ERROR")).collect()
}

#[test]
fn missing_file() {
    let (code, log) = boot(std::path::Path::new("/nonexistent/app.so"));
    assert_eq!(code, 3, "{log}");
    let lines = error_lines(&log);
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains("/nonexistent/app.so") && lines[0].contains("no such file"),
        "{log}"
    );
}

#[test]
fn not_a_shared_object() {
    let (code, log) = boot(&app("abi-not_a_so"));
    assert_eq!(code, 3, "{log}");
    let lines = error_lines(&log);
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains("expected a shared library, found"),
        "{log}"
    );
}

#[test]
fn no_entry_symbol() {
    let (code, log) = boot(&app("abi-no_entry"));
    assert_eq!(code, 3, "{log}");
    let lines = error_lines(&log);
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains("expected the entry symbol waitressd_app_v1, found none"),
        "{log}"
    );
}

#[test]
fn another_abi_major() {
    let (code, log) = boot(&app("abi-wrong_major"));
    assert_eq!(code, 3, "{log}");
    let lines = error_lines(&log);
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains("expected ABI major 1, found ABI major 2"),
        "{log}"
    );
}

#[test]
fn descriptor_too_small() {
    let (code, log) = boot(&app("abi-short_struct"));
    assert_eq!(code, 3, "{log}");
    assert!(
        log.contains("expected a wd_app descriptor of at least"),
        "{log}"
    );
}

#[test]
fn init_failure_is_reported_with_the_apps_reason() {
    let (code, log) = boot(&app("abi-init_fails"));
    assert_eq!(code, 3, "{log}");
    assert!(log.contains("database unreachable"), "{log}");
    assert!(log.contains("init failed"), "{log}");
}

#[test]
fn a_c_app_serves() {
    let s = Server::start("hello-c", &[]);
    let r = s.request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"Hello, world!\n");
}

#[test]
fn a_panicking_rust_app_gets_500_and_the_worker_lives() {
    let s = Server::start("panic", &[]);
    let r = s.request(b"GET /before HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 500);
    assert!(r.body_str().starts_with("Internal Server Error"));
    assert!(
        !r.body_str().contains("panic"),
        "no detail without expose_tracebacks"
    );
    let raw = s.exchange(b"GET /after HTTP/1.1\r\nHost: h\r\n\r\n");
    let text = String::from_utf8_lossy(&raw).into_owned();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        text.ends_with("3\r\nabc\r\n"),
        "no terminating chunk after a panic: {text:?}"
    );
    for _ in 0..3 {
        let r = s.request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!((r.status, r.body_str().as_str()), (200, "ok"));
    }
    assert!(
        s.wait_for_log("panic", Duration::from_secs(5)),
        "{:?}",
        s.log()
    );
}

#[test]
fn expose_tracebacks_shows_the_panic_message() {
    let s = Server::start("panic", &["--expose-tracebacks"]);
    let r = s.request(b"GET /before HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 500);
    assert!(r.body_str().contains("panic"), "{}", r.body_str());
}

// ----- the host's side of each ABI rule, through the probe fixture -----

#[test]
fn start_refuses_hop_by_hop_headers() {
    let s = Server::start("probe", &[]);
    let r = s.request(b"GET /hop HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.body_str(), "Err(Invalid)");
}

#[test]
fn write_before_start_is_a_state_error() {
    let s = Server::start("probe", &[]);
    let r = s.request(b"GET /early HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.body_str(), "Err(State)");
}

#[test]
fn start_is_replaceable_until_the_first_body_byte() {
    let s = Server::start("probe", &[]);
    let r = s.request(b"GET /replace HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status_line, "HTTP/1.1 404 Gone Fishing");
    assert_eq!(r.body, b"body");
}

#[test]
fn host_variables() {
    let s = Server::start("probe", &["--ident", "myserver"]);
    let get = |name: &str| {
        s.request(
            format!("GET /var?{name} HTTP/1.1\r\nHost: h\r\nX-Dup: a\r\nX-Dup: b\r\n\r\n")
                .as_bytes(),
        )
    };
    assert_eq!(get("REQUEST_URI").body_str(), "/var?REQUEST_URI");
    assert_eq!(get("SERVER_SOFTWARE").body_str(), "myserver");
    assert_eq!(get("SERVER_PORT").body_str(), s.port.to_string());
    assert_eq!(get("HTTP_X_DUP").body_str(), "a, b");
    assert!(get("REMOTE_PORT").body_str().parse::<u16>().is_ok());
    assert_eq!(get("NOPE").status, 404);
}

#[test]
fn each_app_thread_runs_thread_init_with_its_index() {
    let s = Server::start("probe", &["--threads", "3"]);
    let mut seen = std::collections::BTreeSet::new();
    // Requests land on whichever thread is free; over many, indexes stay in range.
    for _ in 0..30 {
        let r = s.request(b"GET /thread HTTP/1.1\r\nHost: h\r\n\r\n");
        seen.insert(r.body_str().parse::<u32>().unwrap());
    }
    assert!(seen.iter().all(|&i| i < 3), "{seen:?}");
}

#[test]
fn a_client_that_stops_sending_is_reported_gone_but_still_gets_the_bytes_written() {
    // Waitress's client_disconnected turns true at read EOF; we report it the same
    // way, yet keep delivering what the app writes (the client may only have
    // half-closed). The app stops streaming and ends its response properly.
    let s = Server::start("probe", &[]);
    let mut c = s.connect();
    use std::io::{Read, Write};
    c.write_all(b"GET /wait HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut raw = vec![0u8; 64];
    let n = c.read(&mut raw).unwrap();
    raw.truncate(n); // the stream has begun
    c.shutdown(std::net::Shutdown::Write).unwrap();
    c.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    assert!(raw.contains("Transfer-Encoding: chunked\r\n"), "{raw}");
    assert!(
        raw.ends_with("\r\n0\r\n\r\n"),
        "a complete chunked body: {raw}"
    );
    assert!(
        raw.len() < 200 * 1024,
        "the app stopped early: {} bytes",
        raw.len()
    );
    let r = s.request(b"GET /seen HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.body_str(), "disconnect seen");
}

#[test]
fn a_streaming_app_learns_that_its_client_left() {
    let s = Server::start("probe", &[]);
    {
        let mut c = s.connect();
        use std::io::{Read, Write};
        c.write_all(b"GET /wait HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 4096];
        let _ = c.read(&mut buf).unwrap();
    } // the client closes mid-stream
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = s.request(b"GET /seen HTTP/1.1\r\nHost: h\r\n\r\n");
        if r.body_str() == "disconnect seen" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the app never saw the disconnect"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
