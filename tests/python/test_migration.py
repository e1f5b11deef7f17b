"""Migrating from Waitress is a rename, in each of the four ways Waitress users start
a server: ``serve(app, **kw)`` in Python, ``waitress-serve`` flags (tests/it), a
PasteDeploy ``[server:main]`` run by ``loadserver`` or Pyramid's ``pserve``, and a
Heroku Procfile with ``requirements.txt``. Every process is started in its own
process group and stopped by its PID.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

import waitressd
from waitressd import _serve

from conftest import REPO, SERVING_RE, Server

FIXTURES = REPO / "tests" / "fixtures" / "python"
BIN = Path(sys.executable).parent
APP = textwrap.dedent(
    """
    import os, sys
    import waitressd

    def app(environ, start_response):
        body = f"{os.getpid()} {environ['wsgi.multiprocess']} {environ['SERVER_SOFTWARE']}"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body.encode()]
    """
)


def run_python(code: str, tmp_path: Path, *, env=None, name="script") -> Server:
    """Run ``code`` with this venv's Python; wait for its "Serving on" line."""
    script = tmp_path / f"{name}.py"
    script.write_text(code)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=str(tmp_path),
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return serving(proc, name)


def serving(proc: subprocess.Popen, name: str) -> Server:
    server = Server(proc, name)
    try:
        port = server.wait_for(
            lambda lines: next((m.group(1) for l in lines if (m := SERVING_RE.search(l))), None),
            30,
            "'Serving on' line",
        )
    except BaseException:
        server.stop()
        raise
    server.port = int(port)
    server.base_url = f"http://127.0.0.1:{port}"
    return server


def ctrl_c(server: Server) -> int:
    """SIGINT, as a terminal's Ctrl-C, to the process; its exit status."""
    os.kill(server.pid, signal.SIGINT)
    try:
        status = server.proc.wait(timeout=15)
    finally:
        server.stop()
    return status


# ----- serve() -----


def test_serve_in_the_calling_process_answers_and_returns_on_ctrl_c(tmp_path):
    server = run_python(
        APP
        + 'waitressd.serve(app, listen="127.0.0.1:0", threads="2", ident="mine")\n'
        + 'print("serve() returned", flush=True)\n',
        tmp_path,
    )
    r = requests.get(server.base_url + "/")
    assert r.status_code == 200
    assert r.text == f"{server.pid} False mine", "served by the caller itself"
    assert r.headers["Server"] == "mine"
    assert ctrl_c(server) == 0
    log = server.log_text()
    assert "serve() returned" in log
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log


def test_serve_with_workers_forks_them_from_the_caller(tmp_path):
    server = run_python(
        APP
        + 'waitressd.serve(app, listen="127.0.0.1:0", workers="2", threads=2)\n'
        + 'print("serve() returned", flush=True)\n',
        tmp_path,
    )
    server.wait_for(lambda lines: len(server.ready_pids()) >= 2, 30, "two ready workers")
    pids = set()
    for _ in range(30):
        pid, multiprocess, _software = requests.get(server.base_url + "/").text.split()
        assert multiprocess == "True"
        pids.add(int(pid))
    assert server.pid not in pids, "workers, not the caller, serve"
    assert pids <= set(server.ready_pids())
    assert ctrl_c(server) == 0
    assert "serve() returned" in server.log_text()


def test_bad_keywords_raise_valueerror_in_waitress_words():
    def app(environ, start_response):  # never called
        raise AssertionError

    with pytest.raises(ValueError, match=r"^Unknown adjustment 'nosuch'$"):
        waitressd.serve(app, nosuch=1)
    with pytest.raises(ValueError, match=r"'threads'.*number"):
        waitressd.serve(app, threads="abc")
    with pytest.raises(ValueError, match=r"^host or port may not be set if listen is set\.$"):
        waitressd.serve(app, listen="127.0.0.1:0", port=80)
    with pytest.raises(ValueError, match=r"^unix_socket may not be set if listen is set$"):
        waitressd.serve(app, listen="127.0.0.1:0", unix_socket="/tmp/x.sock")
    with pytest.raises(ValueError, match=r"^unix_socket may not be set if host or port is set$"):
        waitressd.serve(app, host="127.0.0.1", unix_socket="/tmp/x.sock")
    with pytest.raises(ValueError, match="trusted_proxy"):
        waitressd.serve(app, trusted_proxy_headers="x-forwarded-for")
    with pytest.raises(ValueError, match="sockets"):
        waitressd.serve(app, sockets=[])
    with pytest.raises(ValueError, match="'workers'"):
        waitressd.serve(app, workers=0)


