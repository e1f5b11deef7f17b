"""Real frameworks (Flask, Django) on waitressd, driven by real clients (requests, httpx).

The apps are in tests/fixtures/python/frameworks; the servers are started by the
fixtures in conftest.py. Status lines, headers and bodies are asserted exactly: every
response header but Date is listed, and Date is checked to be a current HTTP date.
"""

from __future__ import annotations

import concurrent.futures
import email.utils
import hashlib
import http.client
import json
import time
from dataclasses import dataclass

import httpx
import pytest
import requests

from conftest import DOWNLOAD_SIZE, download_bytes

SERVER = "waitress"  # Waitress's ident: the Server header and SERVER_SOFTWARE

# Pages produced by the frameworks themselves (Werkzeug 3.1.9, Django 5.2.19).
WERKZEUG_404 = (
    b"<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
    b"<p>The requested URL was not found on the server. If you entered the URL manually "
    b"please check your spelling and try again.</p>\n"
)
WERKZEUG_500 = (
    b"<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
    b"<h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was "
    b"unable to complete your request. Either the server is overloaded or there is an error "
    b"in the application.</p>\n"
)
WERKZEUG_418 = (
    b"<!doctype html>\n<html lang=en>\n<title>418 I&#39;m a teapot</title>\n"
    b"<h1>I&#39;m a teapot</h1>\n<p>This server is a teapot, not a coffee machine</p>\n"
)


def django_page(title: str, details: str = "") -> bytes:
    """django.views.defaults.ERROR_PAGE_TEMPLATE, as rendered without templates."""
    return (
        f'\n<!doctype html>\n<html lang="en">\n<head>\n  <title>{title}</title>\n</head>\n'
        f"<body>\n  <h1>{title}</h1><p>{details}</p>\n</body>\n</html>\n"
    ).encode()


DJANGO_404 = django_page("Not Found", "The requested resource was not found on this server.")
DJANGO_500 = django_page("Server Error (500)")
DJANGO_400 = django_page("Bad Request (400)")

# What Django's SecurityMiddleware adds to every response it sees.
DJANGO_SECURITY = {
    "cross-origin-opener-policy": "same-origin",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
OCTETS = "application/octet-stream"


# --- a common view of both clients' responses -----------------------------------


@dataclass
class Reply:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]  # (lower-case name, value), as received
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name]
        assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None

    def json(self):
        return json.loads(self.body)


class Client:
    """requests or httpx behind one interface; ``content=`` is the raw request body."""

    def __init__(self, kind: str, base_url: str):
        self.kind = kind
        self.base_url = base_url
        if kind == "requests":
            self.session = requests.Session()
        else:
            self.http = httpx.Client(base_url=base_url, timeout=20.0)

    def close(self):
        if self.kind == "requests":
            self.session.close()
        else:
            self.http.close()

    def request(self, method, path, *, content=None, **kwargs) -> Reply:
        if self.kind == "requests":
            if content is not None:
                kwargs["data"] = content
            r = self.session.request(
                method, self.base_url + path, timeout=20, allow_redirects=False, **kwargs
            )
            version = {10: "HTTP/1.0", 11: "HTTP/1.1"}[r.raw.version]
            headers = [(k.lower(), v) for k, v in r.raw.headers.items()]
            return Reply(version, r.status_code, r.reason, headers, r.content)
        if content is not None:
            kwargs["content"] = content
        r = self.http.request(method, path, follow_redirects=False, **kwargs)
        return Reply(r.http_version, r.status_code, r.reason_phrase, list(r.headers.multi_items()), r.content)

    def get(self, path, **kwargs) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs) -> Reply:
        return self.request("POST", path, **kwargs)


def assert_reply(reply: Reply, status: int, reason: str, headers: dict[str, str], body: bytes | None = None):
    """The status line, every header (Date checked apart) and the body, exactly."""
    assert (reply.version, reply.status, reply.reason) == ("HTTP/1.1", status, reason)
    names = [k for k, _ in reply.headers]
    assert len(names) == len(set(names)), f"a header is repeated: {reply.headers}"
    got = dict(reply.headers)
    date = got.pop("date", None)
    assert date is not None, "no Date header"
    parsed = email.utils.parsedate_to_datetime(date)
    assert date.endswith(" GMT") and abs(parsed.timestamp() - time.time()) < 120, date
    assert got == {**headers, "server": SERVER}
    if body is not None:
        assert reply.body == body


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload_chunks() -> list[bytes]:
    """A request body sent as several chunks of uneven sizes (about 300 KB)."""
    return [bytes([i % 251]) * (1000 * i + 7) for i in range(1, 25)]


