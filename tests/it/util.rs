//! The integration-test harness: start the real `waitressd` binary on 127.0.0.1:0
//! with a fixture app, learn its port from the "Serving on" log line, speak raw bytes
//! to it, and stop it by PID when the test ends (never by name).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_waitressd");
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The .so of a fixture or example app, built once per test run through
/// `scripts/example-app` (the one way tests, benchmarks and people find them).
pub fn app(name: &str) -> PathBuf {
    static CACHE: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = cache.get(name) {
        return p.clone();
    }
    let out = Command::new(Path::new(ROOT).join("scripts/example-app"))
        .arg(name)
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/example-app");
    assert!(out.status.success(), "scripts/example-app {name} failed");
    let path = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    assert!(path.exists(), "{} does not exist", path.display());
    cache.insert(name.to_string(), path.clone());
    path
}

/// The virtualenvs, with waitressd installed by pip, that Python apps are served
/// from: `$WAITRESSD_TEST_VENVS` (colon-separated), which `scripts/test.sh` sets.
/// Without one, a test that needs Python fails and says how to get one.
pub fn python_venvs() -> Vec<PathBuf> {
    let venvs: Vec<PathBuf> = std::env::var("WAITRESSD_TEST_VENVS")
        .unwrap_or_default()
        .split(':')
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect();
    assert!(
        !venvs.is_empty(),
        "this test serves Python apps: run the suite with scripts/test.sh, which builds \
         the virtualenvs and sets WAITRESSD_TEST_VENVS"
    );
    for v in &venvs {
        assert!(
            v.join("bin/waitressd").exists(),
            "{} has no bin/waitressd (pip install the repository into it)",
            v.display()
        );
    }
    venvs
}

/// The first test virtualenv (for tests that need one Python, not each).
pub fn python_venv() -> PathBuf {
    python_venvs().remove(0)
}

/// One way to serve a fixture app: its native .so, its Python twin (from a
/// virtualenv), or the twin wrapped in `wsgiref.validate.validator` with its
/// warnings as errors.
#[derive(Debug, Clone)]
pub enum Twin {
    Native,
    Python(PathBuf),
    Validated(PathBuf),
}

impl Twin {
    pub fn is_python(&self) -> bool {
        !matches!(self, Twin::Native)
    }
}

impl std::fmt::Display for Twin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let py = |v: &Path| {
            v.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        match self {
            Twin::Native => write!(f, "native"),
            Twin::Python(v) => write!(f, "python ({})", py(v)),
            Twin::Validated(v) => write!(f, "python under wsgiref.validate ({})", py(v)),
        }
    }
}

/// Every way to serve a fixture: the native app, then for each test virtualenv the
/// Python twin plain and validated.
pub fn twins() -> Vec<Twin> {
    let mut all = vec![Twin::Native];
    for v in python_venvs() {
        all.push(Twin::Python(v.clone()));
        all.push(Twin::Validated(v));
    }
    all
}

/// As `twins`, without the validated form (for requests wsgiref.validate refuses,
/// such as methods outside its list).
pub fn twins_unvalidated() -> Vec<Twin> {
    twins()
        .into_iter()
        .filter(|t| !matches!(t, Twin::Validated(_)))
        .collect()
}

/// Run `check` once for each way of serving a fixture (`twins()`); the twin being
/// checked is printed first, so a failure's output names it.
pub fn each_twin(check: impl Fn(&Twin)) {
    each_of(twins(), check)
}

/// As `each_twin`, for the given twins.
pub fn each_of(twins: Vec<Twin>, check: impl Fn(&Twin)) {
    for twin in &twins {
        eprintln!("--- served by: {twin}");
        check(twin);
    }
}

