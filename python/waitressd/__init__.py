"""waitressd: Waitress's semantics, a pre-fork supervisor and a native engine.

Run a WSGI app as ``waitress-serve`` runs it::

    waitressd --listen 127.0.0.1:8080 myapp:wsgifunc

or from Python, as ``waitress.serve``::

    from waitressd import serve
    serve(app, listen="127.0.0.1:8080")

In a worker process, ``app_options`` holds the ``--app-opt KEY=VALUE`` pairs; it
is filled before the app is imported.
"""

from ._native import ClientDisconnected, FileWrapper, InputStream, __version__
from ._serve import serve, serve_paste

#: The ``--app-opt KEY=VALUE`` pairs, set in each worker before the app is imported.
app_options: dict = {}

__all__ = [
    "ClientDisconnected",
    "FileWrapper",
    "InputStream",
    "app_options",
    "serve",
    "serve_paste",
    "__version__",
]
