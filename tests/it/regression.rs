//! Regressions, each named after the issue that found it (ripgrep's regression.rs).
//! Every server runs in its own process tree and is stopped by PID.
use crate::util::{app, signal, Server, BIN};
use std::process::Command;
use std::time::{Duration, Instant};

fn count_lines(s: &Server, needle: &str) -> usize {
    s.log().iter().filter(|l| l.contains(needle)).count()
}

// See: issue 12. A HUP that arrives while the first generation boots is deferred
// until it is ready; if the configuration file has meanwhile become invalid, that
// reload is aborted — once. It used to stay pending, so the master re-read the bad
// file and aborted again on every turn of its loop (a log line and a READY=1 every
// few milliseconds) until the next good HUP.
#[test]
fn issue_12_a_hup_during_boot_with_a_bad_config_is_aborted_once() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("app.ini");
    let lifecycle = app("lifecycle");
    std::fs::write(
        &ini,
        format!(
            "[server:main]\napp = {}\nworkers = 1\napp_opt = boot_sleep_ms=1500\n",
            lifecycle.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["--listen", "127.0.0.1:0", "--config"]).arg(&ini);
    let s = Server::spawn(cmd);
    // The worker is still in its 1.5 s init: the reload waits for it.
    signal(s.pid(), libc::SIGHUP);
    std::fs::write(
        &ini,
        format!(
            "[server:main]\napp = {}\nworkers = none\n",
            lifecycle.display()
        ),
    )
    .unwrap();
    s.wait_for_workers(1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while count_lines(&s, "reload aborted") == 0 {
        assert!(
            Instant::now() < deadline,
            "no reload aborted: {:?}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        count_lines(&s, "reload aborted"),
        1,
        "the bad reload was retried:\n{}",
        s.log().join("\n")
    );
    let r = s.request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(s.stop().success());
}
