//! Python WSGI apps: the app argument and boot, PEP 3333 and Waitress's environ,
//! `start_response`/`write`/`wsgi.input`/`wsgi.file_wrapper`, `close()` on every path,
//! failures, threads and the GIL, signals, stdio, atexit, C extensions, the cargo
//! binary handing Python apps to a virtualenv, and reload and drain with Python code.
//! Each test runs the pip-installed `waitressd` of every test virtualenv
//! (`scripts/test.sh`) against the apps in tests/fixtures/python/wd_cases/.
use crate::load::{Load, Mode};
use crate::util::{parse_all, python_venv, python_venvs, read_response, signal, Server, BIN, ROOT};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn cases_dir() -> PathBuf {
    Path::new(ROOT).join("tests/fixtures/python")
}

/// The kitchen-sink app, from `venv`.
fn kitchen(venv: &Path, args: &[&str]) -> Server {
    Server::start_python(venv, &cases_dir(), "wd_cases.kitchen:app", args)
}

/// Run `check` with each test virtualenv (its Python printed first).
fn each_python(check: impl Fn(&Path)) {
    for venv in python_venvs() {
        eprintln!("--- python: {}", venv.display());
        check(&venv);
    }
}

fn get(s: &Server, target: &str) -> crate::util::Response {
    s.request(format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
}

fn json(r: &crate::util::Response) -> serde_json::Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&r.body)))
}

