"""The hello app for Waitress, byte-for-byte the same response as the hello fixture
(scripts/example-app hello): 200, Content-Type text/plain, Content-Length 14."""

BODY = b"Hello, world!\n"


def app(environ, start_response):
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))],
    )
    return [BODY]
