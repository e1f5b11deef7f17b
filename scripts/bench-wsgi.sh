#!/usr/bin/env bash
# bench-wsgi.sh: one Python WSGI app (examples/python/hello_wsgi.py) served by
# waitressd and by the Python servers people would use instead, measured on
# loopback in the same run with the same wrk settings.
#
#   scripts/bench-wsgi.sh [SECONDS=8] [RUNS=3]
#
# Servers (each once, on its own free port on 127.0.0.1, kept up across all runs):
#   waitressd-2x4   waitressd --workers 2 --threads 4
#   waitressd-1x4   waitressd --workers 1 --threads 4
#   granian-2x4     granian --interface wsgi --http 1 --workers 2 --blocking-threads 4
#                   Blocking threads are the threads that run the WSGI callable.
#                   Granian's default (backpressure/2 = 256 per worker) suits apps
#                   that wait on I/O; this app only computes, so 4 per worker puts
#                   Granian on the same footing as waitressd and gunicorn (2 x 4 app
#                   threads) without hundreds of threads fighting over one GIL.
#   gunicorn-2x4    gunicorn -k gthread --workers 2 --threads 4
#   waitress-1x4    waitress-serve --threads 4 (as shipped: under this load it logs a
#                   "Task queue depth is N" warning for nearly every request, to its
#                   log file here; that is part of what Waitress costs by default)
# gunicorn sends the one-item-list "/" chunked (it adds no Content-Length); the
# response check prints each server's framing.
#
# Cases (wrk, one client thread):
#   ka     GET /     keep-alive,          -c50
#   close  GET /     "Connection: close", -c50
#   big    GET /big  keep-alive, 1 MiB,   -c8   (wsgi.file_wrapper: sendfile in
#                    waitressd and gunicorn; Granian has no file wrapper, so the app
#                    iterates 64 KiB reads there)
# Every run measures all servers case by case (interleaved), after a 1 s warm-up of
# the same case; RUNS runs; the table shows medians over the runs.
#
# Per measurement: req/s and p99 (wrk --latency); the server's CPU time per request:
# utime+stime (plus cutime+cstime, so a worker that exits mid-run still counts) of
# the master and every descendant, from /proc/PID/stat just before and just after
# the wrk run, in CLK_TCK ticks, divided by the requests wrk completed; and PSS:
# the sum of Pss in /proc/PID/smaps_rollup over the same processes, sampled halfway
# through the /big run. wrk's non-2xx responses and socket errors are printed, and
# so are workers that changed (died, were replaced) and servers that failed the
# response check done before the first run, so a broken server isn't mistaken for a
# fast one.
#
# Setup: a venv in $root/target/bench-venv (created once, reused; python3.11 from
# pyenv, else python3.11, else python3) with pinned granian, gunicorn and waitress
# from PyPI, and waitressd from this repo, rebuilt every time with
# `pip install --force-reinstall --no-deps $root` (cargo honours CARGO_TARGET_DIR).
# wrk from Debian (need_wrk). The 1 MiB file and the servers' logs are kept in
# $root/target/bench-wsgi/.
#
# Bounded: 5 servers x 3 cases x RUNS x (SECONDS + 1 s warm-up + overhead); the
# estimate is printed at the start. Only 127.0.0.1 is ever contacted. Every process
# it starts is stopped by its PID (SIGTERM to each master, then SIGKILL to whatever
# of that server's processes are still there 10 s later).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-8}"
runs="${2:-3}"
case "$secs$runs" in *[!0-9]*) echo "usage: $0 [SECONDS=8] [RUNS=3]" >&2; exit 2 ;; esac
[ "$secs" -ge 1 ] && [ "$runs" -ge 1 ] || { echo "usage: $0 [SECONDS>=1] [RUNS>=1]" >&2; exit 2; }
[ "$runs" -ge 3 ] || echo "bench-wsgi: note: fewer than 3 runs; medians are weak" >&2

GRANIAN_VERSION=2.8.9
GUNICORN_VERSION=27.0.1
WAITRESS_VERSION=3.0.2

source "$root/scripts/lib.sh"
t_start=$(date +%s)

venv="$root/target/bench-venv"
out="$root/target/bench-wsgi"
appdir="$root/examples/python"
mkdir -p "$out"
export HELLO_WSGI_BIG_FILE="$out/big-1MiB.bin"

