#!/usr/bin/env bash
# profile.sh: CPU instructions per request of waitressd serving the hello app (one
# worker), counted by valgrind's callgrind — the same figure on a busy machine as on
# an idle one, so a change can be judged where wall-clock benchmarks are noise.
#
#   scripts/profile.sh [REQUESTS=4000] [APP=native|python]
#
# The worker (callgrind follows the fork) serves two sequential keep-alive runs,
# of REQUESTS/4 and REQUESTS requests, in two server processes; the figure is the
# difference of the worker's instruction counts divided by the difference of the
# request counts, so start-up and shutdown cancel out. Counted: every thread of the
# worker (I/O thread, app threads, the kernel excluded). For APP=python the hello
# app is examples/python/hello_wsgi.py under the pip-installed waitressd of
# target/bench-venv (scripts/bench-wsgi.sh makes it).
#
# Only loopback; every process it starts is stopped by its PID.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requests="${1:-4000}"
kind="${2:-native}"
source "$root/scripts/lib.sh"
command -v valgrind >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind; } >&2

case "$kind" in
  native)
    bin="$(build_waitressd)"
    app="$("$root/scripts/example-app" hello)"
    server=("$bin" --workers 1 --threads 1 --log-level warn "$app")
    dir="$root"
    ;;
  python)
    venv="$root/target/bench-venv"
    [ -x "$venv/bin/waitressd" ] || { echo "profile.sh: run scripts/bench-wsgi.sh once to make $venv" >&2; exit 2; }
    "$venv/bin/pip" install --quiet --force-reinstall --no-deps "$root" >&2
    server=("$venv/bin/waitressd" --workers 1 --threads 1 --log-level warn hello_wsgi:app)
    dir="$root/examples/python"
    ;;
  *) echo "profile.sh: APP is native or python" >&2; exit 2 ;;
esac

# count N → instructions of the worker for N keep-alive requests
count() {
  local n="$1" port out
  port="$(free_port)"
  out="$work/cg.$n"
  mkdir -p "$out"
  (cd "$dir" && exec valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$out/cg.%p" \
     "${server[@]:0:1}" --listen "127.0.0.1:$port" "${server[@]:1}") 2>"$out/log" &
  local master=$!
  pids+=("$master")
  for _ in $(seq 1 600); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2).close()" 2>/dev/null && break
    sleep 0.1
  done
  python3 - "$port" "$n" <<'EOF'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
req = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
buf = b""
for _ in range(n):
    s.sendall(req)
    while True:
        head_end = buf.find(b"\r\n\r\n")
        if head_end >= 0:
            head = buf[:head_end].decode("latin-1").lower()
            length = int(head.split("content-length:")[1].split("\r\n")[0])
            if len(buf) >= head_end + 4 + length:
                buf = buf[head_end + 4 + length:]
                break
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("the server closed the connection")
        buf += chunk
s.close()
EOF
  kill -TERM "$master"
  wait "$master" 2>/dev/null || true
  # The worker's file is the one that is not the master's.
  local total=0 f
  for f in "$out"/cg.*; do
    [ "$f" = "$out/cg.$master" ] && continue
    total=$(( total + $(awk '/^summary:/ {print $2}' "$f") ))
  done
  echo "$total"
}

small=$(( requests / 4 ))
a="$(count "$small")"
b="$(count "$requests")"
per=$(( (b - a) / (requests - small) ))
echo "profile.sh ($kind hello, 1 worker, 1 app thread, keep-alive, callgrind):"
echo "  $small requests: $a instructions; $requests requests: $b instructions"
echo "  instructions per request: $per"
