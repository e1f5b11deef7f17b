//! Waitress parity for operators: trusted proxy headers end to end, the config file
//! with every setting and its precedence, --check-config, waitress-serve's flags
//! (the Heroku Procfile verbatim), and the access log in both formats with rotation.
use crate::util::{app, read_response, signal, Server, BIN};
use std::io::{BufReader, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn echo_with(twin: &crate::util::Twin, args: &[&str]) -> Server {
    Server::start_twin("echo", twin, args)
}

fn eventually(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ----- trusted proxy headers -----

#[test]
fn untrusted_peers_lose_their_proxy_headers() {
    crate::util::each_twin(|twin| {
        let s = echo_with(twin, &["--log-untrusted-proxy-headers"]);
        let r = s.request(
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\nForwarded: for=1.2.3.4\r\nX-Other: kept\r\n\r\n",
    );
        let e = r.echo();
        assert_eq!(e["remote_addr"], "127.0.0.1");
        assert_eq!(e["scheme"], "http");
        assert!(e["headers"].get("X_FORWARDED_FOR").is_none());
        assert!(e["headers"].get("X_FORWARDED_PROTO").is_none());
        assert!(e["headers"].get("FORWARDED").is_none());
        assert_eq!(e["headers"]["X_OTHER"], "kept");
        assert!(s.wait_for_log("Removed untrusted headers", Duration::from_secs(5)));
    });
}

#[test]
fn keep_untrusted_headers_when_asked() {
    crate::util::each_twin(|twin| {
        let s = echo_with(twin, &["--no-clear-untrusted-proxy-headers"]);
        let r = s.request(b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n");
        assert_eq!(r.echo()["headers"]["X_FORWARDED_FOR"], "1.2.3.4");
        assert_eq!(r.echo()["remote_addr"], "127.0.0.1");
    });
}

#[test]
fn x_forwarded_headers_from_a_trusted_proxy() {
    crate::util::each_twin(|twin| {
        let s = echo_with(
            twin,
            &[
                "--trusted-proxy",
                "127.0.0.1",
                "--trusted-proxy-count",
                "2",
                "--trusted-proxy-headers",
                "x-forwarded-for x-forwarded-host x-forwarded-proto x-forwarded-port",
            ],
        );
        let r = s.request(
        b"GET /p HTTP/1.1\r\nHost: internal:9000\r\nX-Forwarded-For: 192.0.2.1, 198.51.100.2, 203.0.113.1\r\nX-Forwarded-Host: example.com\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 8443\r\n\r\n",
    );
        let e = r.echo();
        assert_eq!(e["remote_addr"], "198.51.100.2");
        assert_eq!(e["remote_host"], "198.51.100.2");
        assert_eq!(e["scheme"], "https");
        assert_eq!(e["server_name"], "example.com");
        assert_eq!(e["server_port"], "8443");
        assert_eq!(e["headers"]["HOST"], "example.com:8443");
        // Only the trusted hops reach the app (Waitress 3.0.2's fix).
        assert_eq!(e["headers"]["X_FORWARDED_FOR"], "198.51.100.2, 203.0.113.1");
    });
}

#[test]
fn forwarded_from_a_trusted_proxy_with_ipv6() {
    crate::util::each_twin(|twin| {
        let s = echo_with(
            twin,
            &[
                "--trusted-proxy",
                "*",
                "--trusted-proxy-headers",
                "forwarded",
            ],
        );
        let r = s.request(
        b"GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=\"[2001:db8::1]:3821\";host=\"example.com:8443\";proto=https\r\nX-Forwarded-For: 9.9.9.9\r\n\r\n",
    );
        let e = r.echo();
        assert_eq!(e["remote_addr"], "2001:db8::1");
        assert_eq!(e["scheme"], "https");
        assert_eq!(e["server_name"], "example.com");
        assert_eq!(e["server_port"], "8443");
        assert!(
            e["headers"].get("X_FORWARDED_FOR").is_none(),
            "untrusted alongside Forwarded"
        );
    });
}

#[test]
fn a_malformed_trusted_header_is_a_400() {
    crate::util::each_twin(|twin| {
        let s = echo_with(
            twin,
            &[
                "--trusted-proxy",
                "*",
                "--trusted-proxy-headers",
                "x-forwarded-proto",
            ],
        );
        let raw = s.exchange(b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: gopher\r\n\r\n");
        let rs = crate::util::parse_all(&raw);
        assert_eq!(rs[0].status, 400);
        assert!(
            rs[0]
                .body_str()
                .contains("Header \"X-Forwarded-Proto\" malformed."),
            "{}",
            rs[0].body_str()
        );
        assert!(s.wait_for_log("Malformed proxy header", Duration::from_secs(5)));
    });
}

#[test]
fn trusted_proxy_alone_trusts_x_forwarded_proto() {
    crate::util::each_twin(|twin| {
        let s = echo_with(twin, &["--trusted-proxy", "127.0.0.1"]);
        let r = s.request(b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: https\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n");
        assert_eq!(r.echo()["scheme"], "https");
        assert_eq!(r.echo()["remote_addr"], "127.0.0.1");
    });
}

#[test]
fn localhost_is_the_trusted_proxy_on_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s.sock");
    let mut cmd = Command::new(BIN);
    cmd.arg("--unix-socket")
        .arg(&sock)
        .args([
            "--trusted-proxy",
            "localhost",
            "--trusted-proxy-headers",
            "x-forwarded-for",
        ])
        .arg(app("echo"));
    let (s, _) = Server::spawn_raw(cmd, "Serving on unix:");
    s.wait_for_workers(1);
    let mut c = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n")
        .unwrap();
    let r = read_response(&mut BufReader::new(&c), false).unwrap();
    assert_eq!(r.echo()["remote_addr"], "203.0.113.9");
}

#[test]
fn proxy_options_without_a_trusted_proxy_are_startup_errors() {
    for args in [
        vec!["--trusted-proxy-count", "2", "a.so"],
        vec!["--trusted-proxy-headers", "x-forwarded-for", "a.so"],
        vec![
            "--trusted-proxy",
            "*",
            "--trusted-proxy-headers",
            "forwarded x-forwarded-for",
            "a.so",
        ],
        vec![
            "--trusted-proxy",
            "*",
            "--trusted-proxy-headers",
            "x-forwarded-nope",
            "a.so",
        ],
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("trusted-proxy"), "{err}");
    }
}

// ----- the config file and --check-config -----

fn check(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .arg("--check-config")
        .env_remove("WEB_CONCURRENCY");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

const EVERY_SETTING: &str = "\
# A migrated Waitress config, plus waitressd's own settings.
[app:main]
use = egg:myapp

[server:main]
use = egg:waitress#main
app = %(here)s/app.so
app_opt = version=7 mode=x
listen = 127.0.0.1:6543 [::1]:6544
ipv4 = true
ipv6 = yes
unix_socket = /run/x.sock
unix_socket_perms = 660
backlog = 2048
workers = 3
threads = 8
graceful_timeout = 20
timeout = 15
boot_timeout = 90
max_requests = 1000
max_requests_jitter = 50
reload_surge = 2
pid_file = /run/x.pid
recv_bytes = 16384
send_bytes = 1
inbuf_overflow = 1048576
outbuf_overflow = 2097152
outbuf_high_watermark = 33554432
connection_limit = 500
cleanup_interval = 10
channel_timeout = 60
max_request_header_size = 65536
max_request_body_size = 10485760
channel_request_lookahead = 2
url_scheme = https
url_prefix = /app/
ident = myident
server_name = example.com
expose_tracebacks = on
log_socket_errors = off
log_level = debug
trusted_proxy = 10.0.0.1
trusted_proxy_count = 2
trusted_proxy_headers = x-forwarded-for, x-forwarded-proto
log_untrusted_proxy_headers = true
clear_untrusted_proxy_headers = false
access_log = /var/log/x.log
access_log_format = json
asyncore_use_poll = true
asyncore_loop_timeout = 1
";

#[test]
fn a_config_file_sets_every_setting() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("app.ini");
    std::fs::write(&ini, EVERY_SETTING).unwrap();
    let (code, out, err) = check(&["--config", ini.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    let j = json(&out);
    let here = dir.path().canonicalize().unwrap();
    assert_eq!(j["app"], format!("{}/app.so", here.display()));
    assert_eq!(j["app_opt"], serde_json::json!(["version=7", "mode=x"]));
    assert_eq!(
        j["listen"],
        serde_json::json!(["127.0.0.1:6543", "[::1]:6544"])
    );
    let expect = serde_json::json!({
        "unix_socket": "/run/x.sock", "unix_socket_perms": "660", "backlog": 2048,
        "workers": 3, "threads": 8, "graceful_timeout": 20, "timeout": 15, "boot_timeout": 90,
        "max_requests": 1000, "max_requests_jitter": 50, "reload_surge": 2,
        "pid_file": "/run/x.pid",
        "recv_bytes": 16384, "inbuf_overflow": 1048576, "outbuf_overflow": 2097152,
        "outbuf_high_watermark": 33554432, "connection_limit": 500, "cleanup_interval": 10,
        "channel_timeout": 60, "max_request_header_size": 65536, "max_request_body_size": 10485760,
        "channel_request_lookahead": 2, "url_scheme": "https", "url_prefix": "/app",
        "ident": "myident", "server_name": "example.com", "expose_tracebacks": true,
        "log_socket_errors": false, "log_level": "debug", "trusted_proxy": "10.0.0.1",
        "trusted_proxy_count": 2, "trusted_proxy_headers": ["x-forwarded-for", "x-forwarded-proto"],
        "log_untrusted_proxy_headers": true, "clear_untrusted_proxy_headers": false,
        "access_log": "/var/log/x.log", "access_log_format": "json",
    });
    for (k, v) in expect.as_object().unwrap() {
        assert_eq!(&j[k], v, "setting {k}");
    }
}

#[test]
fn precedence_is_command_line_then_environment_then_file_then_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("app.ini");
    std::fs::write(
        &ini,
        "[server:main]\napp = a.so\nthreads = 8\nconnection_limit = 300\nident = fromfile\n",
    )
    .unwrap();
    let f = ini.to_str().unwrap();
    let (_, out, err) = check(
        &["--config", f, "--threads", "2"],
        &[
            ("WAITRESSD_THREADS", "5"),
            ("WAITRESSD_CONNECTION_LIMIT", "400"),
        ],
    );
    let j = json(&out);
    assert_eq!(j["threads"], 2, "the command line wins: {err}");
    assert_eq!(j["connection_limit"], 400, "then the environment");
    assert_eq!(j["ident"], "fromfile", "then the file");
    assert_eq!(j["channel_timeout"], 120, "then the default");
    let (_, out, _) = check(&["--config", f], &[("WEB_CONCURRENCY", "6")]);
    assert_eq!(
        json(&out)["workers"],
        6,
        "WEB_CONCURRENCY is the workers default"
    );
    // Another section.
    std::fs::write(
        &ini,
        "[server:main]\napp = a.so\n[server:alt]\napp = b.so\nthreads = 3\n",
    )
    .unwrap();
    let (_, out, _) = check(&["--config", f, "--config-section", "server:alt"], &[]);
    assert_eq!(json(&out)["threads"], 3);
}

#[test]
fn config_errors_name_the_file_line_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("bad.ini");
    let f = ini.to_str().unwrap().to_string();
    for (text, needles) in [
        (
            "[server:main]\napp = a.so\nthreds = 4\n",
            vec![":3:", "unknown key 'threds'", "'4'"],
        ),
        (
            "[server:main]\napp = a.so\n\nthreads = many\n",
            vec![":4:", "'threads'", "'many'"],
        ),
        (
            "[server:main]\napp = a.so\nthreads = 0\n",
            vec![":3:", "'threads'", "'0'", "at least 1"],
        ),
        (
            "[server:main]\napp = a.so\nexpose_tracebacks = maybe\n",
            vec![":3:", "'expose_tracebacks'", "'maybe'"],
        ),
        ("[server:main]\nport = 1\nport = 2\n", vec![":3:", "twice"]),
        ("[other]\nport = 1\n", vec!["no [server:main] section"]),
    ] {
        std::fs::write(&ini, text).unwrap();
        let (code, _, err) = check(&["--config", &f], &[]);
        assert_eq!(code, 2, "{text}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(&f) || needles[0].starts_with("no ["), "{err}");
        for n in needles {
            assert!(err.contains(n), "{text:?}: {err:?} lacks {n}");
        }
    }
    let (code, _, err) = check(&["a.so"], &[("WAITRESSD_THREADS", "lots")]);
    assert_eq!(code, 2);
    assert!(
        err.contains("WAITRESSD_THREADS") && err.contains("lots"),
        "{err}"
    );
    let (code, _, err) = check(&["--config", "/nonexistent.ini"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent.ini"), "{err}");
}

#[test]
fn sighup_rereads_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("app.ini");
    let write = |version: &str| {
        std::fs::write(
            &ini,
            format!(
                "[server:main]\napp = {}\napp_opt = version={version}\n",
                app("lifecycle").display()
            ),
        )
        .unwrap();
    };
    write("one");
    let mut cmd = Command::new(BIN);
    cmd.args(["--listen", "127.0.0.1:0", "--config"]).arg(&ini);
    let s = Server::spawn(cmd);
    s.wait_for_workers(1);
    let body = |s: &Server| s.request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").body_str();
    assert!(body(&s).starts_with("version=one "));
    write("two");
    signal(s.pid(), libc::SIGHUP);
    eventually("reload", Duration::from_secs(20), || {
        s.log().iter().any(|l| l.contains("reload complete"))
    });
    assert!(body(&s).starts_with("version=two "));
    // A broken file aborts the reload; the running generation stays.
    std::fs::write(&ini, "[server:main]\nthreads = zero\n").unwrap();
    signal(s.pid(), libc::SIGHUP);
    eventually("aborted reload", Duration::from_secs(20), || {
        s.log().iter().any(|l| l.contains("reload aborted"))
    });
    assert!(body(&s).starts_with("version=two "));
}

// ----- waitress-serve's command line -----

#[test]
fn the_heroku_procfile_line_runs_verbatim() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let line = format!(
        "exec {bin} --listen \"*:$PORT\" --trusted-proxy '*' --trusted-proxy-headers 'x-forwarded-for x-forwarded-proto x-forwarded-port' --log-untrusted-proxy-headers --clear-untrusted-proxy-headers --threads ${{WEB_CONCURRENCY:-4}} {app}",
        bin = BIN,
        app = app("echo").display()
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(line)
        .env("PORT", port.to_string())
        .env_remove("WEB_CONCURRENCY");
    let (mut s, _) = Server::spawn_raw(cmd, "Serving on http://0.0.0.0:");
    s.port = port;
    s.wait_for_workers(1);
    let r = s.request(
        b"GET / HTTP/1.1\r\nHost: myapp.herokuapp.com\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 443\r\n\r\n",
    );
    assert_eq!(r.echo()["remote_addr"], "203.0.113.7");
    assert_eq!(r.echo()["scheme"], "https");
    assert_eq!(r.echo()["server_port"], "443");
}

#[test]
fn waitress_only_flags_are_accepted_with_a_warning() {
    let s = Server::start(
        "hello",
        &[
            "--call",
            "--asyncore-use-poll",
            "--asyncore-loop-timeout",
            "1",
            "--send-bytes",
            "18000",
        ],
    );
    for flag in [
        "'call'",
        "'asyncore_use_poll'",
        "'asyncore_loop_timeout'",
        "'send_bytes'",
    ] {
        assert!(
            s.wait_for_log(flag, Duration::from_secs(5)),
            "{flag} warning"
        );
    }
    assert_eq!(s.request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").status, 200);
}

// ----- the access log -----

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn combined_access_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let mut s = Server::start("echo_body_only", &["--access-log", log.to_str().unwrap()]);
    s.request(b"POST /submit?x=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: probe/1.0\r\nReferer: http://r/\r\nContent-Length: 3\r\n\r\nabc");
    s.exchange(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    signal(s.pid(), libc::SIGTERM);
    assert_eq!(s.wait_exit(Duration::from_secs(15)).code(), Some(0));
    let lines = read_lines(&log);
    assert_eq!(lines.len(), 2, "{lines:?}");
    // Two connections: their lines may come in either order (each is written when
    // its response is done, by whichever thread finished it).
    let (ok, rejected) = if lines[0].contains("POST") {
        (&lines[0], &lines[1])
    } else {
        (&lines[1], &lines[0])
    };
    // 127.0.0.1 - - [24/Nov/2026:08:00:00 +0000] "POST /submit?x=1 HTTP/1.1" 200 3 "http://r/" "probe/1.0
    assert!(ok.starts_with("127.0.0.1 - - ["), "{ok}");
    let (stamp, rest) = ok["127.0.0.1 - - [".len()..].split_once("] ").unwrap();
    assert_eq!(stamp.len(), "24/Nov/2026:08:00:00 +0000".len(), "{stamp}");
    assert!(stamp.ends_with(" +0000"));
    assert_eq!(
        rest,
        "\"POST /submit?x=1 HTTP/1.1\" 200 3 \"http://r/\" \"probe/1.0\""
    );
    // The rejected request is logged too, without a request line.
    assert!(
        rejected.ends_with("\"-\" 400 - \"-\" \"-\"") || rejected.contains("\"-\" 400 "),
        "{rejected}"
    );
}

#[test]
fn json_access_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.jsonl");
    let mut s = Server::start(
        "echo_body_only",
        &[
            "--access-log",
            log.to_str().unwrap(),
            "--access-log-format",
            "json",
        ],
    );
    s.request(b"GET /a%20b HTTP/1.1\r\nHost: h\r\nUser-Agent: probe\r\n\r\n");
    let worker = s.wait_for_workers(1)[0];
    signal(s.pid(), libc::SIGTERM);
    s.wait_exit(Duration::from_secs(15));
    let lines = read_lines(&log);
    assert_eq!(lines.len(), 1);
    let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(v["remote"], "127.0.0.1");
    assert_eq!(v["method"], "GET");
    assert_eq!(v["target"], "/a%20b");
    assert_eq!(v["protocol"], "HTTP/1.1");
    assert_eq!(v["status"], 200);
    assert_eq!(v["bytes"], 0);
    assert!(v["duration_us"].as_u64().is_some());
    assert_eq!(v["request_id"], 1);
    assert_eq!(v["worker_pid"], worker);
    assert_eq!(v["user_agent"], "probe");
    assert_eq!(v["referer"], serde_json::Value::Null);
    assert!(v["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn usr1_rotation_loses_no_line_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let rotated = dir.path().join("access.log.1");
    let mut s = Server::start(
        "hello",
        &["--workers", "2", "--access-log", log.to_str().unwrap()],
    );
    s.wait_for_workers(2);
    let port = s.port;
    let clients: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                let mut sent = 0;
                let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                let mut w = c.try_clone().unwrap();
                let mut r = BufReader::new(c);
                let start = Instant::now();
                while start.elapsed() < Duration::from_millis(1500) {
                    w.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
                    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(600));
    std::fs::rename(&log, &rotated).unwrap();
    signal(s.pid(), libc::SIGUSR1);
    let sent: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    signal(s.pid(), libc::SIGTERM);
    assert_eq!(s.wait_exit(Duration::from_secs(15)).code(), Some(0));
    let old = read_lines(&rotated).len();
    let new = read_lines(&log).len();
    assert!(
        old > 0 && new > 0,
        "lines in both files: old {old}, new {new}"
    );
    assert_eq!(old + new, sent, "every request has exactly one line");
}
