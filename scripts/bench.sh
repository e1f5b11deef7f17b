#!/usr/bin/env bash
# bench.sh: the engine benchmark (issue 12). One native app (the `bench` fixture,
# tests/fixtures/apps/bench.rs) served by waitressd, and the same three responses
# served by nginx and by a hyper server, measured on loopback in the same run with
# the same wrk settings.
#
#   scripts/bench.sh [SECONDS=8] [RUNS=3]
#   IDLE=N scripts/bench.sh ...   (N idle keep-alive connections beside the `idle` case)
#   SERVERS="waitressd-1w nginx-2w" CASES="ka close" scripts/bench.sh ...   (a subset)
#
# Servers (each once, on its own free port on 127.0.0.1, kept up across all runs):
#   waitressd-1w  waitressd --workers 1 --threads 2 --log-level warn <bench.so>
#   waitressd-2w  waitressd --workers 2 --threads 2 --log-level warn <bench.so>
#   waitressd-1w-aff, waitressd-2w-aff
#                 the same with --cpu-affinity auto: each worker, all its threads, bound
#                 to one CPU (nginx's worker_cpu_affinity; waitressd's default is off)
#   nginx-2w      Debian's nginx (apt-get installs nginx-light, else nginx, when it is
#                 missing), `nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'` with a
#                 generated config: worker_processes 2, access_log off, keepalive
#                 1000000 requests / 65 s, `return 200 "Hello, World!"` for / and the
#                 1 MiB file (alias) with sendfile on, tcp_nopush on for /big and
#                 /bigfile; everything else (pid, temp paths, error log to stderr)
#                 in target/bench/nginx/. Otherwise nginx's defaults (no
#                 open_file_cache, no reuseport). `user root;` when run as root, so
#                 the workers can read target/.
#   hyper-2t      scripts/bench/hyper-peer (hyper 1 + tokio, multi-thread runtime
#                 with 2 worker threads), its own Cargo project built into
#                 target/bench/hyper-peer-target; / and /big (a clone of one static
#                 Bytes) only. When it does not build, a note says so and the other
#                 servers are measured without it.
#
# Cases (wrk from Debian, one client thread):
#   ka     GET /         keep-alive,          -c50  (13 bytes)
#   close  GET /         "Connection: close", -c50  (one connection per request)
#   big    GET /big      keep-alive,          -c8   (1 MiB from memory in waitressd
#                        and hyper; nginx sends its file with sendfile)
#   file   GET /bigfile  keep-alive,          -c8   (1 MiB: waitressd's send_file;
#                        nginx the same file; hyper has no such route, skipped)
#   idle   (only with IDLE=N, N > 0; measured right after `ka`) the `ka` load, with N
#          idle keep-alive connections open beside it (issue 12: "cost flat in
#          connections", idle/ka keep-alive req/s >= 0.95). Before each server's
#          measurement a helper (Python, non-blocking sockets, one selector) opens N
#          connections to it, at most 64 being set up at a time; each sends one
#          `GET / HTTP/1.1` with `Host: x`, reads its whole 200 response, then stays
#          open and silent. Once all N are idle the 1 s warm-up and the measurement
#          run; then the helper is stopped by its PID (SIGTERM) and reports how many of
#          the N are still open (no EOF, no reset, checked on each socket). Fewer
#          than N, or N not reached within 60 s, is a failure: printed at once and in
#          the report, and the script exits 1. With IDLE > 0 the script raises
#          `ulimit -n` to the hard limit (before starting the servers) and needs
#          N + 1024 there; waitressd runs with --connection-limit N+200 (per worker;
#          its default, Waitress's, is 100) in every case, nginx with
#          worker_connections N+200 and worker_rlimit_nofile 2(N+200)+1024; hyper
#          has no limit of its own. waitressd closes connections idle for
#          channel_timeout (120 s): each helper lives about SECONDS + 1 s + its set-up
#          time, so keep SECONDS well under 100 with IDLE. IDLE=0 (the default) is
#          the benchmark without this case, unchanged.
# The 1 MiB is byte i = 'a' + i % 26; its file, target/bench/big-1MiB.bin, is made
# once and handed to waitressd (WAITRESSD_BENCH_FILE) and to nginx.
# Every run measures all servers case by case (interleaved), after a 1 s warm-up of
# the same case; RUNS runs; the table shows medians over the runs.
#
# Per measurement: req/s and p99 (wrk --latency); the server's CPU time per request
# (per connection for `close`): utime+stime (plus cutime+cstime, so a worker that
# exits mid-run still counts) of the master and every descendant, from
# /proc/PID/stat just before and just after the wrk run, in CLK_TCK ticks, divided
# by the requests wrk completed; and PSS: the sum of Pss in /proc/PID/smaps_rollup
# over the same processes, sampled halfway through the `big` run. wrk's non-2xx
# responses and socket errors are printed, and so are workers that changed (died,
# were replaced), servers that failed the response check done before the first run,
# and server logs with errors, so a broken server isn't mistaken for a fast one.
# "other load" is the share of the machine busy with neither the server measured nor
# wrk during each measurement (2 cores here, and other work may compile meanwhile).
#
# waitressd is built from this tree (build_waitressd) and the app with
# `scripts/example-app bench`. wrk output, server logs, results.tsv and nginx's
# directory are kept in $root/target/bench/.
#
# Bounded: up to 6 servers x 5 cases (hyper skips one) x RUNS x (SECONDS + 1 s
# warm-up + overhead); the estimate is printed at the start. Only 127.0.0.1 is ever
# contacted. Every process it starts is stopped by its PID (SIGTERM to each master,
# then SIGKILL to whatever of that server's processes are still there 10 s later).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ $# -le 2 ] || { echo "usage: $0 [SECONDS=8] [RUNS=3]" >&2; exit 2; }
secs="${1:-8}"
runs="${2:-3}"
case "$secs$runs" in *[!0-9]*) echo "usage: $0 [SECONDS=8] [RUNS=3]" >&2; exit 2 ;; esac
[ "$secs" -ge 1 ] && [ "$runs" -ge 1 ] || { echo "usage: $0 [SECONDS>=1] [RUNS>=1]" >&2; exit 2; }
[ "$runs" -ge 3 ] || echo "bench: note: fewer than 3 runs; medians are weak" >&2
idle_n="${IDLE:-0}"
case "$idle_n" in ''|*[!0-9]*) echo "bench: IDLE must be a number of connections (0 = no idle case), not '$idle_n'" >&2; exit 2 ;; esac
idle_n=$((10#$idle_n))
if [ "$idle_n" -gt 0 ] && [ "$secs" -gt 100 ]; then
  echo "bench: note: with IDLE, SECONDS=$secs comes near waitressd's channel_timeout (120 s): idle connections may be closed" >&2
fi

source "$root/scripts/lib.sh"
t_start=$(date +%s)

out="$root/target/bench"
mkdir -p "$out"
big_file="$out/big-1MiB.bin"
export WAITRESSD_BENCH_FILE="$big_file"

servers=(waitressd-1w waitressd-2w waitressd-1w-aff waitressd-2w-aff nginx-2w hyper-2t)
cases=(ka close big file)
[ "$idle_n" -eq 0 ] || cases=(ka idle close big file)
# SERVERS="..." / CASES="..." measure a subset (for quick comparisons while working).
if [ -n "${SERVERS:-}" ]; then read -r -a servers <<<"$SERVERS"; fi
if [ -n "${CASES:-}" ]; then read -r -a cases <<<"$CASES"; fi
for s in "${servers[@]}"; do
  case "$s" in waitressd-1w|waitressd-2w|waitressd-1w-aff|waitressd-2w-aff|nginx-2w|hyper-2t) ;; *) echo "bench: unknown server '$s'" >&2; exit 2 ;; esac
