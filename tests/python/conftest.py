"""Harness for the end-to-end framework tests: real ``waitressd`` processes.

``start_server(...)`` runs the ``waitressd`` script of the venv that runs pytest
(``Path(sys.executable).parent / "waitressd"``) in its own process group, on
``--listen 127.0.0.1:0``, and waits (bounded) for ``Serving on http://127.0.0.1:PORT``
and then one ``worker PID ready`` line per worker. ``Server.stop()`` sends SIGTERM to
that PID, waits (bounded), and SIGKILLs the process group if it has to; it returns
the exit status (0 for a graceful stop).

The server's log (its stdout and stderr, merged) is captured line by line and
attached to the report of every failing test.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FRAMEWORKS_DIR = REPO / "tests" / "fixtures" / "python" / "frameworks"
WAITRESSD = Path(sys.executable).parent / "waitressd"

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

SERVING_RE = re.compile(r"Serving on http://127\.0\.0\.1:(\d+)")
READY_RE = re.compile(r"worker (\d+) ready")

# The file the download routes send: over 1 MiB, not a multiple of any buffer size,
# every byte value present.
DOWNLOAD_SIZE = 1024 * 1024 + 4099

_live_servers: list[Server] = []


def download_bytes(size: int = DOWNLOAD_SIZE) -> bytes:
    seed = hashlib.sha256(b"waitressd framework download").digest()
    block = bytes(range(256)) + seed
    return (block * (size // len(block) + 1))[:size]


class Server:
    """A running waitressd: ``base_url``, ``pid``, ``log`` (lines so far)."""

    def __init__(self, proc: subprocess.Popen, name: str):
        self.proc = proc
        self.pid = proc.pid
        self.name = name
        self.log: list[str] = []
        self.port: int | None = None
        self.base_url: str | None = None
        self.returncode: int | None = None
        self.leftover = False
        self._cond = threading.Condition()
        self._eof = False
        self._reader = threading.Thread(target=self._read, name=f"log-{name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._cond:
                self.log.append(line)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def log_text(self) -> str:
        with self._cond:
            return "\n".join(self.log)

    def ready_pids(self) -> list[int]:
        with self._cond:
            return [int(m.group(1)) for line in self.log if (m := READY_RE.search(line))]

    def wait_for(self, predicate, timeout: float, what: str):
        """Wait until ``predicate(log_lines)`` is truthy; return its value."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(self.log)
                if value:
                    return value
                if self._eof:
                    raise RuntimeError(
                        f"waitressd ({self.name}) exited (status {self.proc.poll()}) "
                        f"before {what}; log:\n" + "\n".join(self.log)
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"waitressd ({self.name}): no {what} within {timeout:.0f} s; log:\n"
                        + "\n".join(self.log)
                    )
                self._cond.wait(left)

    def wait_log(self, pattern: str, timeout: float = 10.0) -> str:
        """Wait for a log line matching the regex ``pattern``; return the line."""
        rx = re.compile(pattern)

        def find(lines):
            return next((line for line in lines if rx.search(line)), None)

        return self.wait_for(find, timeout, f"log line matching {pattern!r}")

    def stop(self) -> int:
        """SIGTERM, bounded wait, SIGKILL the group if needed; return the exit status."""
        if self.returncode is not None:
            return self.returncode
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._kill_group()
                self.proc.wait(timeout=STOP_TIMEOUT)
                self.returncode = self.proc.returncode
                self._finish()
                raise RuntimeError(
                    f"waitressd ({self.name}) did not stop within {STOP_TIMEOUT:.0f} s "
                    f"of SIGTERM and was killed; log:\n{self.log_text()}"
                ) from None
        self.returncode = self.proc.returncode
        # Workers are in the server's process group: none may outlive it.
        self.leftover = self._group_alive()
        self._kill_group()
        self._finish()
        return self.returncode

    def _group_alive(self) -> bool:
        try:
            os.killpg(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def _kill_group(self) -> None:
        # The group was made for this server alone (start_new_session), and its id is
        # the server's PID.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _finish(self) -> None:
        self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self in _live_servers:
            _live_servers.remove(self)


def start_server(
    target: str,
    cwd: Path = FRAMEWORKS_DIR,
    *flags: str,
    workers: int = 1,
    threads: int = 4,
    env: dict[str, str] | None = None,
    name: str | None = None,
) -> Server:
    """Start ``waitressd --listen 127.0.0.1:0 --workers W --threads T *flags target``."""
    if not WAITRESSD.exists():
        raise RuntimeError(f"{WAITRESSD} is missing: pip install the repository into this venv first")
    argv = [
        str(WAITRESSD),
        "--listen",
        "127.0.0.1:0",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        *flags,
        target,
    ]
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        argv,
        cwd=str(cwd),
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(proc, name or target)
    _live_servers.append(server)
    try:
        port = server.wait_for(
            lambda lines: next((m.group(1) for line in lines if (m := SERVING_RE.search(line))), None),
            START_TIMEOUT,
            "'Serving on http://127.0.0.1:' line",
        )
        server.port = int(port)
        server.base_url = f"http://127.0.0.1:{server.port}"
        server.wait_for(
            lambda lines: len([1 for line in lines if READY_RE.search(line)]) >= workers,
            START_TIMEOUT,
            f"{workers} 'worker PID ready' line(s)",
        )
    except BaseException:
        try:
            server.stop()
        except Exception:
            pass
        raise
    return server


@pytest.fixture(scope="session")
def download_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("download") / "payload.bin"
    path.write_bytes(download_bytes())
    return path


@pytest.fixture(scope="session")
def app_env(download_file, tmp_path_factory) -> dict[str, str]:
    """What the fixture apps read from the environment."""
    return {
        "WD_FW_DOWNLOAD": str(download_file),
        "WD_FW_SQLITE_DIR": str(tmp_path_factory.mktemp("sqlite")),
        "DJANGO_SETTINGS_MODULE": "djproject.settings",
        # Warnings are errors in the workers too.
        "PYTHONWARNINGS": "error",
    }


@pytest.fixture(scope="session")
def server_factory(app_env):
    """``server_factory(target, *flags, workers=, threads=, cwd=)``: servers stopped at the end."""
    started: list[Server] = []

    def factory(target, *flags, cwd=FRAMEWORKS_DIR, **kwargs):
        env = dict(app_env)
        env.update(kwargs.pop("env", {}) or {})
        server = start_server(target, cwd, *flags, env=env, **kwargs)
        started.append(server)
        return server

    yield factory
    failures = []
    for server in started:
        try:
            status = server.stop()
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(str(exc))
            continue
        if server.leftover:
            failures.append(
                f"waitressd ({server.name}) exited but processes of its group were still "
                f"running (killed); log:\n{server.log_text()}"
            )
        if status != 0:
            failures.append(
                f"waitressd ({server.name}) exited with status {status} after SIGTERM "
                f"(expected 0); log:\n{server.log_text()}"
            )
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


@pytest.fixture(scope="session")
def flask_server(server_factory) -> Server:
    return server_factory("flaskapp:app", workers=1, threads=4, name="flask 1 worker")


@pytest.fixture(scope="session")
def flask_server_2w(server_factory) -> Server:
    return server_factory("flaskapp:app", workers=2, threads=4, name="flask 2 workers")


@pytest.fixture(scope="session")
def django_server(server_factory) -> Server:
    return server_factory("djproject.wsgi:application", workers=1, threads=4, name="django")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        # The logs of the servers this test used.
        used = [v for v in getattr(item, "funcargs", {}).values() if isinstance(v, Server)]
        for server in used:
            report.sections.append(
                (f"waitressd log: {server.name} (pid {server.pid})", server.log_text())
            )
    return report


def pytest_sessionfinish(session, exitstatus):
    # A last resort for servers whose fixture never tore down (e.g. an interrupted run).
    for server in list(_live_servers):
        try:
            server.stop()
        except Exception:  # noqa: BLE001
            pass
