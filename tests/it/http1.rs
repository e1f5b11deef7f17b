//! HTTP/1.x framing end to end: exact heads, keep-alive rules, pipelining order,
//! Expect: 100-continue, HEAD, chunked request and response bodies.
use crate::util::{each_twin, parse_all, read_one, read_response, Server};
use std::io::{BufReader, Write};

#[test]
fn echo_get_has_the_exact_waitress_head() {
    each_twin(|twin| {
        let s = Server::start_twin("echo_body_only", twin, &[]);
        let r = s.request(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Type: text/plain\r\nDate: <date>\r\nServer: waitress\r\n"
    );
        let date = r.header("date").unwrap();
        assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
    });
}

#[test]
fn echo_reports_the_request_environment() {
    each_twin(|twin| {
        let s = Server::start_twin("echo", twin, &[]);
        let r = s.request(
        b"POST /foo%20bar/baz?x=1&y=%41 HTTP/1.1\r\nHost: example.com:8080\r\nX-Foo: a\r\nX-Foo: b\r\nContent-Type: text/x\r\nContent-Length: 5\r\n\r\nhello",
    );
        assert_eq!(r.status, 200);
        let e = r.echo();
        assert_eq!(e["method"], "POST");
        assert_eq!(e["path_info"], "/foo bar/baz");
        assert_eq!(e["script_name"], "");
        assert_eq!(e["query_string"], "x=1&y=%41");
        assert_eq!(e["content_length"], "5");
        assert_eq!(e["scheme"], "http");
        assert_eq!(e["remote_addr"], "127.0.0.1");
        assert_eq!(e["remote_host"], "127.0.0.1");
        assert_eq!(e["headers"]["X_FOO"], "a, b");
        assert_eq!(e["headers"]["HOST"], "example.com:8080");
        assert!(e["headers"].get("CONTENT_TYPE").is_none());
        assert_eq!(r.echo_body(), b"hello");
    });
}

#[test]
fn url_prefix_moves_the_mount_point_to_script_name() {
    each_twin(|twin| {
        let s = Server::start_twin("echo", twin, &["--url-prefix", "/app/"]);
        let r = s.request(b"GET /app/x/y HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(r.echo()["script_name"], "/app");
        assert_eq!(r.echo()["path_info"], "/x/y");
        let r = s.request(b"GET /app HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(r.echo()["path_info"], "");
    });
}

#[test]
fn http11_keeps_alive_by_default_and_closes_on_request() {
    each_twin(|twin| {
        let s = Server::start_twin("echo_body_only", twin, &[]);
        let mut c = s.connect();
        let mut r = BufReader::new(c.try_clone().unwrap());
        for _ in 0..3 {
            c.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
            let resp = read_response(&mut r, false).unwrap();
            assert_eq!(resp.status, 200);
            assert!(resp.header("connection").is_none());
        }
        c.write_all(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, CLOSE\r\n\r\n")
            .unwrap();
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.header("connection"), Some("close"));
        assert!(read_one(&mut r, false).is_none(), "the server must close");
    });
}

#[test]
fn http10_closes_unless_keep_alive_is_asked_with_a_length() {
    each_twin(|twin| {
        let s = Server::start_twin("echo_body_only", twin, &[]);
        let raw = s.exchange(b"GET / HTTP/1.0\r\n\r\n");
        let rs = parse_all(&raw);
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].status_line, "HTTP/1.0 200 OK");
        assert_eq!(rs[0].header("connection"), Some("close"));

        let mut c = s.connect();
        let mut r = BufReader::new(c.try_clone().unwrap());
        for _ in 0..2 {
            c.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                .unwrap();
            let resp = read_response(&mut r, false).unwrap();
            assert_eq!(resp.header("connection"), Some("Keep-Alive"));
        }
    });
}

#[test]
fn pipelined_responses_come_back_in_order() {
    each_twin(|twin| {
        let s = Server::start_twin("echo", twin, &["--threads", "4"]);
        let mut raw = Vec::new();
        for i in 0..10 {
            raw.extend_from_slice(
                format!("POST /{i} HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n{i}").as_bytes(),
            );
        }
        raw.extend_from_slice(b"GET /last HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        let rs = parse_all(&s.exchange(&raw));
        assert_eq!(rs.len(), 11);
        for (i, r) in rs.iter().take(10).enumerate() {
            assert_eq!(r.echo()["path_info"], format!("/{i}"));
            assert_eq!(r.echo_body(), i.to_string().as_bytes());
        }
        assert_eq!(rs[10].echo()["path_info"], "/last");
    });
}

#[test]
fn expect_100_continue_gets_an_interim_response_before_the_body() {
    each_twin(|twin| {
        let s = Server::start_twin("echo_body_only", twin, &[]);
        let mut c = s.connect();
        c.write_all(
            b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
        )
        .unwrap();
        let mut r = BufReader::new(c.try_clone().unwrap());
        let interim = read_one(&mut r, false).unwrap();
        assert_eq!(interim.head, "HTTP/1.1 100 Continue\r\n\r\n");
        c.write_all(b"data").unwrap();
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.body, b"data");
    });
}

