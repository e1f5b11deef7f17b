"""The quick start's WSGI app: `waitressd --listen 127.0.0.1:8080 myapp:app`, run
from this directory (the current directory is importable, as with waitress-serve)."""


def app(environ, start_response):
    name = environ.get("QUERY_STRING") or "world"
    body = f"Hello, {name}! (served by {environ['SERVER_SOFTWARE']})\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [body]