fn eventually(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ----- the environ -----

#[test]
fn the_environ_has_exactly_waitress_keys_and_values() {
    each_python(|venv| {
        let s = kitchen(venv, &[]);
        let mut c = s.connect();
        let local_port = c.local_addr().unwrap().port().to_string();
        c.write_all(
            b"GET /environ?a=%20b HTTP/1.1\r\nHost: h\r\nX-Custom: 1\r\nX-Custom: 2\r\nX_Spoof: no\r\n\r\n",
        )
        .unwrap();
        let e = json(&read_response(&mut BufReader::new(c), false).unwrap());
        let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = vec![
            "HTTP_HOST",
            "HTTP_X_CUSTOM",
            "PATH_INFO",
            "QUERY_STRING",
            "REMOTE_ADDR",
            "REMOTE_HOST",
            "REMOTE_PORT",
            "REQUEST_METHOD",
            "REQUEST_URI",
            "SCRIPT_NAME",
            "SERVER_NAME",
            "SERVER_PORT",
            "SERVER_PROTOCOL",
            "SERVER_SOFTWARE",
            "client_disconnected()",
            "file_wrapper module",
            "waitress.client_disconnected",
            "wsgi.errors",
            "wsgi.errors is sys.stderr",
            "wsgi.file_wrapper",
            "wsgi.input",
            "wsgi.input_terminated",
            "wsgi.multiprocess",
            "wsgi.multithread",
            "wsgi.run_once",
            "wsgi.url_scheme",
            "wsgi.version",
        ];
        want.sort_unstable();
        assert_eq!(keys, want, "no CONTENT_* without a body, no HTTP_X_SPOOF");
        let port = s.port.to_string();
        for (key, value) in [
            ("HTTP_HOST", "h"),
            ("HTTP_X_CUSTOM", "1, 2"),
            ("PATH_INFO", "/environ"),
            ("QUERY_STRING", "a=%20b"),
            ("REQUEST_URI", "/environ?a=%20b"),
            ("REMOTE_ADDR", "127.0.0.1"),
            ("REMOTE_HOST", "127.0.0.1"),
            ("REMOTE_PORT", local_port.as_str()),
            ("REQUEST_METHOD", "GET"),
            ("SCRIPT_NAME", ""),
            ("SERVER_NAME", "waitress.invalid"),
            ("SERVER_PORT", port.as_str()),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("SERVER_SOFTWARE", "waitress"),
            ("wsgi.url_scheme", "http"),
            ("wsgi.version", "(1, 0)"),
            ("wsgi.multithread", "True"),
            ("wsgi.multiprocess", "False"),
            ("wsgi.run_once", "False"),
            ("wsgi.input_terminated", "True"),
            ("wsgi.input", "InputStream"),
            ("wsgi.file_wrapper", "type"),
            ("file_wrapper module", "waitressd"),
            ("wsgi.errors is sys.stderr", "True"),
            ("client_disconnected()", "False"),
        ] {
            assert_eq!(e[key], value, "{key}");
        }
    });
}

#[test]
fn content_length_and_type_are_there_only_when_sent() {
    each_python(|venv| {
        let s = kitchen(venv, &[]);
        let r = s.request(b"POST /environ HTTP/1.1\r\nHost: h\r\nContent-Type: text/x\r\nContent-Length: 3\r\n\r\nabc");
        let e = json(&r);
        assert_eq!(
            (e["CONTENT_LENGTH"].as_str(), e["CONTENT_TYPE"].as_str()),
            (Some("3"), Some("text/x"))
        );
        assert!(e.get("HTTP_CONTENT_LENGTH").is_none() && e.get("HTTP_CONTENT_TYPE").is_none());
        // A chunked body's CONTENT_LENGTH is its de-chunked size (Waitress parser.py).
        let r = s.request(b"POST /environ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n");
        let e = json(&r);
        assert_eq!(e["CONTENT_LENGTH"], "5");
        assert!(e.get("CONTENT_TYPE").is_none());
        assert!(e.get("HTTP_TRANSFER_ENCODING").is_none());
        // Content-Length: 0 is a length the client sent.
        let r = s.request(b"POST /environ HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(json(&r)["CONTENT_LENGTH"], "0");
    });
}

#[test]
fn the_environ_never_comes_from_os_environ_and_multiprocess_follows_workers() {
    let venv = python_venv();
    let mut cmd = Command::new(venv.join("bin/waitressd"));
    cmd.current_dir(cases_dir())
        .env("HTTP_HOST", "leaked.example")
        .env("WAITRESSD_LEAK_PROBE", "1")
        .args([
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "2",
            "wd_cases.kitchen:app",
        ]);
    let s = Server::spawn(cmd);
    s.wait_for_workers(2);
    let e = json(&get(&s, "/environ"));
    assert_eq!(e["HTTP_HOST"], "h");
    assert!(e.get("WAITRESSD_LEAK_PROBE").is_none());
    assert_eq!(
        e["wsgi.multiprocess"], "True",
        "more than one worker process"
    );
}

#[test]
fn strings_are_latin1_both_ways() {
    each_python(|venv| {
        let s = kitchen(venv, &[]);
        let raw = s.exchange(
            b"GET /latin1 HTTP/1.1\r\nHost: h\r\nX-Latin: caf\xe9\r\nConnection: close\r\n\r\n",
        );
        // The head is not UTF-8 (that is the point): find the body by hand.
        let body_at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let body: serde_json::Value = serde_json::from_slice(&raw[body_at..]).unwrap();
        assert_eq!(body, serde_json::json!(["caf\u{e9}", [99, 97, 102, 233]]));
        let needle = |n: &[u8]| raw.windows(n.len()).any(|w| w == n);
        assert!(
            needle(b"X-Echo: caf\xe9\r\n"),
            "the app's str goes out as latin-1"
        );
        assert!(needle(b"X-Fixed: caf\xe9\r\n"));
    });
}

// ----- wsgi.input -----

#[test]
fn wsgi_input_reads_every_way_and_seeks() {
    each_python(|venv| {
        let s = kitchen(venv, &[]);
        let r = s
            .request(b"POST /input HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nabc\ndef\nghi");
        assert_eq!(
            json(&r),
            serde_json::json!({
                "read(3)": "abc",
                "readline()": "\n",
                "readline(2)": "de",
                "tell()": 6,
                "readlines()": ["abc\n", "def\n", "ghi"],
                "iter": ["bc\n", "def\n", "ghi"],
                "readinto": [4, "abc\n"],
                "read()": "def\nghi",
                "read(-1) after seek(-2, 2)": "hi",
                "read(None) at end": "",
                "len(read()) again": 11,
                "seekable": true,
            })
        );
    });
}

#[test]
fn a_body_spilled_to_disk_reads_and_seeks_the_same() {
    each_python(|venv| {
        let s = kitchen(venv, &["--inbuf-overflow", "65536"]);
        let body: Vec<u8> = (0..2_000_000u32).map(|i| (i % 256) as u8).collect();
        let sum: u64 = body.iter().map(|&b| u64::from(b)).sum::<u64>() % 251;
        let mut req = format!(
            "POST /big_input HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(&body);
        let r = s.request(&req);
        assert_eq!(r.body_str(), format!("2000000 True {sum}"));
    });
}

// ----- start_response and write -----

#[test]
fn start_response_checks_what_waitress_checks_with_its_words() {
    each_python(|venv| {
        let s = kitchen(venv, &["--expose-tracebacks"]);
        for (case, words) in [
            ("status_bytes", "AssertionError: status b'200 OK' is not a string"),
            ("status_crlf", "ValueError: carriage return/line feed character present in status"),
            ("name_bytes", "AssertionError: Header name b'X-A' is not a string in (b'X-A', '1')"),
            ("value_int", "AssertionError: Header value 1 is not a string in ('X-A', 1)"),
            ("value_crlf", "ValueError: carriage return/line feed character present in header value"),
            ("name_crlf", "ValueError: carriage return/line feed character present in header name"),
            ("hop_by_hop", "AssertionError: Connection is a \"hop-by-hop\" header; it cannot be used by a WSGI application (see PEP 3333)"),
            ("twice", "AssertionError: start_response called a second time without providing exc_info."),
            ("bad_length", "ValueError: invalid literal for int() with base 10"),
            ("not_latin1", "is not latin-1"),
            ("status_short", "is not a three-digit code"),
        ] {
            let r = get(&s, &format!("/bad_start?{case}"));
            assert_eq!(r.status, 500, "{case}");
            assert!(r.closes(), "{case}");
            assert!(r.body_str().contains(words), "{case}: {}", r.body_str());
        }
    });
}

#[test]
fn exc_info_replaces_staged_headers_before_commit() {
    each_python(|venv| {
        let s = kitchen(venv, &[]);
        let r = get(&s, "/exc_info_replace");
        assert_eq!(r.status_line, "HTTP/1.1 500 Internal Server Error");
        assert_eq!(r.header("x-stage"), Some("second"));
        assert_eq!(r.body, b"replaced");
    });
}

#[test]
fn exc_info_after_commit_reraises_and_the_response_is_cut() {
    each_python(|venv| {
        let s = kitchen(venv, &[]);
        let raw = s.exchange(b"GET /exc_info_after_commit HTTP/1.1\r\nHost: h\r\n\r\n");
        let text = String::from_utf8_lossy(&raw).into_owned();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(
            text.ends_with("\r\n\r\n7\r\npartial\r\n"),
            "no terminator: {text:?}"
        );
        assert!(s.wait_for_log("KeyError: 'late'", Duration::from_secs(5)));
    });
}

#[test]
fn a_lazy_start_response_inside_the_generator_sets_the_status() {
    each_python(|venv| {
        let s = kitchen(venv, &[]);
        let r = get(&s, "/lazy_start");
        assert_eq!(r.status_line, "HTTP/1.1 201 Created");
        assert_eq!(r.header("x-lazy"), Some("yes"));
        assert_eq!(r.body, b"made lazily");
        let r = get(&s, "/empty_chunks");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"x"[..]));
    });
}

#[test]
fn a_body_without_start_response_is_a_500() {
    each_python(|venv| {
        let s = kitchen(venv, &["--expose-tracebacks"]);
        let r = get(&s, "/no_start");
        assert_eq!(r.status, 500);
        assert!(
            r.body_str()
                .contains("start_response was not called before body written"),
            "{}",
            r.body_str()
        );
        assert!(s.wait_for_log("Exception while serving /no_start", Duration::from_secs(5)));
    });
}

#[test]
fn a_stashed_write_cannot_reach_a_later_request() {
    each_python(|venv| {
        let s = kitchen(venv, &["--threads", "1"]);
        assert_eq!(get(&s, "/stash_write").body, b"stashed");
        let r = get(&s, "/use_stash");
        assert!(
            r.body_str()
                .starts_with("RuntimeError: this request is over"),
            "{}",
            r.body_str()
        );
    });
}

// ----- close() on every path, and clients that leave -----

#[test]
fn close_is_called_on_success_on_error_and_when_the_client_leaves() {
    each_python(|venv| {
        let s = kitchen(venv, &["--threads", "2"]);
        assert_eq!(get(&s, "/close_ok").body, b"ab");
        let raw = s.exchange(b"GET /close_error HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(
            String::from_utf8_lossy(&raw).ends_with("\r\n1\r\na\r\n"),
            "cut after the first chunk"
        );
        assert_eq!(get(&s, "/close_before").status, 500);
        // A client that reads a little of an endless stream, then leaves.
        for path in ["/endless", "/write_until_gone"] {
            let mut c = s.connect();
            c.write_all(format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
                .unwrap();
            let mut buf = vec![0u8; 200_000];
            let mut got = 0;
            while got < 150_000 {
                got += c.read(&mut buf[got..]).unwrap();
            }
            drop(c);
        }
        eventually(
            "close() ran for every path",
            Duration::from_secs(10),
            || {
                let log = json(&get(&s, "/closed"));
                let have = |p: &str| log.as_array().unwrap().iter().any(|v| v == p);
                [
                    "/close_ok",
                    "/close_error",
                    "/close_before",
                    "/endless",
                    "/write_until_gone: ClientDisconnected",
                ]
                .iter()
                .all(|p| have(p))
            },
        );
        assert!(s.wait_for_log(
            "Client disconnected while serving /write_until_gone",
            Duration::from_secs(5)
        ));
    });
}

// ----- wsgi.file_wrapper -----

#[test]
fn a_file_wrapper_over_a_regular_file_goes_out_with_sendfile() {
    each_python(|venv| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("blob.bin");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 253) as u8).collect();
        std::fs::write(&file, &data).unwrap();
        let opt = format!("file={}", file.display());
        let s = kitchen(venv, &["--app-opt", &opt]);
        // The wrapped file's read() raises: the bytes can only have come by sendfile.
        let r = get(&s, "/sendfile");
        assert_eq!(r.status, 200, "{}", r.body_str());
        assert_eq!(r.header("content-length"), Some("300000"));
        assert!(r.body == data, "the file's bytes");
        let raw = s.exchange(
            b"GET /sendfile?100 HTTP/1.1\r\nHost: h\r\n\r\nGET /sendfile?999999 HTTP/1.1\r\nHost: h\r\n\r\nGET /sendfile_offset HTTP/1.0\r\n\r\n",
        );
        let rs = parse_all(&raw);
        assert_eq!(rs.len(), 3, "keep-alive across file responses");
        assert_eq!(
            (rs[0].header("content-length"), rs[0].body.as_slice()),
            (Some("100"), &data[..100])
        );
        assert_eq!(
            rs[1].header("content-length"),
            Some("300000"),
            "a longer length is corrected"
        );
        assert!(rs[1].body == data);
        assert!(rs[2].body == data[10..], "from the file's position");
    });
}