done
for c in "${cases[@]}"; do
  case "$c" in ka|close|big|file) ;; idle) [ "$idle_n" -gt 0 ] || { echo "bench: the idle case needs IDLE=N" >&2; exit 2; } ;;
    *) echo "bench: unknown case '$c'" >&2; exit 2 ;; esac
done
serves() { # SERVER CASE: does SERVER have CASE's route?
  [ "$1" != hyper-2t ] || [ "$2" != file ]
}
n_meas=$(( (${#servers[@]} * ${#cases[@]} - 1) * runs ))
est=$(( n_meas * (secs + 2) + 30 ))
[ "$idle_n" -eq 0 ] || est=$(( est + ${#servers[@]} * runs * 5 ))
echo "bench: ${#servers[@]} servers x ${#cases[@]} cases (hyper-2t skips file) x $runs runs of ${secs}s (+1 s warm-up each):" \
     "about $(( est / 60 )) min $(( est % 60 )) s, plus the builds (minutes when they are cold)"

# --- setup ------------------------------------------------------------------------
need_wrk
if [ "$idle_n" -gt 0 ]; then
  # Every server started below, the idle helper and wrk inherit this.
  hard_nofile="$(ulimit -Hn)"
  if [ "$hard_nofile" = unlimited ]; then hard_nofile="$(cat /proc/sys/fs/nr_open 2>/dev/null || echo 1048576)"; fi
  ulimit -n "$hard_nofile" 2>/dev/null || true
  if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $(( idle_n + 1024 )) ]; then
    echo "bench: IDLE=$idle_n needs ulimit -n >= $(( idle_n + 1024 )); it is $(ulimit -n) (hard $(ulimit -Hn))" >&2
    exit 2
  fi
  echo "bench: IDLE=$idle_n: ulimit -n $(ulimit -n); waitressd --connection-limit $(( idle_n + 200 )), nginx worker_connections $(( idle_n + 200 ))" >&2
fi
if ! command -v nginx >/dev/null; then
  echo "bench: installing nginx (Debian)" >&2
  { apt-get update -q && { DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light ||
                           DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx; }; } >&2 || true
fi
if ! command -v nginx >/dev/null; then
  echo "bench: NOTE: nginx could not be installed; measuring without nginx-2w" >&2
  servers=("${servers[@]/nginx-2w}")
fi

echo "bench: building waitressd and the bench app (CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-<default>}) ..." >&2
t_build=$(date +%s)
bin="$(build_waitressd)"
app="$("$root/scripts/example-app" bench)"
echo "bench: hyper peer: cargo build --release (scripts/bench/hyper-peer -> $out/hyper-peer-target) ..." >&2
hyper_bin="$out/hyper-peer-target/release/hyper-peer"
if ! cargo build --release --quiet --manifest-path "$root/scripts/bench/hyper-peer/Cargo.toml" \
       --target-dir "$out/hyper-peer-target" >"$out/hyper-peer-build.log" 2>&1; then
  tail -10 "$out/hyper-peer-build.log" >&2
  echo "bench: NOTE: the hyper peer did not build (log: $out/hyper-peer-build.log); measuring without hyper-2t" >&2
  servers=("${servers[@]/hyper-2t}")
fi
# Drop the names emptied above.
read -r -a servers <<<"${servers[*]}"
echo "bench: built in $(( $(date +%s) - t_build )) s" >&2

has() { case " ${servers[*]} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
lock_version() { # CRATE: its version in the hyper peer's Cargo.lock
  awk -v n="$1" '$1 == "name" && $3 == "\"" n "\"" { getline; gsub(/"/, "", $3); print $3; exit }' \
    "$root/scripts/bench/hyper-peer/Cargo.lock" 2>/dev/null || true
}
versions="$("$bin" --version); $({ wrk -v 2>&1 || true; } | awk 'NR == 1 { print $1, $2 }')"
has nginx-2w && versions="$versions; $(nginx -v 2>&1 | sed 's/^nginx version: //')"
has hyper-2t && versions="$versions; hyper $(lock_version hyper), hyper-util $(lock_version hyper-util), tokio $(lock_version tokio)"

# The 1 MiB file, made once (rewritten only if its content is not the pattern).
python3 - "$big_file" <<'EOF'
import os, sys
path, want = sys.argv[1], bytes(97 + i % 26 for i in range(1 << 20))
try:
    with open(path, "rb") as f:
        if f.read() == want:
            sys.exit(0)
except OSError:
    pass
with open(path + ".tmp", "wb") as f:
    f.write(want)
os.replace(path + ".tmp", path)
EOF
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
procs() { python3 "$work/procs.py" "$@"; }

# idle.py PORT N STATUS LIFETIME: open N keep-alive connections to 127.0.0.1:PORT
#   (each: one GET /, its whole 200 response, then silence), at most 64 being set
#   up at a time, failed set-ups retried (up to 100 failures). STATUS (written
#   whole, by rename) says "ready N" once all N are idle, or "failed ..." (exit 1)
#   when that takes more than 60 s. Then it waits; on SIGTERM (or SIGINT) it checks
#   every connection (no EOF, no reset: MSG_PEEK) and writes
#   "final OPEN N closed=C unexpected=U" (C: seen closed meanwhile, U: connections
#   that got bytes they did not ask for). It exits by itself after LIFETIME
#   seconds, or when its parent (this script) is gone.
cat >"$work/idle.py" <<'EOF'
import errno, os, resource, selectors, signal, socket, sys, time
port, n, status, life = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft != resource.RLIM_INFINITY and soft < n + 64:
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass

def report(line):
    with open(status + ".tmp", "w") as f:
        f.write(line + "\n")
    os.replace(status + ".tmp", status)

stop = False
def on_signal(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)

REQ = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
INFLIGHT, MAX_FAILURES = 64, 100
sel = selectors.DefaultSelector()
ppid, t0 = os.getppid(), time.monotonic()
setting_up = done = failures = closed = unexpected = 0
last_error, ready, idle = "", False, []

def fail(s, why):
    global setting_up, failures, last_error
    sel.unregister(s)
    s.close()
    setting_up -= 1
    failures += 1
    last_error = why

def on_event(s, st):
    global setting_up, done, closed, unexpected
    if st[0] == "connect":
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            return fail(s, f"connect: {os.strerror(err)}")
        try:
            s.send(REQ)   # 27 bytes into an empty send buffer: all of it
        except OSError as e:
            return fail(s, f"send: {e}")
        st[0] = "response"
        sel.modify(s, selectors.EVENT_READ, st)
        return
    try:
        data = s.recv(65536)
    except (BlockingIOError, InterruptedError):
        return
    except OSError as e:
        data, err = None, e
    if st[0] == "response":
        if not data:
            return fail(s, f"closed before the whole response ({err if data is None else 'EOF'})")
        st[1] += data
        buf = st[1]
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = buf[:end].decode("latin-1").split("\r\n")
        if not head[0].startswith("HTTP/1.1 200"):
            return fail(s, f"response: {head[0]!r}")
        cl = [h.split(":", 1)[1].strip() for h in head[1:] if h.lower().startswith("content-length:")]
        if not cl:
            return fail(s, "response without Content-Length")
        if len(buf) - end - 4 < int(cl[0]):
            return
        if len(buf) - end - 4 > int(cl[0]):
            unexpected += 1
        st[0], st[1] = "idle", b""
        setting_up -= 1
        done += 1
        idle.append(s)
    elif not data:   # an idle connection closed (EOF or reset)
        sel.unregister(s)
        st[0] = "closed"
        closed += 1
    else:
        unexpected += 1

while not stop and time.monotonic() - t0 < life and os.getppid() == ppid:
    if not ready:
        while setting_up < INFLIGHT and done + setting_up < n and failures <= MAX_FAILURES:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex(("127.0.0.1", port))
            if err not in (0, errno.EINPROGRESS):
                s.close()
                failures += 1
                last_error = f"connect: {os.strerror(err)}"
                continue
            sel.register(s, selectors.EVENT_WRITE, ["connect", b""])
            setting_up += 1
        if done == n:
            ready = True
            report(f"ready {n} in {time.monotonic() - t0:.1f} s (failed set-ups retried: {failures})")
        elif failures > MAX_FAILURES or time.monotonic() - t0 > 60:
            report(f"failed: {done} of {n} connections set up in {time.monotonic() - t0:.0f} s"
                   f" ({failures} failures, last: {last_error or '-'}; {closed} closed meanwhile)")
            sys.exit(1)
    for key, _ in sel.select(0.2 if ready else 0.05):
        on_event(key.fileobj, key.data)

still = 0
for s in idle:
    try:
        if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
            still += 1    # open, with bytes nobody asked for (counted above)
    except (BlockingIOError, InterruptedError):
        still += 1        # open and silent
    except OSError:
        pass              # reset
why = "" if stop else " (stopped by itself: lifetime over or parent gone)"
report(f"final {still} {n} closed={closed} unexpected={unexpected}{why}")
EOF
idle_pid=""
idle_problems=()
idle_start() { # PORT: start idle.py; wait (bounded) until its N connections are idle
  rm -f "$work/idle.status"
  python3 "$work/idle.py" "$1" "$idle_n" "$work/idle.status" $(( 2 * secs + 180 )) 2>"$work/idle.err" &
  idle_pid=$!
  for _ in $(seq 1 900); do
    if [ -s "$work/idle.status" ]; then
      case "$(cat "$work/idle.status")" in ready*) return 0 ;; *) break ;; esac
    fi
    kill -0 "$idle_pid" 2>/dev/null || break
    sleep 0.1
  done
  idle_stop
  return 1
}
idle_stop() { # stop idle.py by its PID; its last status stays in $work/idle.status
  [ -n "$idle_pid" ] || return 0
  kill -TERM "$idle_pid" 2>/dev/null || true
  wait "$idle_pid" 2>/dev/null || true
  idle_pid=""
}

# --- servers ----------------------------------------------------------------------
ndir="$out/nginx"
nginx_conf() { # PORT: writes $ndir/nginx.conf
  mkdir -p "$ndir/tmp"
  {
    [ "$(id -u)" != 0 ] || echo "user root;"
    local wc=1024
    if [ "$idle_n" -gt 0 ]; then
      wc=$(( idle_n + 200 ))
      echo "worker_rlimit_nofile $(( 2 * wc + 1024 ));"
    fi
    cat <<EOF
worker_processes 2;
pid $ndir/nginx.pid;
lock_file $ndir/nginx.lock;
error_log stderr warn;
events { worker_connections $wc; }
http {
    access_log off;
    server_tokens off;
    client_body_temp_path $ndir/tmp/client_body;
    proxy_temp_path $ndir/tmp/proxy;
    fastcgi_temp_path $ndir/tmp/fastcgi;
    uwsgi_temp_path $ndir/tmp/uwsgi;
    scgi_temp_path $ndir/tmp/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    server {
        listen 127.0.0.1:$1;
        location = / { default_type text/plain; return 200 "Hello, World!"; }
        location = /big {
            default_type application/octet-stream;
            sendfile on; tcp_nopush on;
            alias $big_file;
        }
        location = /bigfile {
            default_type application/octet-stream;
            sendfile on; tcp_nopush on;
            alias $big_file;
        }
        location / { return 404; }
    }
}
EOF
  } >"$ndir/nginx.conf"
}

declare -A port pid
wd_extra=()
[ "$idle_n" -eq 0 ] || wd_extra=(--connection-limit $(( idle_n + 200 )))
server_cmd() { # NAME PORT -> sets the array `cmd`
  case "$1" in
    waitressd-1w) cmd=("$bin" --workers 1 --threads 2 --log-level warn "${wd_extra[@]}" --listen "127.0.0.1:$2" "$app") ;;
    waitressd-2w) cmd=("$bin" --workers 2 --threads 2 --log-level warn "${wd_extra[@]}" --listen "127.0.0.1:$2" "$app") ;;
    waitressd-1w-aff) cmd=("$bin" --workers 1 --threads 2 --cpu-affinity auto --log-level warn "${wd_extra[@]}" --listen "127.0.0.1:$2" "$app") ;;
    waitressd-2w-aff) cmd=("$bin" --workers 2 --threads 2 --cpu-affinity auto --log-level warn "${wd_extra[@]}" --listen "127.0.0.1:$2" "$app") ;;
    nginx-2w) nginx_conf "$2"; cmd=(nginx -e stderr -p "$ndir" -c "$ndir/nginx.conf" -g 'daemon off;') ;;
    hyper-2t) cmd=("$hyper_bin" "$2") ;;
  esac
}