servers=(waitressd-2x4 waitressd-1x4 granian-2x4 gunicorn-2x4 waitress-1x4)
cases=(ka close big)
n_meas=$(( ${#servers[@]} * ${#cases[@]} * runs ))
est=$(( n_meas * (secs + 2) + 30 ))
echo "bench-wsgi: ${#servers[@]} servers x ${#cases[@]} cases x $runs runs of ${secs}s (+1 s warm-up each):" \
     "about $(( est / 60 )) min $(( est % 60 )) s, plus the venv setup and the waitressd build (minutes when it is cold)"

# --- setup ------------------------------------------------------------------------
need_wrk

if [ ! -x "$venv/bin/python" ]; then
  base_py="$(pick_python bench-wsgi)"
  echo "bench-wsgi: creating $venv with $base_py" >&2
  "$base_py" -m venv "$venv"
fi
py="$venv/bin/python"
pins="granian==$GRANIAN_VERSION gunicorn==$GUNICORN_VERSION waitress==$WAITRESS_VERSION"
if ! "$py" - $pins <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(any(version(n) != v for n, v in (a.split("==") for a in sys.argv[1:])))
EOF
then
  echo "bench-wsgi: installing $pins" >&2
  "$py" -m pip install -q --disable-pip-version-check $pins >&2
fi
echo "bench-wsgi: building and installing waitressd from $root (CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-<default>}) ..." >&2
t_build=$(date +%s)
if ! "$py" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$root" >"$out/pip-install.log" 2>&1; then
  tail -30 "$out/pip-install.log" >&2
  echo "bench-wsgi: pip install of waitressd failed (log: $out/pip-install.log)" >&2
  exit 1
fi
echo "bench-wsgi: waitressd installed in $(( $(date +%s) - t_build )) s" >&2
versions="$("$py" - <<'EOF'
import sys
from importlib.metadata import version
print(f"python {sys.version.split()[0]}; " + ", ".join(f"{n} {version(n)}" for n in ("waitressd", "granian", "gunicorn", "waitress")))
EOF
)"
# The 1 MiB file, made once (the app makes it the same way if it is missing).
PYTHONPATH="$appdir" "$py" -c 'import hello_wsgi'
clk_tck=$(getconf CLK_TCK)

# procs.py cpu PID SHELL -> "TICKS NPROCS PIDS BUSY TOTAL CLIENT": TICKS of PID and
#   its descendants; PIDS comma-separated, sorted; BUSY and TOTAL the whole
#   machine's busy and all ticks (/proc/stat); CLIENT the cutime+cstime of SHELL
#   (this script: wrk's CPU once wrk is reaped), to tell what else loaded the machine.
# procs.py pss PID -> kB of Pss summed over PID and its descendants.
cat >"$work/procs.py" <<'EOF'
import os, sys
mode, root = sys.argv[1], int(sys.argv[2])
kids, stat = {}, {}
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        with open(f"/proc/{d}/stat") as f:
            s = f.read()
    except OSError:
        continue
    fields = s[s.rindex(")") + 2:].split()   # fields[0] is field 3 (state)
    stat[int(d)] = fields
    kids.setdefault(int(fields[1]), []).append(int(d))
tree, todo = [], [root] if root in stat else []
while todo:
    p = todo.pop()
    tree.append(p)
    todo.extend(kids.get(p, []))
tree.sort()
if mode == "cpu":
    # utime stime cutime cstime are fields 14..17
    ticks = sum(sum(int(x) for x in stat[p][11:15]) for p in tree)
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    busy = cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + (cpu[7] if len(cpu) > 7 else 0)
    sh = stat.get(int(sys.argv[3]), ["0"] * 15) if len(sys.argv) > 3 else ["0"] * 15
    print(ticks, len(tree), ",".join(map(str, tree)) or "-", busy, sum(cpu[:8]), int(sh[13]) + int(sh[14]))
else:
    kb = 0
    for p in tree:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        kb += int(line.split()[1])
                        break
        except OSError:
            pass
    print(kb)
EOF
procs() { "$py" "$work/procs.py" "$@"; }

# --- servers ----------------------------------------------------------------------
declare -A port pid
server_cmd() { # NAME PORT -> sets the array `cmd`
  local b="$venv/bin"
  case "$1" in
    waitressd-2x4) cmd=("$b/waitressd" --listen "127.0.0.1:$2" --workers 2 --threads 4 --log-level warn hello_wsgi:app) ;;
    waitressd-1x4) cmd=("$b/waitressd" --listen "127.0.0.1:$2" --workers 1 --threads 4 --log-level warn hello_wsgi:app) ;;
    granian-2x4) cmd=("$b/granian" --interface wsgi --http 1 --workers 2 --blocking-threads 4
                      --host 127.0.0.1 --port "$2" --log-level warning hello_wsgi:app) ;;
    gunicorn-2x4) cmd=("$b/gunicorn" -k gthread --workers 2 --threads 4 --bind "127.0.0.1:$2"
                       --log-level warning hello_wsgi:app) ;;
    waitress-1x4) cmd=("$b/waitress-serve" "--listen=127.0.0.1:$2" --threads=4 hello_wsgi:app) ;;
  esac
}

