#!/usr/bin/env bash
# balance.sh: how evenly waitressd's workers share a burst of keep-alive connections.
# Every worker polls the same listening sockets; this shows how the load lands.
#
#   scripts/balance.sh [WORKERS=4] [CONNECTIONS=64] [DURATION_SECS=5]
#
# Serves the hello app with WORKERS workers and a JSON access log, drives it with
# wrk (CONNECTIONS keep-alive connections, opened in one burst), and prints each
# worker's share of the requests and the ratio between the busiest and the idlest
# worker (1.0 = perfectly even; "inf" = a worker got nothing). With one worker per
# core the ratio decides whether all cores are used. Every process it starts is
# stopped by PID.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
workers="${1:-4}"
conns="${2:-64}"
duration="${3:-5}"

source "$root/scripts/lib.sh"
need_wrk
bin="$(build_waitressd)"
app="$("$root/scripts/example-app" hello)"

port="$(free_port)"
start_bg "$bin" --listen "127.0.0.1:$port" --workers "$workers" \
  --access-log "$work/access.log" --access-log-format json --log-level warn "$app" 2>"$work/server.log"
master="${pids[-1]}"
wait_port "$port"
sleep 0.5 # every worker ready

wrk -t2 -c"$conns" -d"${duration}s" "http://127.0.0.1:$port/" | grep -E 'Requests/sec|Socket errors|Non-2xx' || true
kill -TERM "$master"
wait "$master" 2>/dev/null || true

python3 - "$work/access.log" "$workers" <<'EOF'
import collections, json, sys
path, workers = sys.argv[1], int(sys.argv[2])
counts = collections.Counter()
with open(path) as f:
    for line in f:
        counts[json.loads(line)["worker_pid"]] += 1
shares = sorted(counts.values(), reverse=True) + [0] * (workers - len(counts))
total = sum(shares)
for i, n in enumerate(shares):
    print(f"worker {i + 1}: {n:>9} requests  {100 * n / total:5.1f}%")
ratio = "inf" if shares[-1] == 0 else f"{shares[0] / shares[-1]:.2f}"
print(f"busiest/idlest: {ratio}")
EOF
