//! The command line: a bad value gets one line naming the flag and the value, and
//! exit code 2; --help exits 0.
use crate::util::BIN;
use std::process::Command;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_value_is_one_line_and_exit_2() {
    for (args, needles) in [
        (vec!["--threads", "0", "a.so"], vec!["--threads", "'0'"]),
        (
            vec!["--threads", "many", "a.so"],
            vec!["--threads", "'many'"],
        ),
        (
            vec!["--listen", "127.0.0.1:http", "a.so"],
            vec!["--listen", "127.0.0.1:http"],
        ),
        (
            vec!["--url-scheme", "gopher", "a.so"],
            vec!["--url-scheme", "gopher"],
        ),
        (
            vec!["--connection-limit", "-1", "a.so"],
            vec!["--connection-limit", "-1"],
        ),
        (vec!["--no-such-flag", "a.so"], vec!["--no-such-flag"]),
        (vec!["--backlog", "-1", "a.so"], vec!["--backlog", "'-1'"]),
        (vec!["--workers", "0", "a.so"], vec!["--workers", "'0'"]),
        (
            vec!["--graceful-timeout", "-5", "a.so"],
            vec!["--graceful-timeout", "'-5'"],
        ),
        (
            vec!["--cpu-affinity", "fast", "a.so"],
            vec!["--cpu-affinity", "'fast'", "off, auto or a CPU list"],
        ),
        (
            vec!["--cpu-affinity", "3-1", "a.so"],
            vec!["--cpu-affinity", "'3-1'", "upwards"],
        ),
        (
            vec!["--cpu-affinity", "4000", "a.so"],
            vec![
                "--cpu-affinity",
                "'4000'",
                "CPU 4000 is not one this process may use",
            ],
        ),
    ] {
        let (code, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: {err:?} lacks {n}");
        }
    }
}

#[test]
fn help_exits_0_and_groups_the_flags() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for heading in [
        "Listening:",
        "HTTP limits:",
        "Request environment:",
        "Logging:",
        "App:",
    ] {
        assert!(text.contains(heading), "{heading} missing from --help");
    }
}

/// The README's option tables are the operator's reference: a flag that --help lists
/// and the README does not is a documentation bug.
#[test]
fn every_flag_in_help_is_documented_in_the_readme() {
    let readme = include_str!("../../README.md");
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let mut missing = Vec::new();
    for word in help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        let Some(name) = word.strip_prefix("--").filter(|n| !n.is_empty()) else {
            continue;
        };
        if ["help", "version"].contains(&name) {
            continue;
        }
        // `--no-x` is documented with `--x` (or as `--[no-]x`).
        let base = name.strip_prefix("no-").unwrap_or(name);
        if !readme.contains(&format!("`--{base}")) && !readme.contains(&format!("`--[no-]{base}")) {
            missing.push(format!("--{name}"));
        }
    }
    missing.dedup();
    assert!(missing.is_empty(), "not in README.md: {missing:?}");
}

/// Waitress's `Adjustments._params` (3.0.2): waitress-serve accepts `--name=VALUE` for
/// each, and `--name`/`--no-name` for the booleans. Every one must parse here.
#[test]
fn every_waitress_serve_flag_is_accepted() {
    let valued = [
        ("--host", "127.0.0.1"),
        ("--port", "8080"),
        ("--threads", "4"),
        ("--trusted-proxy", "127.0.0.1"),
        ("--trusted-proxy-count", "1"),
        ("--trusted-proxy-headers", "x-forwarded-for"),
        ("--url-scheme", "http"),
        ("--url-prefix", "/x"),
        ("--backlog", "1024"),
        ("--recv-bytes", "8192"),
        ("--send-bytes", "18000"),
        ("--outbuf-overflow", "1048576"),
        ("--outbuf-high-watermark", "16777216"),
        ("--inbuf-overflow", "524288"),
        ("--connection-limit", "100"),
        ("--cleanup-interval", "30"),
        ("--channel-timeout", "120"),
        ("--max-request-header-size", "262144"),
        ("--max-request-body-size", "1073741824"),
        ("--ident", "waitress"),
        ("--asyncore-loop-timeout", "1"),
        ("--unix-socket-perms", "600"),
        ("--channel-request-lookahead", "0"),
        ("--server-name", "example.com"),
    ];
    let booleans = [
        "ipv4",
        "ipv6",
        "log-untrusted-proxy-headers",
        "clear-untrusted-proxy-headers",
        "log-socket-errors",
        "expose-tracebacks",
        "asyncore-use-poll",
    ];
    let mut args: Vec<String> = vec!["--check-config".into()];
    for (flag, value) in valued {
        args.push(format!("{flag}={value}"));
    }
    args.push("--call".into());
    let (code, err) = run(&args
        .iter()
        .map(String::as_str)
        .chain(["a.so"])
        .collect::<Vec<_>>());
    assert_eq!(code, 0, "{err}");
    for b in booleans {
        for flag in [format!("--{b}"), format!("--no-{b}")] {
            let (code, err) = run(&["--check-config", "--listen=*:8080", &flag, "a.so"]);
            assert_eq!(code, 0, "{flag}: {err}");
        }
    }
    // --listen and --unix-socket each stand alone.
    assert_eq!(
        run(&["--check-config", "--listen=127.0.0.1:8080", "a.so"]).0,
        0
    );
    assert_eq!(
        run(&["--check-config", "--unix-socket=/tmp/x.sock", "a.so"]).0,
        0
    );
}