/// `module:callable` and the directory to run it from, for a Python twin.
fn python_twin(name: &str, validated: bool) -> (String, PathBuf) {
    let mut cmd = Command::new(Path::new(ROOT).join("scripts/example-app"));
    cmd.arg(name).arg("--python");
    if validated {
        cmd.arg("--validated");
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/example-app");
    assert!(
        out.status.success(),
        "scripts/example-app {name} --python failed"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let target = lines.next().expect("module:callable").to_string();
    let dir = PathBuf::from(lines.next().expect("a directory"));
    (target, dir)
}

/// Log lines that mean a validated twin broke PEP 3333 without failing a request
/// (wsgiref.validate's checks in `__del__` only print).
const VALIDATOR_COMPLAINTS: [&str; 3] = [
    "Iterator garbage collected without being closed",
    "WSGIWarning",
    "AssertionError",
];

/// A running server process.
pub struct Server {
    child: Child,
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
    /// Served a validated twin: its log must stay free of validator complaints.
    validated: bool,
}

impl Server {
    /// `waitressd --listen 127.0.0.1:0 ARGS APP`.
    pub fn start(app_name: &str, args: &[&str]) -> Server {
        Server::start_path(&app(app_name), args)
    }

    /// Serve fixture `name` the way `twin` says.
    pub fn start_twin(name: &str, twin: &Twin, args: &[&str]) -> Server {
        match twin {
            Twin::Native => Server::start(name, args),
            Twin::Python(venv) | Twin::Validated(venv) => {
                let validated = matches!(twin, Twin::Validated(_));
                let (target, dir) = python_twin(name, validated);
                let mut s = Server::start_python(venv, &dir, &target, args);
                s.validated = validated;
                s
            }
        }
    }

    /// `VENV/bin/waitressd --listen 127.0.0.1:0 ARGS TARGET`, run from `dir`.
    pub fn start_python(venv: &Path, dir: &Path, target: &str, args: &[&str]) -> Server {
        let mut cmd = Command::new(venv.join("bin/waitressd"));
        cmd.current_dir(dir)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(args)
            .arg(target);
        Server::spawn(cmd)
    }

    pub fn start_path(app: &Path, args: &[&str]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.arg("--listen").arg("127.0.0.1:0").args(args).arg(app);
        Server::spawn(cmd)
    }

    /// Run `cmd` (a waitressd command line listening on 127.0.0.1:0) and wait for
    /// its port.
    pub fn spawn(cmd: Command) -> Server {
        let (server, port) = Server::spawn_raw(cmd, "Serving on http://127.0.0.1:");
        let mut server = server;
        server.port = port.parse().expect("a port");
        server.wait_until_accepting();
        server
    }

    /// Run `cmd` and wait for a log line containing `marker`; returns the server and
    /// the rest of that line after the marker.
    pub fn spawn_raw(mut cmd: Command, marker: &str) -> (Server, String) {
        use std::os::unix::process::CommandExt;
        // Its own process group: when a test stops a worker (SIGSTOP) and its master
        // then exits, the kernel sends SIGHUP + SIGCONT to the orphaned group with a
        // stopped member. That must reach only this server, not the test process (a
        // SIGCONT interrupts our blocking reads with EINTR) or other tests' masters.
        let mut child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn waitressd");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (found_tx, found_rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            let marker = marker.to_string();
            std::thread::spawn(move || {
                let mut found_tx = Some(found_tx);
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line.split(marker.as_str()).nth(1) {
                        if let Some(tx) = found_tx.take() {
                            let _ = tx.send(rest.trim().to_string());
                        }
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        let rest = match found_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(rest) => rest,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "waitressd did not start; log:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        (
            Server {
                child,
                port: 0,
                log,
                validated: false,
            },
            rest,
        )
    }

    fn wait_until_accepting(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("waitressd never accepted on port {}", self.port);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the process has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Wait (bounded) for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        wait_timeout(&mut self.child, timeout)
    }

    /// A new connection with a read timeout.
    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    /// Send `raw`, half-close, and read everything until the server closes.
    pub fn exchange(&self, raw: &[u8]) -> Vec<u8> {
        let mut s = self.connect();
        s.write_all(raw).unwrap();
        let _ = s.shutdown(Shutdown::Write);
        read_to_close(&mut s)
    }

    /// Send one request on a new connection and read one response.
    pub fn request(&self, raw: &[u8]) -> Response {
        let mut s = self.connect();
        s.write_all(raw).unwrap();
        let mut r = BufReader::new(s);
        read_response(&mut r, raw.starts_with(b"HEAD ")).expect("a response")
    }

    /// The log lines so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Wait (bounded) until a log line contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().iter().any(|l| l.contains(needle)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The pids of workers the master reported ready, in order.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.log()
            .iter()
            .filter_map(|l| l.split("worker ").nth(1))
            .filter(|rest| rest.contains(" ready ("))
            .filter_map(|rest| rest.split(' ').next()?.parse().ok())
            .collect()
    }

    /// Wait (bounded) until `n` workers have reported ready; returns their pids.
    pub fn wait_for_workers(&self, n: usize) -> Vec<u32> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let pids = self.worker_pids();
            if pids.len() >= n {
                return pids;
            }
            assert!(
                Instant::now() < deadline,
                "{n} workers never became ready: {:?}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resident set size of the (first) worker process, in KiB (VmRSS), and its peak
    /// (VmHWM).
    pub fn rss_kib(&self) -> (u64, u64) {
        let pid = self.wait_for_workers(1)[0];
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Send SIGTERM and wait (bounded) for the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        signal(self.child.id(), libc::SIGTERM);
        let status = wait_timeout(&mut self.child, Duration::from_secs(20));
        std::mem::forget(self);
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            signal(self.child.id(), libc::SIGKILL);
        }
        let _ = self.child.wait();
        if self.validated && !std::thread::panicking() {
            let log = self.log();
            let complaints: Vec<&String> = log
                .iter()
                .filter(|l| VALIDATOR_COMPLAINTS.iter().any(|c| l.contains(c)))
                .collect();
            assert!(
                complaints.is_empty(),
                "wsgiref.validate complained:\n{}",
                log.join("\n")
            );
        }
    }
}

/// The live child processes of `pid` (from /proc), excluding zombies.
pub fn children(pid: u32) -> Vec<u32> {
    process_children(pid)
        .into_iter()
        .filter(|&(_, state)| state != 'Z')
        .map(|(p, _)| p)
        .collect()
}

/// Zombie children of `pid`.
pub fn zombies(pid: u32) -> Vec<u32> {
    process_children(pid)
        .into_iter()
        .filter(|&(_, state)| state == 'Z')
        .map(|(p, _)| p)
        .collect()
}

fn process_children(pid: u32) -> Vec<(u32, char)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...; comm may hold spaces, so split after ')'.
        let Some(after) = stat.rsplit_once(')').map(|(_, a)| a) else {
            continue;
        };
        let mut fields = after.split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid: u32 = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        if ppid == pid {
            out.push((p, state));
        }
    }
    out
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, a)| a.trim_start().starts_with('Z'))
        })
        .is_some_and(|zombie| !zombie)
}

