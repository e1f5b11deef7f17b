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
