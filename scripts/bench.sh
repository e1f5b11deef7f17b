#!/usr/bin/env bash
# bench.sh: keep-alive "hello" throughput and p99 latency of waitressd (one worker)
# and of Waitress (the peer) on loopback, measured in the same run with the same wrk
# settings, printed side by side with the ratio.
#
#   scripts/bench.sh [DURATION_SECS] [CONNECTIONS] [THREADS]
#
# Installs wrk (Debian) and waitress (PyPI) if missing. Every process it starts is
# stopped by PID. Bounded: two wrk runs of DURATION seconds (default 10) each, plus
# a 2 s warm-up each.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
duration="${1:-10}"
conns="${2:-50}"
threads="${3:-4}"

source "$root/scripts/lib.sh"
need_wrk
python3 -c "import waitress" 2>/dev/null || pip install -q waitress >&2

# run_wrk PORT → prints "REQS_PER_SEC P99_MS"
run_wrk() {
  local url="http://127.0.0.1:$1/"
  wrk -t2 -c"$conns" -d2s "$url" >/dev/null 2>&1 || true
  wrk -t2 -c"$conns" -d"${duration}s" --latency "$url" | awk '
    /Requests\/sec:/ { rps = $2 }
    /^ +99%/ { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v = v / 1000 }
               else if (v ~ /ms$/) { sub(/ms$/, "", v) }
               else if (v ~ /s$/) { sub(/s$/, "", v); v = v * 1000 }
               p99 = v }
    /Non-2xx|Socket errors/ { print "bench: " $0 > "/dev/stderr" }
    END { printf "%s %s\n", rps, p99 }'
}

bin="$(build_waitressd)"
app="$("$root/scripts/example-app" hello)"

port=$(free_port)
start_bg "$bin" --listen "127.0.0.1:$port" --threads "$threads" --log-level warn "$app"
wait_port "$port"
read -r ours_rps ours_p99 < <(run_wrk "$port")
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true

port=$(free_port)
start_bg sh -c "cd '$root/scripts/bench' && exec python3 -m waitress --listen=127.0.0.1:$port --threads=$threads hello_waitress:app" >/dev/null 2>&1
wait_port "$port"
read -r peer_rps peer_p99 < <(run_wrk "$port")

printf '%-10s %12s %10s\n' server req/s p99_ms
printf '%-10s %12.0f %10.2f\n' waitressd "$ours_rps" "$ours_p99"
printf '%-10s %12.0f %10.2f\n' waitress "$peer_rps" "$peer_p99"
awk -v a="$ours_rps" -v b="$peer_rps" -v pa="$ours_p99" -v pb="$peer_p99" \
  'BEGIN { printf "ratio: %.1fx the requests/s of Waitress, p99 %.1fx lower\n", a / b, (pa > 0 ? pb / pa : 0) }'