# Per keyword: [(values that must all mean the same), expected --check-config value].
# A keyword reported under another key (host/port → listen) names that key.
COERCIONS = {
    "app_opt": ([{"a": "1", "b": "2"}, "a=1 b=2", ["a=1", "b=2"]], ["a=1", "b=2"]),
    "host": (["127.0.0.2", "127.0.0.2"], ("listen", ["127.0.0.2:8080"])),
    "port": ([8081, "8081"], ("listen", ["0.0.0.0:8081"])),
    "listen": (["127.0.0.1:81 127.0.0.1:82", ["127.0.0.1:81", "127.0.0.1:82"]],
               ["127.0.0.1:81", "127.0.0.1:82"]),
    "ipv4": ([True, "true", "yes", "on", "1", "t", "y"], ("listen", None)),
    "ipv6": ([False, "false", "no", "off", "0"], ("listen", None)),
    "unix_socket": (["/tmp/w.sock"], "/tmp/w.sock"),
    "unix_socket_perms": (["660", 0o660], "660"),
    "backlog": ([2048, "2048"], 2048),
    "workers": ([3, "3"], 3),
    "graceful_timeout": ([20, "20"], 20),
    "timeout": ([15, "15"], 15),
    "boot_timeout": ([90, "90"], 90),
    "max_requests": ([1000, "1000"], 1000),
    "max_requests_jitter": ([50, "50"], 50),
    "reload_surge": ([2, "2"], 2),
    "pid_file": (["/tmp/w.pid"], "/tmp/w.pid"),
    "threads": ([8, "8"], 8),
    "cpu_affinity": (["auto", " auto", "AUTO"], "auto"),
    "recv_bytes": ([16384, "16384"], 16384),
    "send_bytes": ([1, "1"], None),
    "inbuf_overflow": ([1048576, "1048576"], 1048576),
    "outbuf_overflow": ([2097152, "2097152"], 2097152),
    "outbuf_high_watermark": ([33554432, "33554432"], 33554432),
    "connection_limit": ([500, "500"], 500),
    "cleanup_interval": ([10, "10"], 10),
    "channel_timeout": ([60, "60"], 60),
    "max_request_header_size": ([65536, "65536"], 65536),
    "max_request_body_size": ([10485760, "10485760"], 10485760),
    "request_head_timeout": ([5, "5"], 5),
    "channel_request_lookahead": ([2, "2"], 2),
    "url_scheme": (["https"], "https"),
    "url_prefix": (["/app/", "/app"], "/app"),
    "ident": (["myident"], "myident"),
    "server_name": (["example.com"], "example.com"),
    "expose_tracebacks": ([True, "true", "on", "1"], True),
    "trusted_proxy": (["10.0.0.1"], "10.0.0.1"),
    "trusted_proxy_count": ([2, "2"], 2),
    "trusted_proxy_headers": (["x-forwarded-for x-forwarded-proto",
                               ["x-forwarded-for", "x-forwarded-proto"],
                               {"x-forwarded-for", "x-forwarded-proto"}],
                              ["x-forwarded-for", "x-forwarded-proto"]),
    "log_untrusted_proxy_headers": ([True, "yes"], True),
    "clear_untrusted_proxy_headers": ([False, "no", "off"], False),
    "log_socket_errors": ([False, "false"], False),
    "log_level": (["debug"], "debug"),
    "access_log": (["-"], "-"),
    "access_log_format": (["json"], "json"),
    "asyncore_use_poll": ([True, "true"], None),
    "asyncore_loop_timeout": ([1, "1"], None),
}

NEEDS_PROXY = {"trusted_proxy_count", "trusted_proxy_headers", "log_untrusted_proxy_headers"}


def test_every_keyword_is_read_as_waitress_reads_it():
    assert set(COERCIONS) == set(_serve.KEYWORDS), "a keyword without its coercion case"
    for key, (forms, expected) in COERCIONS.items():
        extra = {"trusted_proxy": "10.0.0.1"} if key in NEEDS_PROXY else {}
        results = [_serve.effective(**extra, **{key: form}) for form in forms]
        for form, result in zip(forms, results):
            assert result == results[0], f"{key}={form!r}"
        if expected is None:
            continue
        if isinstance(expected, tuple):
            field, value = expected
        else:
            field, value = key, expected
        if value is not None:
            got = results[0][field]
            if isinstance(value, list) and isinstance(got, list):
                got, value = sorted(got), sorted(value)
            assert got == value, f"{key}: {field} is {got!r}"


