//! The access log: one line per response, Apache "combined" or JSON.
//!
//! Lines are formatted where the response ends (an app thread, or the I/O thread
//! for requests rejected before the app) and handed to this worker's writer thread
//! through a bounded channel that never blocks the sender; the writer buffers, flushes
//! at least once a second, and reopens the file when the worker gets SIGUSR1 (log
//! rotation: `mv access.log access.log.1; kill -USR1 <master>`). Several workers
//! append to one file with O_APPEND, one write(2) per batch of whole lines.
use crate::config::AccessLogFormat;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Lines waiting for the writer before new ones are dropped (and counted).
const QUEUE_LINES: usize = 65_536;
const FLUSH_EVERY: Duration = Duration::from_secs(1);
const BUFFER_BYTES: usize = 64 * 1024;

/// What one finished request contributes to its line.
#[derive(Debug, Clone, Default)]
pub struct Record<'a> {
    pub remote: &'a str,
    pub method: &'a str,
    pub target: &'a [u8],
    pub protocol: &'a str,
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    pub duration: Duration,
    pub request_id: u64,
    pub user_agent: Option<&'a [u8]>,
    pub referer: Option<&'a [u8]>,
}

/// The sending side, shared by the I/O thread and the app threads.
#[derive(Clone)]
pub struct AccessLog {
    tx: SyncSender<String>,
    format: AccessLogFormat,
    dropped: Arc<AtomicU64>,
}