@pytest.fixture(params=["requests", "httpx"])
def client_kind(request) -> str:
    return request.param


@pytest.fixture
def flask(flask_server, client_kind):
    client = Client(client_kind, flask_server.base_url)
    yield client
    client.close()


@pytest.fixture
def django(django_server, client_kind):
    client = Client(client_kind, django_server.base_url)
    yield client
    client.close()


# --- Flask --------------------------------------------------------------------------


def test_flask_index(flask):
    r = flask.get("/")
    assert_reply(
        r, 200, "OK", {"content-length": "30", "content-type": TEXT}, b"Hello from Flask on waitressd\n"
    )


def test_flask_routing(flask):
    # A non-ASCII path segment: PATH_INFO is latin-1-decoded bytes, as PEP 3333 says,
    # and Werkzeug re-decodes it as UTF-8.
    r = flask.get("/hello/w%C3%B6rld")
    body = "Hello, wörld!".encode()
    assert_reply(r, 200, "OK", {"content-length": str(len(body)), "content-type": HTML}, body)

    r = flask.get("/items/21")
    body = b'{"double":42,"id":21}\n'
    assert_reply(r, 200, "OK", {"content-length": str(len(body)), "content-type": JSON}, body)

    r = flask.get("/items/twenty-one")  # the int converter does not match
    assert_reply(r, 404, "NOT FOUND", {"content-length": str(len(WERKZEUG_404)), "content-type": HTML}, WERKZEUG_404)


def test_flask_method_not_allowed(flask):
    r = flask.get("/form")
    assert r.status == 405 and r.reason == "METHOD NOT ALLOWED"
    # Werkzeug builds Allow from a set: its order is not fixed.
    assert sorted(r.header("allow").split(", ")) == ["OPTIONS", "POST"]
    assert b"<title>405 Method Not Allowed</title>" in r.body


def test_flask_form_post(flask):
    r = flask.post("/form", data={"name": "Ada Lovelace", "lang": ["py", "rs"], "note": "a&b=c ü"})
    body = "lang=py\nlang=rs\nname=Ada Lovelace\nnote=a&b=c ü\n".encode()
    assert_reply(r, 200, "OK", {"content-length": str(len(body)), "content-type": TEXT}, body)


def test_flask_json(flask):
    r = flask.post("/json", json={"b": [1, 2, {"c": None}], "a": "ü", "n": 1.5})
    body = '{"keys":["a","b","n"],"method":"POST","received":{"a":"\\u00fc","b":[1,2,{"c":null}],"n":1.5}}\n'
    assert_reply(r, 200, "OK", {"content-length": str(len(body)), "content-type": JSON}, body.encode())
    assert r.json()["received"] == {"b": [1, 2, {"c": None}], "a": "ü", "n": 1.5}