stop_server() { # NAME: SIGTERM to the master, SIGKILL to what is left after 10 s
  local s="$1" p="${pid[$1]:-}" tree
  [ -n "$p" ] || return 0
  tree="$(procs cpu "$p" | awk '{print $3}' | tr , ' ')"
  [ "$tree" = "-" ] && tree=""
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  for q in $tree; do kill -0 "$q" 2>/dev/null && { echo "bench-wsgi: $s: pid $q still up 10 s after SIGTERM; SIGKILL" >&2; kill -KILL "$q" 2>/dev/null || true; }; done
  wait "$p" 2>/dev/null || true
  pid[$s]=""
}
# Stop the servers, then lib.sh's cleanup (with nothing left in `pids`, so no PID
# that may have been reused is signalled).
stop_all() { for s in "${servers[@]}"; do stop_server "$s"; done; pids=(); cleanup; }
trap stop_all EXIT

for s in "${servers[@]}"; do
  port[$s]=$(free_port)
  server_cmd "$s" "${port[$s]}"
  # cwd is the app's dir (every server puts it on sys.path); PYTHONPATH for certainty.
  (cd "$appdir" && PYTHONPATH="$appdir" exec "${cmd[@]}") >"$out/$s.log" 2>&1 &
  pid[$s]=$!
  pids+=($!)
done
for s in "${servers[@]}"; do
  wait_port "${port[$s]}" || { echo "bench-wsgi: $s did not listen; its log ($out/$s.log):" >&2; tail -20 "$out/$s.log" >&2; exit 1; }
done

# Response check: status, body and Content-Length of / and /big on every server,
# retried for up to 10 s while workers boot. Prints one line per server.
declare -A broken
for s in "${servers[@]}"; do
  if line="$("$py" - "${port[$s]}" "$HELLO_WSGI_BIG_FILE" <<'EOF'
import http.client, sys, time
port, big = int(sys.argv[1]), open(sys.argv[2], "rb").read()
deadline, err = time.monotonic() + 10, None
while time.monotonic() < deadline:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        parts = []
        for path, want in (("/", b"Hello, World!"), ("/big", big)):
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            cl, te = r.getheader("Content-Length"), r.getheader("Transfer-Encoding")
            framing = f"Content-Length: {cl}" if cl is not None else f"Transfer-Encoding: {te}" if te else "close-delimited"
            # The app sets Content-Length on /big; on / it is the server's choice
            # (gunicorn chunks a one-item list), so only the body must be right.
            ok = r.status == 200 and body == want and (path == "/" or cl == str(len(want)))
            parts.append(f"{path} {r.status} {len(body)} B, {framing} {r.getheader('X-Big-Body', '')}".rstrip()
                         + ("" if ok else " <- WRONG"))
        c.close()
        print("; ".join(parts))
        sys.exit(1 if any("WRONG" in p for p in parts) else 0)
    except Exception as e:
        err = e
        time.sleep(0.2)
print(f"no answer: {err!r}")
sys.exit(1)
EOF
)"; then
    echo "bench-wsgi: check $s: $line" >&2
  else
    echo "bench-wsgi: check $s FAILED: $line (log: $out/$s.log)" >&2
    broken[$s]="response check: $line"
  fi
done

# Anything else busy on the machine skews every number: say so (the servers are idle now).
busy="$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; sleep 1
        awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat)"
busy_pct=$(echo $busy | awk '{ d = $4 - $2; printf "%.0f", (d > 0 ? 100 * ($3 - $1) / d : 0) }')
if [ "$busy_pct" -gt 15 ]; then
  echo "bench-wsgi: WARNING: the machine is ${busy_pct}% busy before the runs (something else is running); the numbers will be skewed" >&2
fi

# --- measurements -----------------------------------------------------------------
results="$work/results.tsv"   # server case run rps p99_ms reqs cpu_us nonxx connect read write timeout pss_mib changed other_pct
: >"$results"

wrk_args() { # CASE PORT
  case "$1" in
    ka) echo "-t1 -c50 http://127.0.0.1:$2/" ;;
    close) echo "-t1 -c50 http://127.0.0.1:$2/" ;;
    big) echo "-t1 -c8 http://127.0.0.1:$2/big" ;;
  esac
}

