#!/usr/bin/env bash
# stop-time.sh: how long SIGTERM takes to stop waitressd (one worker, hello app) with
# 0, 1 and N idle keep-alive connections open (each served one request, then silent).
# Prints, per case, when the last client saw the server's FIN and when the master
# exited, as medians over RUNS runs.
#
#   scripts/stop-time.sh [N=1000] [RUNS=5]
#
# Only loopback; every process it starts is stopped by PID.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n="${1:-1000}"
runs="${2:-5}"
source "$root/scripts/lib.sh"
bin="$(build_waitressd)"
app="$("$root/scripts/example-app" hello)"

python3 - "$bin" "$app" "$n" "$runs" <<'EOF'
import os, signal, socket, statistics, subprocess, sys, time

bin_, app, n, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def one(count):
    port = free_port()
    proc = subprocess.Popen([bin_, "--listen", f"127.0.0.1:{port}", "--connection-limit",
                             str(count + 100), "--log-level", "warn", app],
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(400):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close(); break
            except OSError:
                time.sleep(0.025)
        conns = []
        for _ in range(count):
            c = socket.create_connection(("127.0.0.1", port))
            c.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            conns.append(c)
        for c in conns:
            got = b""
            while not got.endswith(b"Hello, world!\n"):
                got += c.recv(1024)
        time.sleep(0.2)
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        for c in conns:
            c.settimeout(10)
            assert c.recv(16) == b"", "expected EOF"
        fin = time.monotonic() - t0
        proc.wait(timeout=30)
        exited = time.monotonic() - t0
        for c in conns:
            c.close()
        return fin * 1000, exited * 1000
    finally:
        if proc.poll() is None:
            proc.kill(); proc.wait()

print(f"{'idle connections':>17}  {'last FIN ms':>11}  {'exit ms':>8}   (median of {runs})")
for count in (0, 1, n):
    results = [one(count) for _ in range(runs)]
    fin = statistics.median(r[0] for r in results)
    ex = statistics.median(r[1] for r in results)
    print(f"{count:>17}  {fin:>11.1f}  {ex:>8.1f}")
EOF
