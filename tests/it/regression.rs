//! Regressions, each named after the issue that found it (ripgrep's regression.rs).
//! Every server runs in its own process tree and is stopped by PID.
use crate::util::{app, signal, Server, BIN};
use std::process::Command;
use std::time::{Duration, Instant};

/// CPU time (user + system) `pid` has used, in clock ticks (/proc/PID/stat fields
/// 14 and 15).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // pid (comm) state ...: utime and stime are the 12th and 13th fields after ')'.
    let after = stat.rsplit_once(')').unwrap().1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    #[allow(unsafe_code)]
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(n).unwrap_or(100)
}

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

// See: issue 12. A worker closes its end of the link when its I/O loop stops, then
// runs the app's shutdown before it exits. The master kept polling that link, which
// at EOF is always readable, so it spun at full CPU until the worker was reaped.
#[test]
fn issue_12_the_master_does_not_spin_on_the_link_of_a_worker_that_is_exiting() {
    let mut s = Server::start(
        "lifecycle",
        &["--workers", "1", "--app-opt", "shutdown_sleep_ms=3000"],
    );
    s.wait_for_workers(1);
    signal(s.pid(), libc::SIGTERM);
    // An idle worker drains at once and closes its link; its app's shutdown then
    // sleeps 3 s, and the master has nothing to do but wait for it.
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_ticks(s.pid());
    std::thread::sleep(Duration::from_millis(2000));
    let used = cpu_ticks(s.pid()) - before;
    let limit = clock_ticks_per_sec() / 2;
    assert!(
        used < limit,
        "the master used {used} clock ticks (limit {limit}) while a worker shut down"
    );
    let status = s.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
}
