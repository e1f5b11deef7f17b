"""Worker boot for WSGI apps.

Runs once in each worker process, right after fork (never in the master): it
prepares the interpreter the way ``waitress-serve`` does, refuses Python signal
handlers for the signals the server owns, and resolves the app by name (``boot``),
or only prepares a worker forked with the app object ``serve()`` was given
(``prepare``). Nothing here runs per request.
"""

import logging
import os
import pkgutil
import signal
import sys

from . import _native


def boot(target, call, options, server_signals):
    """Return the WSGI callable named ``target`` (called first when ``call``)."""
    # waitress-serve: the current directory is importable, after everything else.
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)
    # waitress.serve(): idempotent if the app configures logging itself.
    logging.basicConfig()
    prepare(options, server_signals)
    app = pkgutil.resolve_name(target)
    if call:
        app = app()
    return app


def prepare(options, server_signals):
    """Make this process a worker: the app's options, the server's signals, stdio."""
    import waitressd

    waitressd.app_options.clear()
    waitressd.app_options.update(options)
    _refuse_server_signals(frozenset(server_signals))
    # print() goes where the server logs, line by line: the worker's stdout may
    # carry the access log (--access-log -), which app output must not garble.
    reconfigure = getattr(sys.stderr, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(line_buffering=True)
        except (ValueError, OSError):
            pass
    sys.stdout = sys.stderr


def _refuse_server_signals(server_signals):
    """Wrap ``signal.signal`` so that it refuses the worker's own signals.

    A Python handler for them would replace the server's (the worker would stop
    draining on TERM) and never run (the worker's main thread runs no Python).
    """
    original = signal.signal
    if getattr(original, "_waitressd_guard", False):
        return

    def guarded(signalnum, handler):
        if int(signalnum) in server_signals:
            name = signal.Signals(signalnum).name
            _native._log(
                "warning",
                f"worker {os.getpid()}: the app's signal.signal({name}, ...) was refused: "
                "waitressd's workers handle that signal themselves",
            )
            return signal.getsignal(signalnum)
        return original(signalnum, handler)

    guarded._waitressd_guard = True
    guarded.__doc__ = original.__doc__
    signal.signal = guarded
