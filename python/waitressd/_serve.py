"""``serve(app, **kw)`` and ``serve_paste(app, global_conf, **kw)``: Waitress's
Python API, on waitressd.

Keywords are Waitress's adjustments (plus waitressd's own, such as ``workers``),
read as Waitress reads them (``"8"`` or ``8``, ``"true"`` or ``True``, a list or a
space-separated string) and then validated by the same code as ``--config`` files;
which keywords exist and their kinds come from the server's settings table.
"""

import gc
import logging
import threading

from . import _native

#: keyword -> kind ("int", "bool", "list", "octal", "keyvalues", "text")
KEYWORDS = dict(_native.keywords())


def _as_text(key, kind, value):
    """One keyword's value as the string a config file would hold (None: unset)."""
    if value is None:
        return None
    if kind == "bool":
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    if kind == "list":
        if isinstance(value, str):
            return value
        return " ".join(str(v) for v in value)
    if kind == "keyvalues":
        if isinstance(value, dict):
            return " ".join(f"{k}={v}" for k, v in value.items())
        if isinstance(value, str):
            return value
        return " ".join(str(v) for v in value)
    if kind == "octal" and isinstance(value, int) and not isinstance(value, bool):
        return format(value, "o")
    return str(value)


def settings(kw):
    """Waitress's checks and coercions: the keywords as [(name, string)]."""
    for key in kw:
        if key == "sockets":
            raise ValueError(
                "'sockets' (pre-bound sockets) is not supported by waitressd: "
                "use systemd socket activation (LISTEN_FDS) instead"
            )
        if key not in KEYWORDS:
            raise ValueError(f"Unknown adjustment {key!r}")
    # Waitress's Adjustments.__init__ refuses these combinations, in its words.
    if "listen" in kw and ("host" in kw or "port" in kw):
        raise ValueError("host or port may not be set if listen is set.")
    if "unix_socket" in kw and ("host" in kw or "port" in kw):
        raise ValueError("unix_socket may not be set if host or port is set")
    if "unix_socket" in kw and "listen" in kw:
        raise ValueError("unix_socket may not be set if listen is set")
    pairs = []
    for key, value in kw.items():
        text = _as_text(key, KEYWORDS[key], value)
        if text is not None:
            pairs.append((key, text))
    return pairs


def effective(**kw):
    """The configuration ``serve(app, **kw)`` would use, as ``--check-config``
    reports it (a dict); raises ValueError as ``serve`` would."""
    import json

    return json.loads(_native.check_settings(settings(kw)))


def serve(app, **kw):
    """Serve the WSGI ``app`` until Ctrl-C or TERM, as ``waitress.serve`` does.

    With ``workers=1`` (the default) it serves in this process; with more it forks
    the workers from this process, which already holds ``app``: a reload (SIGHUP to
    this process) restarts the workers but cannot re-import the app — run
    ``waitressd module:app`` for that.
    """
    # waitress.serve(): idempotent if logging is already set up.
    logging.basicConfig()
    pairs = settings(kw)
    if int(dict(pairs).get("workers", "1") or 1) > 1:
        if threading.active_count() > 1:
            logging.getLogger("waitressd").warning(
                "serve(): %d threads are running and the workers are forked from this "
                "process; threads do not survive a fork (prefer `waitressd module:app`, "
                "which imports the app in each worker)",
                threading.active_count(),
            )
        # Objects made before the fork stay shared between the workers' pages.
        gc.collect()
        gc.freeze()
    _native.serve(app, pairs, _describe(app))


def serve_paste(app, global_conf, **kw):
    """PasteDeploy's ``paste.server_runner`` (``use = egg:waitressd#main``): the
    ``[server:main]`` settings arrive as strings, as in a ``--config`` file."""
    serve(app, **kw)
    return 0


def _describe(app):
    name = getattr(app, "__qualname__", None) or type(app).__qualname__
    module = getattr(app, "__module__", None) or type(app).__module__
    return f"{module}:{name}"