def test_flask_json_bad_request(flask):
    # get_json() on a body that is not JSON: Werkzeug's 400 page.
    r = flask.post("/json", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status == 400 and r.reason == "BAD REQUEST"
    assert b"<title>400 Bad Request</title>" in r.body
    assert r.header("content-length") == str(len(r.body))


def test_flask_send_file(flask, download_file):
    r = flask.get("/download")
    data = download_bytes()
    headers = dict(r.headers)
    etag, last_modified = headers.get("etag"), headers.get("last-modified")
    assert etag and etag.startswith('"') and etag.endswith('"'), etag
    assert last_modified == email.utils.formatdate(int(download_file.stat().st_mtime), usegmt=True)
    assert_reply(
        r,
        200,
        "OK",
        {
            "accept-ranges": "bytes",
            "cache-control": "no-cache",
            "content-disposition": "inline; filename=payload.bin",
            "content-length": str(DOWNLOAD_SIZE),
            "content-type": OCTETS,
            "etag": etag,
            "last-modified": last_modified,
            # Werkzeug handed the server its own environ["wsgi.file_wrapper"].
            "x-body-type": "waitressd.FileWrapper",
        },
    )
    assert len(r.body) == DOWNLOAD_SIZE
    assert r.body == data

    # The same file again, conditional on its ETag: Werkzeug answers 304, no body.
    r = flask.get("/download", headers={"If-None-Match": etag})
    assert r.status == 304 and r.reason == "NOT MODIFIED"
    assert r.body == b""
    assert r.header("etag") == etag


def test_flask_send_file_head(flask):
    r = flask.request("HEAD", "/download")
    assert (r.status, r.reason) == (200, "OK")
    assert r.header("content-length") == str(DOWNLOAD_SIZE)
    assert r.header("x-body-type") == "waitressd.FileWrapper"
    assert r.body == b""


def one_connection(server, steps):
    """Send ``steps`` [(method, path, headers, body, status, body or None)] on ONE
    keep-alive connection (http.client never reconnects by itself): a server that
    closes the connection after a response makes the next request fail."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    try:
        conn.connect()
        sock = conn.sock
        for i, (method, path, headers, body, status, expected) in enumerate(steps):
            try:
                conn.request(method, path, body=body, headers=headers or {})
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.HTTPException, OSError) as exc:
                done = [f"{m} {p}" for m, p, *_ in steps[:i]]
                raise AssertionError(
                    f"{method} {path} failed on the kept-alive connection after {done}: {exc!r}"
                ) from exc
            assert resp.status == status, (method, path, resp.status)
            assert resp.getheader("Connection") is None, (method, path, resp.getheaders())
            if expected is not None:
                assert data == expected, (method, path)
            assert conn.sock is sock, f"{method} {path}: the client had to reconnect"
    finally:
        conn.close()


def test_flask_keep_alive_across_responses(flask_server):
    one_connection(
        flask_server,
        [
            ("GET", "/", None, None, 200, b"Hello from Flask on waitressd\n"),
            ("GET", "/no/such/route", None, None, 404, WERKZEUG_404),
            ("GET", "/boom", None, None, 500, WERKZEUG_500),
            ("GET", "/teapot", None, None, 418, WERKZEUG_418),
            ("GET", "/stream", None, None, 200, stream_body("chunk", "/stream")),
            ("GET", "/download", None, None, 200, download_bytes()),
            ("POST", "/upload", {"Content-Type": OCTETS}, iter([b"ab", b"cd"]), 200, None),
            ("GET", "/", None, None, 200, b"Hello from Flask on waitressd\n"),
        ],
    )


@pytest.mark.parametrize("path", ["/", "/download"])
def test_flask_keep_alive_after_head(flask_server, path):
    # Werkzeug answers HEAD with the GET's headers (Content-Length included) and an
    # empty body; under Waitress the connection stays open for the next request.
    one_connection(
        flask_server,
        [
            ("HEAD", path, None, None, 200, b""),
            ("GET", "/", None, None, 200, b"Hello from Flask on waitressd\n"),
        ],
    )


@pytest.mark.parametrize(
    "range_header, start, stop",
    [
        ("bytes=100-199", 100, 200),
        ("bytes=-10", DOWNLOAD_SIZE - 10, DOWNLOAD_SIZE),
        ("bytes=1048570-", 1048570, DOWNLOAD_SIZE),
    ],
)
def test_flask_send_file_range(flask, range_header, start, stop):
    r = flask.get("/download", headers={"Range": range_header})
    assert (r.version, r.status, r.reason) == ("HTTP/1.1", 206, "PARTIAL CONTENT")
    assert r.header("content-range") == f"bytes {start}-{stop - 1}/{DOWNLOAD_SIZE}"
    assert r.header("content-length") == str(stop - start)
    assert r.body == download_bytes()[start:stop]


def test_flask_send_file_attachment(flask):
    r = flask.get("/download/attachment")
    etag = r.header("etag")
    assert_reply(
        r,
        200,
        "OK",
        {
            "accept-ranges": "bytes",
            "cache-control": "no-cache",
            "content-disposition": "attachment; filename=report.bin",
            "content-length": str(DOWNLOAD_SIZE),
            "content-type": OCTETS,
            "etag": etag,
            "last-modified": r.header("last-modified"),
        },
        download_bytes(),
    )


def stream_body(prefix: str, path: str) -> bytes:
    return "".join(f"{prefix}-{i}:{path}\n" for i in range(5)).encode()


def test_flask_stream_requests(flask_server):
    with requests.get(flask_server.base_url + "/stream?prefix=part", stream=True, timeout=20) as r:
        assert (r.raw.version, r.status_code, r.reason) == (11, 200, "OK")
        assert r.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in r.headers
        assert r.headers["Content-Type"] == TEXT
        # urllib3 yields the body chunk by chunk as framed on the wire: as under
        # Waitress, each item the generator yielded is one chunk.
        pieces = list(r.raw.read_chunked())
    assert pieces == [f"part-{i}:/stream\n".encode() for i in range(5)]


def test_flask_stream_httpx(flask_server):
    with httpx.Client(base_url=flask_server.base_url, timeout=20) as c:
        with c.stream("GET", "/stream/plain") as r:
            assert (r.http_version, r.status_code) == ("HTTP/1.1", 200)
            assert r.headers["transfer-encoding"] == "chunked"
            assert "content-length" not in r.headers
            body = b"".join(r.iter_bytes())
        expected = b"".join(("x" * 1000 + f"|{i}\n").encode() for i in range(5))
        assert body == expected
        # The connection is reused after the chunked response.
        r = c.get("/stream?prefix=again")
        assert r.content == stream_body("again", "/stream")


def test_flask_stream_exact_headers(flask):
    r = flask.get("/stream")
    assert_reply(r, 200, "OK", {"content-type": TEXT, "transfer-encoding": "chunked"}, stream_body("chunk", "/stream"))


def test_flask_chunked_upload(flask):
    chunks = upload_chunks()
    data = b"".join(chunks)
    # A generator: both clients send it with Transfer-Encoding: chunked.
    r = flask.post("/upload", content=(c for c in chunks), headers={"Content-Type": OCTETS})
    assert (r.status, r.reason) == (200, "OK")
    # Werkzeug read the whole body (it needs wsgi.input_terminated for that); as under
    # Waitress, the app sees the de-chunked length as CONTENT_LENGTH.
    got = r.json()
    assert (got["length"], got["sha256"], got["content_length"]) == (len(data), sha(data), str(len(data)))


def test_flask_chunked_upload_no_transfer_encoding_in_environ(flask):
    # Waitress pops Transfer-Encoding from a request whose body it de-chunked
    # (parser.py: "downstream clients should not see the HTTP_TRANSFER_ENCODING
    # header"): the app sees a plain body with a CONTENT_LENGTH.
    r = flask.post("/upload", content=iter([b"abc", b"defg"]), headers={"Content-Type": OCTETS})
    assert r.json() == {
        "length": 7,
        "sha256": sha(b"abcdefg"),
        "content_length": "7",
        "transfer_encoding": None,
    }


def test_flask_sized_upload(flask):
    data = download_bytes(200_003)
    r = flask.post("/upload", content=data, headers={"Content-Type": OCTETS})
    assert r.json() == {
        "length": len(data),
        "sha256": sha(data),
        "content_length": str(len(data)),
        "transfer_encoding": None,
    }


def test_flask_multipart_upload(flask):
    payload = download_bytes(70_001)
    r = flask.post(
        "/upload/multipart",
        data={"field": "value ü"},
        files={"file": ("data.bin", payload, OCTETS)},
    )
    assert (r.status, r.reason) == (200, "OK")
    assert r.json() == {
        "field": "value ü",
        "filename": "data.bin",
        "content_type": OCTETS,
        "length": len(payload),
        "sha256": sha(payload),
    }


def test_flask_404(flask):
    r = flask.get("/no/such/route")
    assert_reply(r, 404, "NOT FOUND", {"content-length": str(len(WERKZEUG_404)), "content-type": HTML}, WERKZEUG_404)


def test_flask_500_from_flask(flask, flask_server):
    r = flask.get("/boom")
    # Flask caught the exception and rendered its own page: the server saw a normal
    # 500 response (the body is Werkzeug's, not the server's).
    assert_reply(r, 500, "INTERNAL SERVER ERROR", {"content-length": str(len(WERKZEUG_500)), "content-type": HTML}, WERKZEUG_500)
    flask_server.wait_log(r"Exception on /boom \[GET\]")
    flask_server.wait_log(r"RuntimeError: flaskapp boom")
    # The same connection serves the next request.
    assert flask.get("/").status == 200


def test_flask_abort_418(flask):
    r = flask.get("/teapot")
    assert_reply(r, 418, "I'M A TEAPOT", {"content-length": str(len(WERKZEUG_418)), "content-type": HTML}, WERKZEUG_418)


def test_flask_environ_one_worker(flask, flask_server):
    r = flask.get("/environ")
    assert r.status == 200
    info = r.json()
    assert info["pid"] in flask_server.ready_pids()
    info.pop("pid")
    assert info == {
        "multiprocess": False,
        "multithread": True,
        "run_once": False,
        "version": [1, 0],
        "url_scheme": "http",
        "input_terminated": True,
        "file_wrapper": "waitressd.FileWrapper",
        "server_software": SERVER,
    }


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        return int(f.read().rsplit(")", 1)[1].split()[1])


def test_flask_two_workers(flask_server_2w, client_kind):
    pids = flask_server_2w.ready_pids()
    assert len(set(pids)) == 2, flask_server_2w.log_text()
    assert all(_ppid(pid) == flask_server_2w.pid for pid in pids)

    def fetch(i):
        # A fresh connection each time, so the kernel may hand it to either worker.
        client = Client(client_kind, flask_server_2w.base_url)
        try:
            environ = client.get("/environ").json()
            hello = client.get(f"/hello/n{i}")
            return environ, hello
        finally:
            client.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(fetch, range(24)))
    for i, (environ, hello) in enumerate(results):
        assert environ["pid"] in pids
        assert environ["multiprocess"] is True
        assert environ["multithread"] is True
        assert (hello.status, hello.body) == (200, f"Hello, n{i}!".encode())


# --- Django -------------------------------------------------------------------------


def dj(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, **DJANGO_SECURITY}


def test_django_index(django):
    r = django.get("/")
    body = b"Hello from Django on waitressd\n"
    assert_reply(r, 200, "OK", dj({"content-length": str(len(body)), "content-type": "text/plain"}), body)


def test_django_routing(django):
    r = django.get("/hello/w%C3%B6rld/")
    body = "Hello, wörld!".encode()
    assert_reply(r, 200, "OK", dj({"content-length": str(len(body)), "content-type": TEXT}), body)

    r = django.get("/items/21/")
    body = b'{"id": 21, "double": 42}'
    assert_reply(r, 200, "OK", dj({"content-length": str(len(body)), "content-type": JSON}), body)

    r = django.get("/items/twenty-one/")
    assert_reply(r, 404, "Not Found", dj({"content-length": str(len(DJANGO_404)), "content-type": HTML}), DJANGO_404)


def test_django_append_slash_redirect(django):
    r = django.get("/hello/w%C3%B6rld?x=1")
    # CommonMiddleware's redirect carries no Content-Length and an empty body (an
    # iterable without len()): waitressd frames it with Content-Length: 0 where Waitress
    # sends an empty chunked body and closes (a deliberate difference, see
    # tests/fixtures/python/README.md).
    assert_reply(
        r,
        301,
        "Moved Permanently",
        dj({"content-length": "0", "content-type": HTML, "location": "/hello/w%C3%B6rld/?x=1"}),
        b"",
    )


def test_django_form_post(django):
    r = django.post("/form/", data={"name": "Ada Lovelace", "lang": ["py", "rs"], "note": "a&b=c ü"})
    body = "lang=py\nlang=rs\nname=Ada Lovelace\nnote=a&b=c ü\n".encode()
    assert_reply(r, 200, "OK", dj({"content-length": str(len(body)), "content-type": "text/plain"}), body)


def test_django_csrf_protected(django, django_server):
    r = django.post("/protected/", data={"a": "b"})
    assert (r.status, r.reason) == (403, "Forbidden")
    assert b"<title>403 Forbidden</title>" in r.body
    assert b"CSRF verification failed. Request aborted." in r.body
    assert r.header("content-length") == str(len(r.body))
    django_server.wait_log(r"Forbidden \(CSRF cookie not set\.\): /protected/")


def test_django_json(django):
    r = django.post("/json/", json={"b": [1, 2, {"c": None}], "a": "ü"})
    body = b'{"received": {"b": [1, 2, {"c": null}], "a": "\\u00fc"}, "keys": ["a", "b"], "method": "POST"}'
    assert_reply(r, 200, "OK", dj({"content-length": str(len(body)), "content-type": JSON}), body)


def test_django_file_response(django):
    r = django.get("/download/")
    assert_reply(
        r,
        200,
        "OK",
        dj(
            {
                "content-disposition": 'attachment; filename="report.bin"',
                "content-length": str(DOWNLOAD_SIZE),
                "content-type": OCTETS,
            }
        ),
    )
    assert r.body == download_bytes()


def test_django_file_wrapper_in_environ(django):
    r = django.get("/environ/")
    info = r.json()
    assert (info["multiprocess"], info["multithread"], info["file_wrapper"]) == (
        False,
        True,
        "waitressd.FileWrapper",
    )


def test_django_streaming_response(django, django_server):
    r = django.get("/stream/?prefix=dj")
    assert_reply(
        r, 200, "OK", dj({"content-type": "text/plain", "transfer-encoding": "chunked"}), stream_body("dj", "/stream/")
    )
    with requests.get(django_server.base_url + "/stream/", stream=True, timeout=20) as resp:
        assert resp.headers["Transfer-Encoding"] == "chunked"
        assert list(resp.raw.read_chunked()) == [f"chunk-{i}:/stream/\n".encode() for i in range(5)]


def test_django_chunked_upload(django):
    chunks = upload_chunks()
    data = b"".join(chunks)
    r = django.post("/upload/", content=(c for c in chunks), headers={"Content-Type": OCTETS})
    assert (r.status, r.reason) == (200, "OK")
    got = r.json()
    # Django reads request.body up to CONTENT_LENGTH only (it ignores
    # wsgi.input_terminated): it works because the server, as Waitress does, gives a
    # de-chunked body its length.
    assert (got["length"], got["sha256"], got["content_length"]) == (len(data), sha(data), str(len(data)))


def test_django_chunked_upload_no_transfer_encoding_in_environ(django):
    # As test_flask_chunked_upload_no_transfer_encoding_in_environ: request.META has
    # no HTTP_TRANSFER_ENCODING under Waitress.
    r = django.post("/upload/", content=iter([b"abc", b"defg"]), headers={"Content-Type": OCTETS})
    assert r.json() == {
        "length": 7,
        "sha256": sha(b"abcdefg"),
        "content_length": "7",
        "transfer_encoding": None,
    }


def test_django_multipart_upload(django):
    payload = download_bytes(70_001)
    r = django.post(
        "/upload/multipart/",
        data={"field": "value ü"},
        files={"file": ("data.bin", payload, OCTETS)},
    )
    assert (r.status, r.reason) == (200, "OK")
    assert r.json() == {
        "field": "value ü",
        "filename": "data.bin",
        "content_type": OCTETS,
        "length": len(payload),
        "sha256": sha(payload),
    }


def test_django_sqlite(django):
    # sqlite3 imported and used inside the worker.
    for _ in range(3):
        r = django.get("/db/")
        body = b'{"answer": 42, "vendor": "sqlite", "sqlite": true}'
        assert_reply(r, 200, "OK", dj({"content-length": str(len(body)), "content-type": JSON}), body)


def test_django_404(django, django_server):
    r = django.get("/no/such/page/")
    assert_reply(r, 404, "Not Found", dj({"content-length": str(len(DJANGO_404)), "content-type": HTML}), DJANGO_404)
    django_server.wait_log(r"Not Found: /no/such/page/")


def test_django_500(django, django_server):
    r = django.get("/boom/")
    assert_reply(
        r, 500, "Internal Server Error", dj({"content-length": str(len(DJANGO_500)), "content-type": HTML}), DJANGO_500
    )
    django_server.wait_log(r"RuntimeError: djproject boom")
    assert django.get("/").status == 200


def test_django_head(django, django_server):
    # Django returns the body for HEAD too: the server must not send it.
    r = django.request("HEAD", "/")
    assert_reply(r, 200, "OK", dj({"content-length": "31", "content-type": "text/plain"}), b"")
    one_connection(
        django_server,
        [
            ("HEAD", "/", None, None, 200, b""),
            ("GET", "/", None, None, 200, b"Hello from Django on waitressd\n"),
        ],
    )


def test_django_keep_alive_across_responses(django_server):
    one_connection(
        django_server,
        [
            ("GET", "/", None, None, 200, b"Hello from Django on waitressd\n"),
            ("GET", "/no/such/page/", None, None, 404, DJANGO_404),
            ("GET", "/boom/", None, None, 500, DJANGO_500),
            ("GET", "/stream/", None, None, 200, stream_body("chunk", "/stream/")),
            ("GET", "/download/", None, None, 200, download_bytes()),
            ("POST", "/upload/", {"Content-Type": OCTETS}, iter([b"ab", b"cd"]), 200, None),
            ("GET", "/", None, None, 200, b"Hello from Django on waitressd\n"),
        ],
    )


def test_django_disallowed_host(django):
    r = django.get("/", headers={"Host": "evil.example"})
    # The exception is raised inside CommonMiddleware, so no Content-Length was set
    # and the server frames Django's 400 page itself.
    assert_reply(r, 400, "Bad Request", dj({"content-type": HTML, "transfer-encoding": "chunked"}), DJANGO_400)
