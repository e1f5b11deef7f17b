#!/usr/bin/env bash
# reload-soak.sh: SIGHUP waitressd again and again under load and count every
# failure. Two wrk loads run for DURATION seconds on loopback — keep-alive, and a
# new connection per request — while the app.so is swapped between two builds and
# the master is sent SIGHUP every INTERVAL seconds.
#
#   scripts/reload-soak.sh [DURATION_SECS=30] [INTERVAL_SECS=2] [WORKERS=2] [EXTRA_FLAGS...]
#
# EXTRA_FLAGS go to waitressd as they are, e.g. `--reload-surge 1` for batched reloads.
# INTERVAL may be fractional (0.5). Prints wrk's request counts, socket errors and non-2xx responses, and how many
# reloads completed. Every process it starts is stopped by PID.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
duration="${1:-30}"
interval="${2:-2}"
workers="${3:-2}"
shift $(( $# < 3 ? $# : 3 ))
extra=("$@")

source "$root/scripts/lib.sh"
need_wrk
bin="$(build_waitressd)"
v1="$("$root/scripts/example-app" lifecycle)"
v2="$("$root/scripts/example-app" lifecycle2)"

swap() { cp "$1" "$work/app.so.tmp" && mv -f "$work/app.so.tmp" "$work/app.so"; }
swap "$v1"
port="$(free_port)"
start_bg "$bin" --listen "127.0.0.1:$port" --workers "$workers" --threads 4 \
  ${extra[@]+"${extra[@]}"} "$work/app.so" 2>"$work/server.log"
master="${pids[-1]}"
for _ in $(seq 1 200); do grep -q "worker(s) ready" "$work/server.log" && break; sleep 0.05; done

start_bg wrk -t1 -c32 -d"${duration}s" "http://127.0.0.1:$port/" >"$work/keepalive.txt" 2>&1
start_bg wrk -t1 -c8 -d"${duration}s" -H "Connection: close" "http://127.0.0.1:$port/" >"$work/close.txt" 2>&1

sent=0
# Stop sending a little before the load ends so the last reload completes under it.
end=$(python3 -c "import time; print(time.monotonic() + $duration - max($interval, 1))")
while python3 -c "import sys, time; sys.exit(0 if time.monotonic() < $end else 1)"; do
  sleep "$interval"
  if [ $((sent % 2)) -eq 0 ]; then swap "$v2"; else swap "$v1"; fi
  kill -HUP "$master"
  sent=$((sent + 1))
done
wait "${pids[1]}" "${pids[2]}" || true

report() { # report NAME FILE
  local reqs errs non2xx
  reqs=$(awk '/requests in/ { print $1 }' "$2")
  errs=$(grep -o 'Socket errors:.*' "$2" || echo "Socket errors: connect 0, read 0, write 0, timeout 0")
  non2xx=$(awk '/Non-2xx/ { print $NF }' "$2")
  printf '%-22s %10s requests  %s  non-2xx %s\n' "$1" "${reqs:-0}" "$errs" "${non2xx:-0}"
}
report "keep-alive (32 conns)" "$work/keepalive.txt"
report "conn-per-request (8)" "$work/close.txt"
completed=$(grep -c "reload complete" "$work/server.log" || true)
aborted=$(grep -c "reload aborted" "$work/server.log" || true)
echo "reloads: $sent SIGHUPs sent, $completed completed, $aborted aborted (HUPs during a reload coalesce)"