#[test]
fn a_file_wrapper_over_other_file_likes_keeps_waitress_lengths() {
    each_python(|venv| {
        let s = kitchen(venv, &[]);
        for (query, length, body) in [
            ("", "10", "0123456789"),
            ("4", "4", "0123"),
            ("100", "10", "0123456789"),
        ] {
            let r = get(&s, &format!("/bytesio?{query}"));
            assert_eq!(
                (r.header("content-length"), r.body_str().as_str()),
                (Some(length), body),
                "{query}"
            );
            assert!(!r.closes(), "{query}");
        }
    });
}

// ----- failures -----

#[test]
fn system_exit_and_keyboard_interrupt_are_500s_and_the_worker_stays() {
    each_python(|venv| {
        let s = kitchen(venv, &[]);
        let pid = get(&s, "/pid").body_str();
        assert_eq!(get(&s, "/system_exit").status, 500);
        assert_eq!(get(&s, "/keyboard_interrupt").status, 500);
        assert_eq!(get(&s, "/pid").body_str(), pid, "the same worker serves on");
        assert!(s.wait_for_log("SystemExit: 3", Duration::from_secs(5)));
    });
}

#[test]
fn a_memory_error_recycles_the_worker_without_loss() {
    each_python(|venv| {
        let s = kitchen(venv, &[]);
        s.wait_for_workers(1);
        let pid = get(&s, "/pid").body_str();
        assert_eq!(get(&s, "/memory_error").status, 500);
        eventually("a new worker", Duration::from_secs(20), || {
            let r = get(&s, "/pid");
            r.status == 200 && r.body_str() != pid
        });
    });
}