def test_serve_paste_takes_ini_strings():
    def app(environ, start_response):  # never called
        raise AssertionError

    with pytest.raises(ValueError, match=r"^Unknown adjustment 'nosuch'$"):
        waitressd.serve_paste(app, {"here": "/"}, nosuch="1")
    with pytest.raises(ValueError, match="'ipv6'"):
        waitressd.serve_paste(app, {}, ipv6="maybe")


# ----- PasteDeploy -----


def test_loadserver_runs_egg_waitressd_main(tmp_path):
    ini = tmp_path / "app.ini"
    ini.write_text(
        "[server:main]\nuse = egg:waitressd#main\nlisten = 127.0.0.1:0\nthreads = 2\n"
        "ident = via-paste\n"
    )
    server = run_python(
        APP
        + "from paste.deploy import loadserver\n"
        + f"server = loadserver('config:{ini}')\n"
        + "server(app)\n"
        + 'print("server returned", flush=True)\n',
        tmp_path,
    )
    r = requests.get(server.base_url + "/")
    assert r.status_code == 200 and r.text.endswith(" via-paste")
    assert ctrl_c(server) == 0
    assert "server returned" in server.log_text()


def test_loadserver_names_a_bad_key(tmp_path):
    ini = tmp_path / "bad.ini"
    ini.write_text("[server:main]\nuse = egg:waitressd#main\nthreads = many\n")
    code = (
        APP
        + "from paste.deploy import loadserver\n"
        + f"loadserver('config:{ini}')(app)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert out.returncode != 0
    assert "ValueError: invalid value 'many' for 'threads'" in out.stderr, out.stderr


def test_pserve_serves_a_pyramid_app():
    app_dir = FIXTURES / "pyramidapp"
    proc = subprocess.Popen(
        [str(BIN / "pserve"), "development.ini"],
        cwd=str(app_dir),
        env={**os.environ, "PYTHONPATH": str(app_dir), "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = serving(proc, "pserve")
    r = requests.get(server.base_url + "/")
    assert (r.status_code, r.text) == (200, "pyramid says hello, served by waitressd-pserve")
    assert r.headers["Server"] == "waitressd-pserve"
    r = requests.get(server.base_url + "/hello/world")
    assert (r.status_code, r.text) == (200, "hello world")
    assert requests.get(server.base_url + "/nope").status_code == 404
    assert ctrl_c(server) == 0


# ----- Heroku -----


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(600)
def test_heroku_procfile_from_a_fresh_venv(tmp_path):
    # The wheel of this repository, as a Heroku build would install it.
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), str(REPO)],
        check=True,
        timeout=540,
    )
    (wheel,) = wheels.glob("waitressd-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    for name in ["myapp.py", "Procfile"]:
        (app_dir / name).write_text((FIXTURES / "heroku" / name).read_text())
    (app_dir / "requirements.txt").write_text(f"waitressd @ {wheel.as_uri()}\n")
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "-r", "requirements.txt"],
        cwd=str(app_dir),
        check=True,
        timeout=300,
    )
    command = (app_dir / "Procfile").read_text().strip().removeprefix("web: ")
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
    }
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=str(app_dir),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(proc, "heroku")
    try:
        server.wait_for(lambda lines: len(server.ready_pids()) >= 2, 60, "two workers ready")
        # The router's headers, from a trusted proxy ('*').
        r = requests.get(
            f"http://127.0.0.1:{port}/",
            headers={
                "X-Forwarded-For": "203.0.113.7",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Port": "443",
            },
        )
        assert r.status_code == 200, server.log_text()
        assert r.json() == {
            "REMOTE_ADDR": "203.0.113.7",
            "wsgi.url_scheme": "https",
            "SERVER_PORT": "443",
            "HTTP_X_FORWARDED_FOR": "203.0.113.7",
            "wsgi.multiprocess": True,
        }
    finally:
        assert server.stop() == 0, server.log_text()


# waitress 3.0.2's Adjustments._params: every one is a serve() keyword (but sockets).
WAITRESS_ADJUSTMENTS = """host port ipv4 ipv6 listen threads trusted_proxy trusted_proxy_count
trusted_proxy_headers log_untrusted_proxy_headers clear_untrusted_proxy_headers url_scheme
url_prefix backlog recv_bytes send_bytes outbuf_overflow outbuf_high_watermark inbuf_overflow
connection_limit cleanup_interval channel_timeout log_socket_errors max_request_header_size
max_request_body_size expose_tracebacks ident asyncore_loop_timeout asyncore_use_poll
unix_socket unix_socket_perms sockets channel_request_lookahead server_name""".split()


def test_every_waitress_adjustment_is_a_keyword():
    missing = set(WAITRESS_ADJUSTMENTS) - set(_serve.KEYWORDS) - {"sockets"}
    assert not missing, missing