measure() { # SERVER CASE RUN
  local s="$1" c="$2" r="$3" p="${pid[$1]}" args hdr=() before after pss_pid=""
  read -r -a args <<<"$(wrk_args "$c" "${port[$s]}")"
  [ "$c" = close ] && hdr=(-H "Connection: close")
  if ! kill -0 "$p" 2>/dev/null; then
    echo "bench-wsgi: $s is not running (log: $out/$s.log); skipped" >&2
    return 0
  fi
  wrk "${args[@]}" "${hdr[@]}" -d1s >/dev/null 2>&1 || true
  before="$(procs cpu "$p" $$)"
  if [ "$c" = big ]; then
    (sleep "$(awk -v s="$secs" 'BEGIN { print s / 2 }')"; procs pss "$p" >"$work/pss") &
    pss_pid=$!
  fi
  wrk "${args[@]}" "${hdr[@]}" -d"${secs}s" --latency >"$work/wrk.out" 2>&1 || true
  [ -z "$pss_pid" ] || wait "$pss_pid" 2>/dev/null || true
  after="$(procs cpu "$p" $$)"
  local pss_mib=NA
  if [ -n "$pss_pid" ]; then
    pss_mib=$(awk '{ printf "%.1f", $1 / 1024 }' "$work/pss" 2>/dev/null || true)
    [ -n "$pss_mib" ] || pss_mib=NA
    rm -f "$work/pss"
  fi
  local changed=0
  [ "$(echo "$before" | awk '{print $3}')" = "$(echo "$after" | awk '{print $3}')" ] || changed=1
  kill -0 "$p" 2>/dev/null || changed=2
  cp "$work/wrk.out" "$out/wrk-$s-$c-$r.txt"
  # other = % of the whole machine busy with neither this server nor wrk
  local other
  other=$(echo "$before $after" | awk '{ d = $11 - $5; o = ($10 - $4) - ($7 - $1) - ($12 - $6); o = (d > 0 ? 100 * o / d : 0); printf "%.0f", (o < 0 ? 0 : o) }')
  awk -v s="$s" -v c="$c" -v r="$r" -v t0="${before%% *}" -v t1="${after%% *}" -v hz="$clk_tck" -v other="$other" \
      -v pss="$pss_mib" -v ch="$changed" '
    function ms(v) {
      if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
      if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
      if (v ~ /m$/)  { sub(/m$/, "", v);  return v * 60000 }
      if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
      return v + 0
    }
    /requests in/ { reqs = $1 }
    /Requests\/sec:/ { rps = $2 }
    /^ +99%/ { p99 = ms($2) }
    /Socket errors:/ { gsub(/,/, ""); sc = $4; sr = $6; sw = $8; st = $10 }
    /Non-2xx or 3xx responses:/ { nx = $5 }
    END {
      cpu = (reqs > 0) ? (t1 - t0) * 1e6 / hz / reqs : "NA"
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%d\n", s, c, r, (rps == "" ? 0 : rps), (p99 == "" ? "NA" : p99), reqs + 0, cpu, nx, sc, sr, sw, st, pss, ch, other
    }' "$work/wrk.out" >>"$results"
  tail -1 "$results" | awk -F'\t' '{ printf "bench-wsgi: run %s %-14s %-5s %10.0f req/s  p99 %7.2f ms  cpu %7.1f us/req  other load %3d%%%s\n", $3, $1, $2, $4, $5, $7, $15, ($13 != "NA" ? "  pss " $13 " MiB" : "") }' >&2
}

for r in $(seq 1 "$runs"); do
  for c in "${cases[@]}"; do
    for s in "${servers[@]}"; do measure "$s" "$c" "$r"; done
  done
done