// ----- threads, the GIL, signals, stdio, atexit -----

#[test]
fn the_apps_own_threads_run_between_requests() {
    each_python(|venv| {
        let s = kitchen(venv, &[]);
        let before: u64 = get(&s, "/ticks").body_str().parse().unwrap();
        std::thread::sleep(Duration::from_millis(400));
        let after: u64 = get(&s, "/ticks").body_str().parse().unwrap();
        assert!(
            after >= before + 10,
            "the app's thread got the GIL: {before} → {after}"
        );
        assert!(get(&s, "/thread_name").body_str().starts_with("waitress-"));
    });
}

#[test]
fn signal_handlers_for_the_servers_signals_are_refused() {
    each_python(|venv| {
        let mut s = Server::start_python(venv, &cases_dir(), "wd_cases.signals:app", &[]);
        assert!(s.wait_for_log(
            "signal.signal(SIGTERM, ...) was refused",
            Duration::from_secs(10)
        ));
        assert_eq!(
            get(&s, "/").body_str(),
            "True",
            "other signals are the app's"
        );
        signal(s.pid(), libc::SIGTERM);
        assert_eq!(
            s.wait_exit(Duration::from_secs(10)).code(),
            Some(0),
            "TERM still drains"
        );
    });
}

#[test]
fn print_and_logging_reach_the_workers_stderr_and_atexit_runs_on_drain() {
    each_python(|venv| {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("atexit");
        let opt = format!("atexit_file={}", marker.display());
        let mut s = kitchen(venv, &["--app-opt", &opt]);
        assert!(s.wait_for_log("kitchen imported in", Duration::from_secs(10)));
        assert_eq!(get(&s, "/output").body_str(), "ok");
        assert!(s.wait_for_log("printed by the app", Duration::from_secs(5)));
        assert!(s.wait_for_log("logged by the app", Duration::from_secs(5)));
        signal(s.pid(), libc::SIGTERM);
        assert_eq!(s.wait_exit(Duration::from_secs(10)).code(), Some(0));
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran");
    });
}