stop_server() { # NAME: SIGTERM to the master, SIGKILL to what is left after 10 s
  local s="$1" p="${pid[$1]:-}" tree
  [ -n "$p" ] || return 0
  tree="$(procs cpu "$p" | awk '{print $3}' | tr , ' ')"
  [ "$tree" = "-" ] && tree=""
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  for q in $tree; do kill -0 "$q" 2>/dev/null && { echo "bench: $s: pid $q still up 10 s after SIGTERM; SIGKILL" >&2; kill -KILL "$q" 2>/dev/null || true; }; done
  wait "$p" 2>/dev/null || true
  pid[$s]=""
}
# Stop the servers, then lib.sh's cleanup (with nothing left in `pids`, so no PID
# that may have been reused is signalled).
stop_all() { idle_stop; for s in "${servers[@]}"; do stop_server "$s"; done; pids=(); cleanup; }
trap stop_all EXIT

for s in "${servers[@]}"; do
  port[$s]=$(free_port)
  server_cmd "$s" "${port[$s]}"
  "${cmd[@]}" >"$out/$s.log" 2>&1 &
  pid[$s]=$!
  pids+=($!)
done
for s in "${servers[@]}"; do
  wait_port "${port[$s]}" || { echo "bench: $s did not listen; its log ($out/$s.log):" >&2; tail -20 "$out/$s.log" >&2; exit 1; }