/// The number of open fds of `pid`.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

pub fn signal(pid: u32, sig: i32) {
    // Through the `kill` command: by PID only, never by name.
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

pub fn wait_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        if Instant::now() > deadline {
            signal(child.id(), libc::SIGKILL);
            return child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Request helpers for a server this test did not start (e.g. a proxy in front).
pub struct Client {
    pub port: u16,
}

impl Client {
    /// Send one request on a new connection and read one response.
    pub fn request(&mut self, raw: &[u8]) -> Response {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(raw).unwrap();
        let mut r = BufReader::new(s);
        read_response(&mut r, raw.starts_with(b"HEAD ")).expect("a response")
    }
}

pub fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "read failed: {e} (got so far: {:?})",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    out
}

/// One parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The chunk sizes, for a chunked body.
    pub chunks: Vec<usize>,
    /// The raw head, through the blank line.
    pub head: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The head with the Date value blanked, for exact comparisons.
    pub fn head_without_date(&self) -> String {
        self.head
            .lines()
            .map(|l| {
                if l.starts_with("Date: ") {
                    "Date: <date>"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    /// The JSON part of an echo fixture body.
    pub fn echo(&self) -> serde_json::Value {
        let text = self.body_str();
        let json = text.split("\r\n\r\n").next().unwrap();
        serde_json::from_str(json).unwrap_or_else(|e| panic!("bad echo JSON {json:?}: {e}"))
    }

    /// The raw body part of an echo fixture body.
    pub fn echo_body(&self) -> Vec<u8> {
        let pos = self
            .body
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("echo separator");
        self.body[pos + 4..].to_vec()
    }
}

/// Read one response (skipping 1xx interim responses unless `keep_interim`).
pub fn read_response<R: BufRead>(r: &mut R, is_head: bool) -> Option<Response> {
    loop {
        let resp = read_one(r, is_head)?;
        if (100..200).contains(&resp.status) {
            continue;
        }
        return Some(resp);
    }
}

/// Read exactly one response, interim or final.
pub fn read_one<R: BufRead>(r: &mut R, is_head: bool) -> Option<Response> {
    let mut head = String::new();
    let mut status_line = String::new();
    if r.read_line(&mut status_line).ok()? == 0 {
        return None;
    }
    head.push_str(&status_line);
    let status_line = status_line.trim_end().to_string();
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).ok()?;
        head.push_str(&line);
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (n, v) = line.split_once(": ")?;
        headers.push((n.to_string(), v.to_string()));
    }
    let mut resp = Response {
        status,
        status_line,
        headers,
        body: Vec::new(),
        chunks: Vec::new(),
        head,
    };
    if is_head || (100..200).contains(&status) || status == 204 || status == 304 {
        return Some(resp);
    }
    if let Some(cl) = resp.header("content-length") {
        let n: usize = cl.parse().ok()?;
        let mut body = vec![0; n];
        r.read_exact(&mut body).ok()?;
        resp.body = body;
    } else if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim_end(), 16).ok()?;
            if n == 0 {
                let mut end = String::new();
                r.read_line(&mut end).ok()?;
                break;
            }
            resp.chunks.push(n);
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).ok()?;
            resp.body.extend_from_slice(&chunk[..n]);
        }
    } else {
        r.read_to_end(&mut resp.body).ok()?;
    }
    Some(resp)
}

/// Parse every response in `raw` (pipelined or close-delimited).
pub fn parse_all(raw: &[u8]) -> Vec<Response> {
    let mut r = BufReader::new(raw);
    let mut out = Vec::new();
    while let Some(resp) = read_one(&mut r, false) {
        out.push(resp);
    }
    out
}