#[test]
fn c_extensions_import_in_a_worker() {
    each_python(|venv| {
        let s = kitchen(venv, &[]);
        let r = get(&s, "/c_extensions");
        assert_eq!(r.status, 200, "{}", r.body_str());
        assert_eq!(r.body_str(), "OpenSSL 8 42 markupsafe._speedups");
    });
}

// ----- the app argument and boot -----

#[test]
fn apps_are_named_as_waitress_serve_names_them() {
    each_python(|venv| {
        let s = Server::start_python(venv, &cases_dir(), "wd_cases.kitchen:holder.app", &[]);
        assert_eq!(get(&s, "/pid").status, 200);
        let s = Server::start_python(venv, &cases_dir(), "wd_cases.kitchen:make_app", &["--call"]);
        assert_eq!(get(&s, "/pid").status, 200);
        // The current directory is importable, as with waitress-serve.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("myapp.py"),
            "def app(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'from the current directory']\n",
        )
        .unwrap();
        let s = Server::start_python(venv, dir.path(), "myapp:app", &[]);
        assert_eq!(get(&s, "/").body, b"from the current directory");
    });
}

/// Start `target` expecting the boot to fail: returns (exit code, log).
fn failed_boot(venv: &Path, target: &str) -> (Option<i32>, Vec<String>) {
    let mut cmd = Command::new(venv.join("bin/waitressd"));
    cmd.current_dir(cases_dir())
        .args(["--listen", "127.0.0.1:0", target]);
    let (mut s, _) = Server::spawn_raw(cmd, "Serving on");
    let status = s.wait_exit(Duration::from_secs(30));
    (status.code(), s.log())
}

#[test]
fn import_errors_fail_the_boot_with_the_last_line_and_log_the_traceback() {
    each_python(|venv| {
        let (code, log) = failed_boot(venv, "wd_cases.broken:app");
        assert_eq!(code, Some(3), "{log:#?}");
        let text = log.join("\n");
        assert!(
            log.iter().any(|l| l.contains("cannot import the app wd_cases.broken:app: ImportError: broken on purpose: the database driver is missing")),
            "{text}"
        );
        assert!(
            text.contains("Traceback (most recent call last):") && text.contains("broken.py"),
            "{text}"
        );
        let (code, log) = failed_boot(venv, "nosuchmodule:app");
        assert_eq!(code, Some(3));
        assert!(
            log.iter()
                .any(|l| l.contains("ModuleNotFoundError: No module named 'nosuchmodule'")),
            "{log:#?}"
        );
        let (code, log) = failed_boot(venv, "wd_cases.notcallable:app");
        assert_eq!(code, Some(3));
        assert!(
            log.iter().any(|l| l.contains("is not callable")),
            "{log:#?}"
        );
    });
}