done

# Response check: status, body and Content-Length of every route a server has (and
# a 404 for another path), retried for up to 10 s while workers boot. Prints one
# line per server.
declare -A broken
for s in "${servers[@]}"; do
  paths="/ /big /bigfile"
  serves "$s" file || paths="/ /big"
  if line="$(python3 - "${port[$s]}" "$big_file" $paths <<'EOF'
import http.client, sys, time
port, big, paths = int(sys.argv[1]), open(sys.argv[2], "rb").read(), sys.argv[3:]
want = {"/": b"Hello, World!", "/big": big, "/bigfile": big}
deadline, err = time.monotonic() + 10, None
while time.monotonic() < deadline:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        parts = []
        for path in paths + ["/nope"]:
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            cl, te = r.getheader("Content-Length"), r.getheader("Transfer-Encoding")
            framing = f"Content-Length: {cl}" if cl is not None else f"Transfer-Encoding: {te}" if te else "close-delimited"
            if path == "/nope":
                ok = r.status == 404
                parts.append(f"{path} {r.status}" + ("" if ok else " <- WRONG"))
                continue
            ok = r.status == 200 and body == want[path] and cl == str(len(want[path]))
            parts.append(f"{path} {r.status} {len(body)} B, {framing}" + ("" if ok else " <- WRONG"))
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
    echo "bench: check $s: $line" >&2
  else
    echo "bench: check $s FAILED: $line (log: $out/$s.log)" >&2
    broken[$s]="response check: $line"
  fi