impl AccessLog {
    /// Format and queue one line; never blocks.
    pub fn log(&self, r: &Record<'_>) {
        let line = match self.format {
            AccessLogFormat::Combined => combined(r, SystemTime::now()),
            AccessLogFormat::Json => json(r, SystemTime::now()),
        };
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The writer thread; `stop` flushes everything queued and joins it.
pub struct Writer {
    handle: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Writer {
    /// Open `target` ("-" = standard output) and start the writer thread. `reopen`
    /// is set by the worker's SIGUSR1 handler.
    pub fn start(
        target: &str,
        format: AccessLogFormat,
        reopen: Arc<AtomicBool>,
    ) -> std::io::Result<(AccessLog, Writer)> {
        let sink = Sink::open(target)?;
        let (tx, rx) = sync_channel(QUEUE_LINES);
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let handle = {
            let stop = stop.clone();
            let dropped = dropped.clone();
            std::thread::Builder::new()
                .name("access-log".into())
                .spawn(move || write_loop(sink, &rx, &stop, &reopen, &dropped))?
        };
        Ok((
            AccessLog {
                tx,
                format,
                dropped,
            },
            Writer {
                handle: Some(handle),
                stop,
            },
        ))
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

enum Sink {
    Stdout,
    File { path: String, file: File },
}

impl Sink {
    fn open(target: &str) -> std::io::Result<Sink> {
        if target == "-" {
            return Ok(Sink::Stdout);
        }
        let file = OpenOptions::new().create(true).append(true).open(target)?;
        Ok(Sink::File {
            path: target.to_string(),
            file,
        })
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()
            }
            // One write(2) for the batch: with O_APPEND, lines from several workers
            // do not interleave.
            Sink::File { file, .. } => file.write_all(bytes),
        }
    }

    fn reopen(&mut self) {
        if let Sink::File { path, file } = self {
            match OpenOptions::new().create(true).append(true).open(&*path) {
                Ok(f) => *file = f,
                Err(e) => log::error!("cannot reopen the access log {path}: {e}"),
            }
        }
    }
}

fn write_loop(
    mut sink: Sink,
    rx: &Receiver<String>,
    stop: &AtomicBool,
    reopen: &AtomicBool,
    dropped: &AtomicU64,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(BUFFER_BYTES);
    let mut last_flush = Instant::now();
    let flush = |buf: &mut Vec<u8>, sink: &mut Sink| {
        if !buf.is_empty() {
            if let Err(e) = sink.write_all(buf) {
                log::error!("cannot write the access log: {e}");
            }
            buf.clear();
        }
    };
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                buf.extend_from_slice(line.as_bytes());
                // Take whatever else is queued in one go.
                while buf.len() < BUFFER_BYTES {
                    match rx.try_recv() {
                        Ok(line) => buf.extend_from_slice(line.as_bytes()),
                        Err(_) => break,
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                flush(&mut buf, &mut sink);
                return;
            }
        }
        if reopen.swap(false, Ordering::SeqCst) {
            // Lines formatted before the signal go to the old file, the rest to
            // the new one: nothing is lost in a rotation.
            flush(&mut buf, &mut sink);
            sink.reopen();
        }
        if buf.len() >= BUFFER_BYTES || last_flush.elapsed() >= FLUSH_EVERY {
            flush(&mut buf, &mut sink);
            last_flush = Instant::now();
            let lost = dropped.swap(0, Ordering::Relaxed);
            if lost > 0 {
                log::warn!("access log: {lost} line(s) dropped (the disk is not keeping up)");
            }
        }
        if stop.load(Ordering::SeqCst) {
            while let Ok(line) = rx.try_recv() {
                buf.extend_from_slice(line.as_bytes());
            }
            flush(&mut buf, &mut sink);
            return;
        }
    }
}

/// Apache's escaping for quoted fields: `"` and `\` escaped, non-printables \xHH.
fn escape(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// (year, month 1-12, day, hour, minute, second, microsecond) in UTC.
fn utc(t: SystemTime) -> (i64, u32, u32, u64, u64, u64, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = crate::http::date::civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    (
        y,
        m,
        day,
        s / 3600,
        (s / 60) % 60,
        s % 60,
        d.subsec_micros(),
    )
}

/// `127.0.0.1 - - [24/Nov/2026:08:00:00 +0000] "GET / HTTP/1.1" 200 14 "ref" "ua"`.
pub fn combined(r: &Record<'_>, now: SystemTime) -> String {
    let (y, mo, d, h, mi, s, _) = utc(now);
    let mut line = format!(
        "{} - - [{d:02}/{}/{y}:{h:02}:{mi:02}:{s:02} +0000] \"",
        if r.remote.is_empty() { "-" } else { r.remote },
        MONTHS[(mo - 1) as usize]
    );
    if r.method.is_empty() {
        line.push('-');
    } else {
        escape(r.method.as_bytes(), &mut line);
        line.push(' ');
        escape(r.target, &mut line);
        line.push(' ');
        line.push_str(r.protocol);
    }
    line.push_str(&format!("\" {} ", r.status));
    if r.bytes == 0 {
        line.push('-');
    } else {
        line.push_str(&r.bytes.to_string());
    }
    for field in [r.referer, r.user_agent] {
        line.push_str(" \"");
        match field {
            Some(v) => escape(v, &mut line),
            None => line.push('-'),
        }
        line.push('"');
    }
    line.push('\n');
    line
}

/// One JSON object per line.
pub fn json(r: &Record<'_>, now: SystemTime) -> String {
    let (y, mo, d, h, mi, s, us) = utc(now);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let value = serde_json::json!({
        "time": format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z"),
        "remote": r.remote,
        "method": r.method,
        "target": text(r.target),
        "protocol": r.protocol,
        "status": r.status,
        "bytes": r.bytes,
        "duration_us": r.duration.as_micros() as u64,
        "request_id": r.request_id,
        "worker_pid": std::process::id(),
        "user_agent": r.user_agent.map(text),
        "referer": r.referer.map(text),
    });
    let mut line = value.to_string();
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record<'static> {
        Record {
            remote: "192.0.2.1",
            method: "GET",
            target: b"/a b?\"x\"",
            protocol: "HTTP/1.1",
            status: 200,
            bytes: 14,
            duration: Duration::from_micros(1234),
            request_id: 7,
            user_agent: Some(b"curl/8"),
            referer: None,
        }
    }

    #[test]
    fn combined_line() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            combined(&record(), t),
            "192.0.2.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /a b?\\\"x\\\" HTTP/1.1\" 200 14 \"-\" \"curl/8\"\n"
        );
        let mut r = record();
        r.bytes = 0;
        r.method = "";
        assert!(combined(&r, t).contains("\"-\" 200 - "));
    }

    #[test]
    fn json_line() {
        let t = UNIX_EPOCH + Duration::from_micros(784_111_777_000_123);
        let v: serde_json::Value = serde_json::from_str(&json(&record(), t)).unwrap();
        assert_eq!(v["time"], "1994-11-06T08:49:37.000123Z");
        assert_eq!(v["status"], 200);
        assert_eq!(v["duration_us"], 1234);
        assert_eq!(v["referer"], serde_json::Value::Null);
        assert_eq!(v["user_agent"], "curl/8");
    }
}