cp "$results" "$out/results.tsv"
# --- report -----------------------------------------------------------------------
echo
echo "bench-wsgi: medians of $runs runs of ${secs}s; wrk -t1, -c50 for / (keep-alive and Connection: close), -c8 for /big (1 MiB)"
echo "  $versions; $(nproc) cores; CLK_TCK $clk_tck"
awk -F'\t' -v order="${servers[*]}" '
  function median(key,   n, i, j, t, a) {
    n = split(vals[key], a, " ")
    if (n == 0 || vals[key] == "") return "NA"
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function add(key, v) { if (v != "NA") vals[key] = (vals[key] == "" ? v : vals[key] " " v) }
  function f(v, fmt) { return (v == "NA") ? "NA" : sprintf(fmt, v) }
  {
    add($1 SUBSEP $2 SUBSEP "rps", $4); add($1 SUBSEP $2 SUBSEP "p99", $5); add($1 SUBSEP $2 SUBSEP "cpu", $7)
    if ($2 == "big") add($1 SUBSEP "pss", $13)
    nx[$1, $2] += $8; sc[$1, $2] += $9; sr[$1, $2] += $10; sw[$1, $2] += $11; st[$1, $2] += $12
    if ($14 == 1) ch[$1] = ch[$1] " " $2 "/run" $3 ": process set changed"
    if ($14 == 2) ch[$1] = ch[$1] " " $2 "/run" $3 ": master died"
    seen[$1] = 1
    n_all++; other_sum += $15; if ($15 > other_max) other_max = $15; if ($15 > 10) n_noisy++
  }
  END {
    ns = split(order, srv, " ")
    printf "%-14s %10s %8s %8s %10s %9s %9s %8s\n", "", "keep-alive", "p99", "CPU", "close", "/big", "/big CPU", "PSS"
    printf "%-14s %10s %8s %8s %10s %9s %9s %8s\n", "server", "req/s", "ms", "us/req", "req/s", "resp/s", "us/resp", "MiB"
    for (i = 1; i <= ns; i++) {
      s = srv[i]
      ka[s] = median(s SUBSEP "ka" SUBSEP "rps"); bg[s] = median(s SUBSEP "big" SUBSEP "rps"); pm[s] = median(s SUBSEP "pss")
      printf "%-14s %10s %8s %8s %10s %9s %9s %8s\n", s, f(ka[s], "%.0f"), f(median(s SUBSEP "ka" SUBSEP "p99"), "%.2f"),
        f(median(s SUBSEP "ka" SUBSEP "cpu"), "%.1f"), f(median(s SUBSEP "close" SUBSEP "rps"), "%.0f"),
        f(bg[s], "%.1f"), f(median(s SUBSEP "big" SUBSEP "cpu"), "%.0f"), f(pm[s], "%.1f")
    }
    print ""
    w = "waitressd-2x4"
    for (i = 1; i <= ns; i++) {
      s = srv[i]
      if (s ~ /^waitressd/) continue
      printf "%s vs %-13s keep-alive req/s %s, /big resp/s %s, PSS %s\n", w, s ":",
        (ka[s] > 0 && ka[w] != "NA") ? sprintf("%.2fx", ka[w] / ka[s]) : "NA",
        (bg[s] > 0 && bg[w] != "NA") ? sprintf("%.2fx", bg[w] / bg[s]) : "NA",
        (pm[s] > 0 && pm[w] != "NA") ? sprintf("%.2fx", pm[w] / pm[s]) : "NA"
    }
    print "(ratios are waitressd-2x4 / the other: > 1 is more throughput; for PSS < 1 is less memory)"
    print ""
    bad = 0
    for (i = 1; i <= ns; i++) {
      s = srv[i]
      if (!(s in seen)) { printf "problem: %s: no measurement (not running)\n", s; bad = 1; continue }
      split("ka close big", cs, " ")
      for (k = 1; k <= 3; k++) {
        c = cs[k]
        if (nx[s, c] + sc[s, c] + sr[s, c] + sw[s, c] + st[s, c] > 0) {
          printf "errors: %-14s %-5s non-2xx %d; socket errors: connect %d, read %d, write %d, timeout %d (all runs)\n",
            s, c, nx[s, c], sc[s, c], sr[s, c], sw[s, c], st[s, c]
          bad = 1
        }
      }
      if (ch[s] != "") { printf "problem: %s:%s\n", s, ch[s]; bad = 1 }
    }
    if (!bad) print "errors: none (no non-2xx responses, no socket errors, no worker changes)"
    printf "other load (CPU busy with neither the server measured nor wrk, %% of the machine): mean %.0f%%, max %d%%; %d of %d measurements above 10%%%s\n",
      n_all ? other_sum / n_all : 0, other_max, n_noisy, n_all, n_noisy ? " (numbers skewed by something else running)" : ""
  }' "$results"
for s in "${servers[@]}"; do
  if [ -n "${broken[$s]:-}" ]; then echo "problem: $s: ${broken[$s]}"; fi
done
for s in "${servers[@]}"; do
  report_log_errors "$s" "$out/$s.log"
done

stop_all
trap - EXIT
echo "bench-wsgi: total $(( $(date +%s) - t_start )) s (logs and wrk outputs: $out)"