done

# Anything else busy on the machine skews every number: say so (the servers are idle now).
busy="$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; sleep 1
        awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat)"
busy_pct=$(echo $busy | awk '{ d = $4 - $2; printf "%.0f", (d > 0 ? 100 * ($3 - $1) / d : 0) }')
if [ "$busy_pct" -gt 15 ]; then
  echo "bench: WARNING: the machine is ${busy_pct}% busy before the runs (something else is running); the numbers will be skewed" >&2
fi

# --- measurements -----------------------------------------------------------------
results="$work/results.tsv"   # server case run rps p99_ms reqs cpu_us nonxx connect read write timeout pss_mib changed other_pct idle_open
: >"$results"

wrk_args() { # CASE PORT
  case "$1" in
    ka|idle) echo "-t1 -c50 http://127.0.0.1:$2/" ;;
    close) echo "-t1 -c50 http://127.0.0.1:$2/" ;;
    big) echo "-t1 -c8 http://127.0.0.1:$2/big" ;;
    file) echo "-t1 -c8 http://127.0.0.1:$2/bigfile" ;;
  esac
}

measure() { # SERVER CASE RUN
  local s="$1" c="$2" r="$3" p="${pid[$1]}" args hdr=() before after pss_pid=""
  read -r -a args <<<"$(wrk_args "$c" "${port[$s]}")"
  [ "$c" = close ] && hdr=(-H "Connection: close")
  if ! kill -0 "$p" 2>/dev/null; then
    echo "bench: $s is not running (log: $out/$s.log); skipped" >&2
    return 0
  fi
  local idle_open=NA
  if [ "$c" = idle ]; then
    if ! idle_start "${port[$s]}"; then
      local why
      why="$(cat "$work/idle.status" 2>/dev/null || true)"
      [ -n "$why" ] || why="the helper exited without a word: $(tail -3 "$work/idle.err" 2>/dev/null | tr '\n' ' ')"
      echo "bench: FAIL: run $r $s idle: could not open $idle_n idle connections: $why; not measured" >&2
      idle_problems+=("$s run $r: could not open $idle_n idle connections: $why")
      return 0
    fi
    local st
    st="$(cat "$work/idle.status")"
    echo "bench: run $r $s idle: $idle_n idle keep-alive connections open (set up ${st#"ready $idle_n "})" >&2
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
  if [ "$c" = idle ]; then
    idle_stop
    local fin
    fin="$(cat "$work/idle.status" 2>/dev/null || true)"
    case "$fin" in
      final*) idle_open="$(echo "$fin" | awk '{ print $2 }')" ;;
      *) idle_open=0; fin="no final report from the helper ($fin)" ;;
    esac
    if [ "$idle_open" -lt "$idle_n" ]; then
      echo "bench: FAIL: run $r $s idle: only $idle_open of $idle_n idle connections were still open after the measurement: $fin" >&2
      idle_problems+=("$s run $r: only $idle_open of $idle_n idle connections still open after the measurement ($fin)")
    fi
  fi
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
      -v pss="$pss_mib" -v ch="$changed" -v io="$idle_open" '
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
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t%s\n", s, c, r, (rps == "" ? 0 : rps), (p99 == "" ? "NA" : p99), reqs + 0, cpu, nx, sc, sr, sw, st, pss, ch, other, io
    }' "$work/wrk.out" >>"$results"
  tail -1 "$results" | awk -F'\t' -v n="$idle_n" '{ printf "bench: run %s %-16s %-5s %10.0f req/s  p99 %7.2f ms  cpu %7.1f us/req  other load %3d%%%s%s\n", $3, $1, $2, $4, $5, $7, $15, ($13 != "NA" ? "  pss " $13 " MiB" : ""), ($16 != "NA" ? "  idle open " $16 "/" n : "") }' >&2
}

