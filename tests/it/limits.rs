//! Limits and buffers with Waitress's names: max_request_header_size (431),
//! max_request_body_size (413), inbuf_overflow (bodies spill to disk),
//! outbuf_high_watermark (backpressure), connection_limit, channel_timeout.
use crate::util::{each_twin, parse_all, read_response, Server};
use std::io::{BufReader, Read, Write};
use std::time::Duration;

#[test]
fn an_oversized_head_gets_431() {
    each_twin(|twin| {
        let s = Server::start_twin(
            "echo_body_only",
            twin,
            &["--max-request-header-size", "1024"],
        );
        let big = "a".repeat(2000);
        let raw =
            s.exchange(format!("GET / HTTP/1.1\r\nHost: h\r\nX-Big: {big}\r\n\r\n").as_bytes());
        let rs = parse_all(&raw);
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].status, 431);
        assert!(rs[0].closes());
    });
}

#[test]
fn an_oversized_body_gets_413_whether_declared_or_chunked() {
    each_twin(|twin| {
        let s = Server::start_twin("echo_body_only", twin, &["--max-request-body-size", "10"]);
        let raw =
            s.exchange(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n01234567890");
        assert_eq!(parse_all(&raw)[0].status, 413);
        let raw = s.exchange(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n6\r\n012345\r\n0\r\n\r\n",
    );
        let rs = parse_all(&raw);
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].status, 413);
        assert!(rs[0].closes());
        // Exactly at the limit is fine.
        let r = s.request(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789");
        assert_eq!(r.body, b"0123456789");
    });
}

/// A 100 MiB upload goes to an unlinked temp file past inbuf_overflow: the worker's
/// peak RSS grows by far less than the body.
#[test]
fn a_100_mib_upload_spills_to_disk_without_rss_growth() {
    let s = Server::start("bodylen", &[]);
    let (_, peak_before) = s.rss_kib();
    let mut c = s.connect();
    let total: usize = 100 << 20;
    c.write_all(
        format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {total}\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let block = vec![b'z'; 1 << 20];
    for _ in 0..100 {
        c.write_all(&block).unwrap();
    }
    let mut r = BufReader::new(c);
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.body_str(), total.to_string());
    let (_, peak_after) = s.rss_kib();
    let growth_mib = peak_after.saturating_sub(peak_before) / 1024;
    eprintln!("100 MiB upload: worker peak RSS {peak_before} KiB -> {peak_after} KiB");
    assert!(
        growth_mib < 20,
        "peak RSS grew by {growth_mib} MiB for a 100 MiB upload"
    );
}

/// A client that reads a 200 MiB streamed response slowly makes the app's writes
/// block at the high watermark; output past outbuf_overflow waits on disk.
#[test]
fn a_slow_reader_of_200_mib_does_not_grow_the_worker() {
    let s = Server::start("stream", &[]);
    let (_, peak_before) = s.rss_kib();
    let total: u64 = 200 << 20;
    let mut c = s.connect();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    c.write_all(
        format!(
            "GET /bytes?n={total}&chunk=65536 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got: u64 = 0;
    // Slow phase: trickle for a while so the app outruns the socket.
    for _ in 0..40 {
        got += c.read(&mut buf).unwrap() as u64;
        std::thread::sleep(Duration::from_millis(10));
    }
    let (_, peak_slow) = s.rss_kib();
    loop {
        let n = c.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    assert!(
        got > total,
        "head + chunk framing + {total} body bytes, got {got}"
    );
    let (_, peak_after) = s.rss_kib();
    let growth_mib = peak_after.max(peak_slow).saturating_sub(peak_before) / 1024;
    eprintln!(
        "200 MiB to a slow reader: worker peak RSS {peak_before} KiB -> {} KiB",
        peak_after.max(peak_slow)
    );
    assert!(
        growth_mib < 40,
        "peak RSS grew by {growth_mib} MiB for a 200 MiB response"
    );
}

#[test]
fn connection_limit_stops_accepting_until_a_connection_closes() {
    each_twin(|twin| {
        let s = Server::start_twin("echo_body_only", twin, &["--connection-limit", "2"]);
        let a = s.connect();
        let b = s.connect();
        // Let the server accept both before the third arrives.
        std::thread::sleep(Duration::from_millis(200));
        let mut c = s.connect();
        c.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        c.set_nonblocking(true).unwrap();
        let mut probe = [0u8; 1];
        assert_eq!(
            c.peek(&mut probe).map_err(|e| e.kind()),
            Err(std::io::ErrorKind::WouldBlock),
            "the third connection must wait while two are open"
        );
        c.set_nonblocking(false).unwrap();
        drop(a);
        let mut r = BufReader::new(c);
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.status, 200);
        drop(b);
    });
}

#[test]
fn channel_timeout_closes_idle_connections() {
    let s = Server::start(
        "echo_body_only",
        &["--channel-timeout", "1", "--cleanup-interval", "1"],
    );
    let mut c = s.connect();
    c.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut buf = [0u8; 16];
    let n = r.read(&mut buf).expect("EOF, not a read timeout");
    assert_eq!(n, 0, "the idle connection is closed by the server");
    assert!(s.wait_for_log("timed out", Duration::from_secs(2)));
}