#[test]
fn expect_100_continue_is_answered_even_when_the_body_came_with_the_head() {
    each_twin(|twin| {
        let s = Server::start_twin("echo_body_only", twin, &[]);
        let mut c = s.connect();
        c.write_all(
            b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\ndata",
        )
        .unwrap();
        let mut r = BufReader::new(c.try_clone().unwrap());
        let interim = read_one(&mut r, false).unwrap();
        assert_eq!(interim.head, "HTTP/1.1 100 Continue\r\n\r\n");
        let resp = read_one(&mut r, false).unwrap();
        assert_eq!((resp.status, resp.body.as_slice()), (200, &b"data"[..]));
        assert!(!resp.closes(), "the connection stays open");
        // The next request on the connection gets its own interim response.
        c.write_all(
            b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
        )
        .unwrap();
        assert_eq!(read_one(&mut r, false).unwrap().status, 100);
        assert_eq!(read_one(&mut r, false).unwrap().body, b"x");
    });
}

#[test]
fn expect_with_an_oversized_body_gets_413_instead_of_continue() {
    each_twin(|twin| {
        let s = Server::start_twin("echo_body_only", twin, &["--max-request-body-size", "10"]);
        let raw = s.exchange(
            b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n",
        );
        let rs = parse_all(&raw);
        assert_eq!(rs.len(), 1, "{}", String::from_utf8_lossy(&raw));
        assert_eq!(rs[0].status, 413);
        assert!(rs[0].closes());
    });
}

#[test]
fn head_sends_the_get_headers_and_no_body() {
    each_twin(|twin| {
        let s = Server::start_twin("echo_body_only", twin, &[]);
        let raw = s.exchange(
        b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
        let text = String::from_utf8_lossy(&raw);
        let mut r = BufReader::new(raw.as_slice());
        let head = read_one(&mut r, true).unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-length"), Some("0"));
        let get = read_one(&mut r, false).unwrap();
        assert_eq!(get.status, 200, "{text}");
        assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2);
    });
}

#[test]
fn head_of_a_body_response_keeps_content_length_but_sends_no_body() {
    each_twin(|twin| {
        let s = Server::start_twin("toolarge", twin, &[]);
        let raw = s.exchange(b"HEAD / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        let text = String::from_utf8_lossy(&raw).into_owned();
        assert!(text.contains("Content-Length: 6\r\n"), "{text}");
        assert!(
            text.ends_with("\r\n\r\n"),
            "no body after a HEAD response: {text:?}"
        );
    });
}

#[test]
fn chunked_request_bodies_are_decoded() {
    each_twin(|twin| {
        let s = Server::start_twin("echo", twin, &[]);
        let r = s.request(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-A: x\r\n\r\n",
    );
        assert_eq!(r.status, 200);
        assert_eq!(r.echo_body(), b"hello world");
        assert_eq!(r.echo()["content_length"], "11");
    });
}

#[test]
fn chunked_response_keeps_the_connection_alive() {
    each_twin(|twin| {
        let s = Server::start_twin("nocl", twin, &[]);
        let mut c = s.connect();
        let mut r = BufReader::new(c.try_clone().unwrap());
        let body = b"0123456789abcdefghijklmnopqrstuvwxyz";
        for _ in 0..2 {
            c.write_all(
                format!(
                    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            )
            .unwrap();
            c.write_all(body).unwrap();
            let resp = read_response(&mut r, false).unwrap();
            assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
            assert_eq!(resp.chunks, vec![10, 10, 10, 6]);
            assert_eq!(resp.body, body);
            assert!(resp.header("connection").is_none());
        }
    });
}

#[test]
fn http10_response_without_length_is_close_delimited() {
    each_twin(|twin| {
        let s = Server::start_twin("nocl", twin, &[]);
        let raw = s.exchange(b"POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
        let text = String::from_utf8_lossy(&raw).into_owned();
        assert!(text.starts_with("HTTP/1.0 200 OK\r\n"), "{text}");
        assert!(text.contains("Connection: close\r\n"));
        assert!(!text.contains("Transfer-Encoding"));
        assert!(text.ends_with("\r\n\r\nabc"), "{text:?}");
    });
}

#[test]
fn a_final_write_sets_content_length() {
    each_twin(|twin| {
        let s = Server::start_twin("nocl", twin, &[]);
        let r = s.request(b"POST /list HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!(r.header("content-length"), Some("5"));
        assert!(r.header("transfer-encoding").is_none());
        assert_eq!(r.body, b"hello");
    });
}

/// A 1 MiB Content-Length body is written from the app's own buffer when the app
/// thread owns the connection's output (no copy): what the socket does not take at
/// once is queued and must follow in order, for a reader that reads at once and for
/// one that lets the socket fill first, with pipelined requests behind it.
#[test]
fn a_large_body_written_through_arrives_whole_and_in_order() {
    let s = Server::start("bench", &[]);
    let expected: Vec<u8> = (0..1usize << 20).map(|i| b'a' + (i % 26) as u8).collect();
    for slow in [false, true] {
        let mut c = s.connect();
        c.write_all(
            b"GET /big HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\nGET /big HTTP/1.1\r\nHost: h\r\n\r\n",
        )
        .unwrap();
        if slow {
            // The socket's buffers fill; the rest of the first body waits queued.
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        let mut r = BufReader::new(c);
        for (path, body) in [
            ("/big", &expected[..]),
            ("/", b"Hello, World!"),
            ("/big", &expected[..]),
        ] {
            let resp =
                read_response(&mut r, false).unwrap_or_else(|| panic!("no response for {path}"));
            assert_eq!(resp.status, 200, "{path} (slow reader: {slow})");
            assert_eq!(
                resp.header("content-length"),
                Some(body.len().to_string().as_str())
            );
            assert!(
                resp.body == body,
                "{path}: the body differs (slow reader: {slow})"
            );
        }
    }
}