for r in $(seq 1 "$runs"); do
  for c in "${cases[@]}"; do
    for s in "${servers[@]}"; do
      serves "$s" "$c" || continue
      measure "$s" "$c" "$r"
    done
  done
done

cp "$results" "$out/results.tsv"
# --- report -----------------------------------------------------------------------
echo
echo "bench: medians of $runs runs of ${secs}s; wrk -t1; / with -c50 (keep-alive, and Connection: close), /big and /bigfile (1 MiB) with -c8"
[ "$idle_n" -eq 0 ] || echo "  idle: the ka load with $idle_n idle keep-alive connections open beside it (IDLE=$idle_n)"
echo "  $versions; $(nproc) cores; CLK_TCK $clk_tck"
awk -F'\t' -v order="${servers[*]}" -v idle_n="$idle_n" '
  function median(key,   n, i, j, t, a) {
    n = split(vals[key], a, " ")
    if (n == 0 || vals[key] == "") return "NA"
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function add(key, v) { if (v != "NA") vals[key] = (vals[key] == "" ? v : vals[key] " " v) }
  function f(v, fmt) { return (v == "NA" || v == "") ? "-" : sprintf(fmt, v) }
  function ratio(a, b) { return (a != "NA" && a != "" && b != "NA" && b != "" && b > 0) ? sprintf("%.2fx", a / b) : "-" }
  {
    add($1 SUBSEP $2 SUBSEP "rps", $4); add($1 SUBSEP $2 SUBSEP "p99", $5); add($1 SUBSEP $2 SUBSEP "cpu", $7)
    if ($2 == "big") add($1 SUBSEP "pss", $13)
    nx[$1, $2] += $8; sc[$1, $2] += $9; sr[$1, $2] += $10; sw[$1, $2] += $11; st[$1, $2] += $12
    if ($14 == 1) ch[$1] = ch[$1] " " $2 "/run" $3 ": process set changed"
    if ($14 == 2) ch[$1] = ch[$1] " " $2 "/run" $3 ": master died"
    seen[$1] = 1; cs_seen[$1, $2] = 1
    if ($2 == "idle") { n_idle[$1]++; open_list[$1] = open_list[$1] " " $16; if ($16 + 0 < idle_n) short[$1]++ }
    n_all++; other_sum += $15; if ($15 > other_max) other_max = $15; if ($15 > 10) n_noisy++
  }
  END {
    ns = split(order, srv, " ")
    nc = split((idle_n > 0 ? "ka idle close big file" : "ka close big file"), cs, " ")
    for (i = 1; i <= ns; i++) {
      s = srv[i]
      for (k = 1; k <= nc; k++) {
        c = cs[k]
        m[s, c, "rps"] = median(s SUBSEP c SUBSEP "rps"); m[s, c, "p99"] = median(s SUBSEP c SUBSEP "p99")
        m[s, c, "cpu"] = median(s SUBSEP c SUBSEP "cpu")
      }
      m[s, "pss"] = median(s SUBSEP "pss")
    }
    kfmt = "%-16s | %9s %7s %7s"
    ifmt = " | %9s %7s %7s"   # the idle group, only with IDLE > 0
    hfmt = " | %8s %8s %7s | %7s %8s %6s %7s | %7s %8s\n"
    printf kfmt, "", "keep-alive", "p99", "CPU"
    if (idle_n > 0) printf ifmt, "idle", "p99", "CPU"
    printf hfmt, "close", "CPU", "p99", "big", "CPU", "PSS", "p99", "file", "CPU"
    printf kfmt, "server", "req/s", "ms", "us/req"
    if (idle_n > 0) printf ifmt, "req/s", "ms", "us/req"
    printf hfmt, "req/s", "us/conn", "ms", "resp/s", "us/resp", "MiB", "ms", "resp/s", "us/resp"
    for (i = 1; i <= ns; i++) {
      s = srv[i]
      printf kfmt, s, f(m[s, "ka", "rps"], "%.0f"), f(m[s, "ka", "p99"], "%.2f"), f(m[s, "ka", "cpu"], "%.1f")
      if (idle_n > 0) printf ifmt, f(m[s, "idle", "rps"], "%.0f"), f(m[s, "idle", "p99"], "%.2f"), f(m[s, "idle", "cpu"], "%.1f")
      printf hfmt,
        f(m[s, "close", "rps"], "%.0f"), f(m[s, "close", "cpu"], "%.1f"), f(m[s, "close", "p99"], "%.2f"),
        f(m[s, "big", "rps"], "%.0f"), f(m[s, "big", "cpu"], "%.0f"), f(m[s, "pss"], "%.1f"), f(m[s, "big", "p99"], "%.2f"),
        f(m[s, "file", "rps"], "%.0f"), f(m[s, "file", "cpu"], "%.0f")
    }
    print ""
    print "ratios, waitressd / peer (req/s: > 1 is more throughput; CPU, PSS and p99: < 1 is cheaper or faster):"
    rfmt = "%-30s %8s %7s %8s %7s %7s %7s %6s %7s %7s %7s\n"
    printf rfmt, "", "ka req/s", "ka CPU", "close/s", "cl CPU", "big/s", "file/s", "PSS", "ka p99", "cl p99", "big p99"
    np = split("nginx-2w hyper-2t", peers, " ")
    for (j = 1; j <= np; j++) {
      o = peers[j]
      if (!(o in seen)) continue
      for (i = 1; i <= ns; i++) {
        w = srv[i]
        if (w !~ /^waitressd/ || !(w in seen)) continue
        printf rfmt, w " / " o,
          ratio(m[w, "ka", "rps"], m[o, "ka", "rps"]), ratio(m[w, "ka", "cpu"], m[o, "ka", "cpu"]),
          ratio(m[w, "close", "rps"], m[o, "close", "rps"]), ratio(m[w, "close", "cpu"], m[o, "close", "cpu"]),
          ratio(m[w, "big", "rps"], m[o, "big", "rps"]), ratio(m[w, "file", "rps"], m[o, "file", "rps"]),
          ratio(m[w, "pss"], m[o, "pss"]),
          ratio(m[w, "ka", "p99"], m[o, "ka", "p99"]), ratio(m[w, "close", "p99"], m[o, "close", "p99"]),
          ratio(m[w, "big", "p99"], m[o, "big", "p99"])
      }
    }
    for (v = 1; v <= 2; v++) {
      sfx = (v == 1) ? "" : "-aff"
      w2 = "waitressd-2w" sfx; w1 = "waitressd-1w" sfx
      if (!(w1 in seen) || !(w2 in seen)) continue
      printf "waitressd%s 2w/1w: keep-alive req/s %s (close %s, big %s, file %s)\n", sfx,
        ratio(m[w2, "ka", "rps"], m[w1, "ka", "rps"]), ratio(m[w2, "close", "rps"], m[w1, "close", "rps"]),
        ratio(m[w2, "big", "rps"], m[w1, "big", "rps"]), ratio(m[w2, "file", "rps"], m[w1, "file", "rps"])
    }
    if (idle_n > 0) {
      print ""
      printf "%d idle keep-alive connections beside the ka load (medians; issue 12 goal for waitressd: idle/ka >= 0.95x):\n", idle_n
      for (i = 1; i <= ns; i++) {
        s = srv[i]
        if (!(s in seen)) continue
        if (!(s in n_idle)) { printf "  %-16s idle/ka keep-alive req/s: -      (no idle measurement)\n", s; continue }
        opened = short[s] ? sprintf("FEWER THAN %d in %d of %d runs:%s", idle_n, short[s], n_idle[s], open_list[s]) \
                          : sprintf("all %d in each of %d runs", idle_n, n_idle[s])
        printf "  %-16s idle/ka keep-alive req/s: %s  (CPU/req %s, p99 %s; still open after the measurement: %s)\n", s,
          ratio(m[s, "idle", "rps"], m[s, "ka", "rps"]), ratio(m[s, "idle", "cpu"], m[s, "ka", "cpu"]),
          ratio(m[s, "idle", "p99"], m[s, "ka", "p99"]), opened
      }
    }
    print ""
    bad = 0
    for (i = 1; i <= ns; i++) {
      s = srv[i]
      if (!(s in seen)) { printf "problem: %s: no measurement (not running)\n", s; bad = 1; continue }
      for (k = 1; k <= nc; k++) {
        c = cs[k]
        if (!((s, c) in cs_seen)) continue
        if (nx[s, c] + sc[s, c] + sr[s, c] + sw[s, c] + st[s, c] > 0) {
          printf "errors: %-16s %-5s non-2xx %d; socket errors: connect %d, read %d, write %d, timeout %d (all runs)\n",
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
  report_log_errors "$s" "$out/$s.log" 'error|panic|exception|\[(emerg|alert|crit)\]'
done

for p in "${idle_problems[@]}"; do echo "problem: idle: $p"; done

stop_all
trap - EXIT
echo "bench: total $(( $(date +%s) - t_start )) s (logs and wrk outputs: $out)"
if [ "${#idle_problems[@]}" -gt 0 ]; then
  echo "bench: FAILED: the idle case did not hold its $idle_n connections open (see the problem lines above)" >&2
  exit 1
fi
