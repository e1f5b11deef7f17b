"""hello_wsgi: the one WSGI app that scripts/bench-wsgi.sh serves with every server.

    GET /     -> b"Hello, World!" (13 bytes, text/plain), returned as a one-item
                 list so that every server computes Content-Length itself.
    GET /big  -> a 1 MiB file, through environ["wsgi.file_wrapper"] (sendfile in
                 waitressd and gunicorn) with Content-Length set; a server without
                 a file wrapper (Granian) gets an iterator of 64 KiB reads.
    else      -> 404.

The 1 MiB file is $HELLO_WSGI_BIG_FILE; it is created (once, atomically) if it is
missing or has the wrong size. Without that variable it lives in the temp dir.
"""

import os
import tempfile

HELLO = b"Hello, World!"
BIG_SIZE = 1024 * 1024
BLOCK = 64 * 1024

BIG_FILE = os.environ.get("HELLO_WSGI_BIG_FILE") or os.path.join(
    tempfile.gettempdir(), "hello_wsgi_big.bin"
)


def _ensure_big_file(path=BIG_FILE, size=BIG_SIZE):
    try:
        if os.path.getsize(path) == size:
            return path
    except OSError:
        pass
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        # Not all zeros, so that nothing on the way can cheat by compressing it.
        f.write((bytes(range(256)) * (size // 256 + 1))[:size])
    os.replace(tmp, path)
    return path


_ensure_big_file()

_HELLO_HEADERS = [("Content-Type", "text/plain")]
_BIG_HEADERS = [
    ("Content-Type", "application/octet-stream"),
    ("Content-Length", str(BIG_SIZE)),
]
# Which way /big went out, for the benchmark's response check.
_BIG_VIA_WRAPPER = _BIG_HEADERS + [("X-Big-Body", "file_wrapper")]
_BIG_VIA_READS = _BIG_HEADERS + [("X-Big-Body", "64KiB-reads")]


def _read_blocks(f):
    try:
        while True:
            piece = f.read(BLOCK)
            if not piece:
                return
            yield piece
    finally:
        f.close()


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/":
        start_response("200 OK", _HELLO_HEADERS)
        return [HELLO]
    if path == "/big":
        f = open(BIG_FILE, "rb")
        wrapper = environ.get("wsgi.file_wrapper")
        if wrapper is not None:
            start_response("200 OK", _BIG_VIA_WRAPPER)
            return wrapper(f, BLOCK)
        start_response("200 OK", _BIG_VIA_READS)
        return _read_blocks(f)
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"Not Found"]


application = app