#[test]
fn the_cargo_binary_hands_a_python_app_to_the_virtualenv() {
    let venv = python_venv();
    let run = |env_venv: Option<&Path>, flag: Option<&Path>| {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(cases_dir()).env_remove("VIRTUAL_ENV");
        if let Some(v) = env_venv {
            cmd.env("VIRTUAL_ENV", v);
        }
        cmd.args(["--listen", "127.0.0.1:0"]);
        if let Some(p) = flag {
            cmd.arg("--python").arg(p);
        }
        cmd.arg("wd_cases.kitchen:app");
        cmd
    };
    let s = Server::spawn(run(Some(&venv), None));
    assert_eq!(get(&s, "/pid").status, 200, "with $VIRTUAL_ENV");
    let s = Server::spawn(run(None, Some(&venv.join("bin/python"))));
    assert_eq!(get(&s, "/pid").status, 200, "with --python INTERPRETER");
    // No Python to hand it to: one line, exit 2.
    let out = run(None, None).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot run the Python app wd_cases.kitchen:app") && err.contains("--python"),
        "{err}"
    );
    // A Python without waitressd: said so.
    let bare = tempfile::tempdir().unwrap();
    let python = venv.join("bin/python");
    let made = Command::new(&python)
        .args(["-m", "venv"])
        .arg(bare.path())
        .status()
        .unwrap();
    assert!(made.success());
    let out = run(None, Some(bare.path())).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no waitressd package"), "{err}");
}

// ----- reload and drain with Python code -----

fn write_app(dir: &Path, version: &str) {
    let tmp = dir.join("wdapp.py.tmp");
    std::fs::write(
        &tmp,
        format!(
            "import os\nVERSION = {version:?}\n\ndef app(environ, start_response):\n    environ['wsgi.input'].read(int(environ.get('CONTENT_LENGTH') or 0))\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [f'version={{VERSION}} pid={{os.getpid()}}'.encode()]\n"
        ),
    )
    .unwrap();
    std::fs::rename(&tmp, dir.join("wdapp.py")).unwrap();
}

#[test]
fn a_hup_under_load_serves_changed_python_code_without_a_failed_request() {
    let venv = python_venv();
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "one");
    let s = Server::start_python(
        &venv,
        dir.path(),
        "wdapp:app",
        &["--workers", "2", "--threads", "4"],
    );
    s.wait_for_workers(2);
    assert!(get(&s, "/").body_str().starts_with("version=one "));
    let load = Load::start(
        s.port,
        &[
            Mode::KeepAliveGet,
            Mode::ConnectionPerGet,
            Mode::KeepAlivePost,
            Mode::ConnectionPerPost,
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    for (i, version) in ["two", "three"].iter().enumerate() {
        write_app(dir.path(), version);
        signal(s.pid(), libc::SIGHUP);
        eventually("reload complete", Duration::from_secs(30), || {
            s.log()
                .iter()
                .filter(|l| l.contains("reload complete"))
                .count()
                > i
        });
        std::thread::sleep(Duration::from_millis(200));
    }
    let stats = load.finish();
    assert_eq!(stats.failures(), 0, "{stats:?}");
    assert!(stats.ok > 100, "{stats:?}");
    assert!(
        stats
            .last_bodies
            .iter()
            .all(|b| b.starts_with("version=three ")),
        "{stats:?}"
    );
}

#[test]
fn term_with_a_python_request_in_flight_finishes_it() {
    each_python(|venv| {
        let mut s = kitchen(venv, &[]);
        let mut c = s.connect();
        c.write_all(b"GET /sleep?1.5 HTTP/1.1\r\nHost: h\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        signal(s.pid(), libc::SIGTERM);
        let r = read_response(&mut BufReader::new(c), false)
            .expect("the request in flight is answered");
        assert_eq!((r.status, r.body_str().as_str()), (200, "slept"));
        assert!(r.closes());
        assert_eq!(s.wait_exit(Duration::from_secs(10)).code(), Some(0));
    });
}
