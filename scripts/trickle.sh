#!/usr/bin/env bash
# trickle.sh: the server's CPU cost of a request head that arrives a few bytes at a
# time, per KiB of head, at three head sizes (issue 12: "a 256 KiB head arriving a
# few bytes at a time costs time linear in its size"). waitressd and Waitress are
# measured in the same run with the same client.
#
#   scripts/trickle.sh [RUNS=3]
#   PIECE=N PACE_US=U PIN=0|1 scripts/trickle.sh ...   (defaults: 8, 0, 1; see below)
#
# Servers (each once, on its own free port on 127.0.0.1, kept up across all runs):
#   waitressd  waitressd --workers 1 --threads 2 --log-level warn
#              --max-request-header-size 1048576 <bench.so>   (the bench fixture,
#              tests/fixtures/apps/bench.rs, built with `scripts/example-app bench`;
#              waitressd built from this tree with build_waitressd)
#   waitress   waitress-serve --threads=2 --max-request-header-size=1048576 hello:app
#              (Waitress 3.0.2 from PyPI in the venv target/trickle-venv, made once;
#              hello:app a 13-byte "Hello, World!" WSGI app written to a temp dir)
# The head limit is raised in both from its default, 262144 (Waitress's), which a
# 256 KiB head is already at.
#
# One send: one connection (TCP_NODELAY), one request whose head is exactly SIZE
# KiB: `GET / HTTP/1.1`, `Host: x`, filler fields `X-Fill-NNNNN: aaa...` (64-byte
# lines, the last ones shortened), the empty line. The head is sent in PIECE-byte
# pieces, each its own send() (so its own TCP segment), back to back. The response
# must start `HTTP/1.1 200` and is read whole (Content-Length), then the connection
# is closed. One measurement: 256/SIZE such sends one after the other (16 of 16 KiB,
# 4 of 64 KiB, 1 of 256 KiB), so that every measurement trickles the same 256 KiB
# and is exposed alike to whatever else the machine does; right after it the same
# sends with each head in one sendall() ("bulk"), measured the same way. Sizes 16,
# 64 and 256 KiB, RUNS runs, interleaved (run 1: 16 KiB waitressd, 16 KiB Waitress,
# 64 KiB ...); medians over the runs.
#
# CPU: over the measured processes (waitressd: the master's children, i.e. the
# worker; Waitress: its one process), all threads, sum_exec_runtime (first field of
# /proc/PID/task/TID/schedstat, ns) just before connect() and just after the
# response is in. That is the time /proc/PID/stat reports as utime+stime, but exact:
# those come in CLK_TCK ticks (10 ms here) and a 16 KiB trickle costs a few ms.
# utime+stime are summed too, over all trickled measurements, and printed beside
# the schedstat total as a cross-check.
#
# Separate reads: pieces sent back to back are not all read one by one; when the
# server is still busy, or not yet awake, when the next ones land, the kernel queues
# them together and one recv() takes several. So before run 1 (after a warm-up:
# one bulk send of each size and one trickled 16 KiB per server) one extra trickled
# send per size and server runs under `perf stat -e
# syscalls:sys_enter_recvfrom -p <measured pids>` (not in the CPU figures: the
# tracepoint costs a little per call), and the table shows recvfrom calls per piece
# (1.0: every piece read alone; "-" where perf is missing or cannot attach). The bulk
# column is the other check: a trickled head costing many times the bulk one means
# the per-read work dominates, i.e. it was not all coalesced. Why back to back and
# not paced: sleeping between pieces costs >= 60 us a piece here (2 s or more for
# 256 KiB, with both sides idle most of the time), and coalescing is shown instead
# of hidden. PACE_US=U spins (busy-waits, exact) U us between pieces: on this
# 2-core VM PACE_US=60 gets ~1.0 recv/piece from waitressd and ~0.6-1.0 from
# Waitress, at ~2 s per 256 KiB send. A server that is quadratic falls behind as
# its buffer grows and so reads fewer, larger pieces, which hides part of its cost:
# compare recv/piece across sizes before trusting a ratio.
#
# Pinning (PIN=1, the default, with 2 or more CPUs): the servers run on the last CPU
# and the client on the one before (taskset), so that client and server never
# share a CPU; unpinned, that can change between measurements, and with it how
# many pieces a read takes and what each read costs.
#
# Output: per server and size, the median CPU us per KiB of head (trickled and
# bulk), the wall time of one trickled send and recv/piece; then per server the
# ratio of 256 KiB's per-KiB trickled cost to 16 KiB's (~1.0 is linear, ~16
# quadratic), and waitressd's per-KiB cost over Waitress's. "other load" is the
# share of the machine busy with neither the server measured nor the client
# meanwhile, "steal" the share the hypervisor took (/proc/stat); the figures are
# skewed when either is high. Exit 0 when every response was a 200 and the measured
# processes stayed the same; 1 otherwise. Results in target/trickle/.
#
# Bounded: 2 servers x (7 + RUNS x 2 x 21) connections, each of at most 32768
# pieces (256 KiB / 8), every socket with a 60 s timeout, the whole client under
# `timeout` (120 s + 60 s per run + the PACE_US spins). Only 127.0.0.1 is
# contacted. Every process it starts is stopped by its PID (SIGTERM to each server,
# then SIGKILL to what is left of it 10 s later); perf is stopped by its PID
# (SIGINT) after each counted send.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage() { echo "usage: $0 [RUNS=3]   (env: PIECE=8 bytes, PACE_US=0, PIN=1)" >&2; exit 2; }
[ $# -le 1 ] || usage
runs="${1:-3}"
piece="${PIECE:-8}"
pace="${PACE_US:-0}"
case "$runs$piece$pace" in *[!0-9]*) usage ;; esac
[ "$runs" -ge 1 ] && [ "$piece" -ge 1 ] || usage
[ "$runs" -ge 3 ] || echo "trickle: note: fewer than 3 runs; medians are weak" >&2

WAITRESS_VERSION=3.0.2
sizes="16 64 256"

source "$root/scripts/lib.sh"
t_start=$(date +%s)
out="$root/target/trickle"
mkdir -p "$out"

# --- setup ------------------------------------------------------------------------
venv="$root/target/trickle-venv"
if [ ! -x "$venv/bin/python" ]; then
  base_py="$(pick_python trickle)"
  echo "trickle: creating $venv with $base_py" >&2
  "$base_py" -m venv "$venv"
fi
py="$venv/bin/python"
if ! "$py" -c "import sys; from importlib.metadata import version; sys.exit(version('waitress') != '$WAITRESS_VERSION')" 2>/dev/null; then
  echo "trickle: installing waitress==$WAITRESS_VERSION into $venv" >&2
  "$py" -m pip install -q --disable-pip-version-check "waitress==$WAITRESS_VERSION" >&2
fi

echo "trickle: building waitressd and the bench app (CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-<default>}) ..." >&2
t_build=$(date +%s)
bin="$(build_waitressd)"
app="$("$root/scripts/example-app" bench)"
echo "trickle: built in $(( $(date +%s) - t_build )) s" >&2

cat >"$work/hello.py" <<'EOF'
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, World!"]
EOF

# trickle.py RUNS SIZES PIECE PACE_US NAME:PORT:PID:WHICH...
#   WHICH: "children" (measure PID's child processes) or "self" (PID itself).
#   Measures as described above; progress on stderr, the table on stdout; exit 1 if
#   any response was not a 200 (or never came) or the measured processes changed.
cat >"$work/trickle.py" <<'EOF'
import os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time
runs, sizes, piece, pace_us = int(sys.argv[1]), [int(x) for x in sys.argv[2].split()], int(sys.argv[3]), int(sys.argv[4])
servers = []
for spec in sys.argv[5:]:
    name, port, pid, which = spec.split(":")
    servers.append({"name": name, "port": int(port), "pid": int(pid), "which": which})
TIMEOUT = 60.0
HZ = os.sysconf("SC_CLK_TCK")

def head_of(kib):
    """A request head of exactly kib KiB: request line, Host, filler fields, CRLF."""
    size = kib * 1024
    h = bytearray(b"GET / HTTP/1.1\r\nHost: x\r\n")
    n = 0
    while len(h) < size - 2:
        room = size - 2 - len(h)
        line = b"X-Fill-%05d: " % n
        want = min(64, room) if room - 64 >= 20 or room <= 64 else room - 32
        h += line + b"a" * (want - len(line) - 2) + b"\r\n"
        n += 1
    h += b"\r\n"
    assert len(h) == size, (len(h), size)
    return bytes(h)

def measured(s):
    if s["which"] == "self":
        return [s["pid"]]
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
            except OSError:
                continue
            if int(st[st.rindex(")") + 2:].split()[1]) == s["pid"]:
                kids.append(int(d))
    return sorted(kids)

def sample(pids):
    """(ns of CPU, CLK_TCK ticks of utime+stime) over pids' threads."""
    ns = ticks = 0
    for p in pids:
        with open(f"/proc/{p}/stat") as f:
            st = f.read()
        fl = st[st.rindex(")") + 2:].split()
        ticks += int(fl[11]) + int(fl[12])
        for t in os.listdir(f"/proc/{p}/task"):
            try:
                with open(f"/proc/{p}/task/{t}/schedstat") as f:
                    ns += int(f.read().split()[0])
            except OSError:
                pass   # a thread that just exited
    return ns, ticks

def machine():
    """(busy, steal, all) ticks of the whole machine: user nice system irq softirq; steal."""
    with open("/proc/stat") as f:
        c = [int(x) for x in f.readline().split()[1:]]
    return sum(c[:3]) + c[5] + c[6], c[7], sum(c[:8])

def read_response(sock):
    buf = b""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].decode("latin-1").split("\r\n")
            cl = [h.split(":", 1)[1].strip() for h in head[1:] if h.lower().startswith("content-length:")]
            if not cl or len(buf) - end - 4 >= int(cl[0]):
                return head[0]
        chunk = sock.recv(65536)
        if not chunk:
            return head[0] if buf.find(b"\r\n\r\n") >= 0 else f"EOF after {len(buf)} bytes: {buf[:60]!r}"
        buf += chunk

def send_head(sock, head):
    mv, send = memoryview(head), sock.send
    nxt = time.perf_counter()
    for i in range(0, len(head), piece):
        if pace_us:
            while time.perf_counter() < nxt:
                pass
            nxt += pace_us / 1e6
        if send(mv[i:i + piece]) != len(mv[i:i + piece]):
            raise RuntimeError("short send")

def one(s, head, bulk, count=1):
    """count requests with this head, one connection each, one after the other;
    the server's CPU across all of them."""
    pids = measured(s)
    if pids != s["procs"]:
        raise RuntimeError(f"{s['name']}: measured processes changed: {s['procs']} -> {pids}")
    m0, c0 = machine(), os.times()
    a = sample(pids)
    t0 = time.perf_counter()
    for _ in range(count):
        with socket.socket() as sock:
            sock.settimeout(TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect(("127.0.0.1", s["port"]))
            if bulk:
                sock.sendall(head)
            else:
                send_head(sock, head)
            status = read_response(sock)
            if not status.startswith("HTTP/1.1 200"):
                raise RuntimeError(f"{s['name']}: response {status!r}")
    wall = time.perf_counter() - t0
    b = sample(pids)
    m1, c1 = machine(), os.times()
    time.sleep(0.05)   # let the server finish with the last connection before the next measurement
    client = (c1.user + c1.system - c0.user - c0.system) * HZ
    return {"ns": b[0] - a[0], "ticks": b[1] - a[1], "wall": wall / count,
            "busy": m1[0] - m0[0], "steal": m1[1] - m0[1], "all": m1[2] - m0[2], "client": client}

PERF = shutil.which("perf")

def recvs(s, head):
    """One trickled send (not measured) with `perf stat` counting the recvfrom calls
    of the server's measured threads; None when perf is missing or will not attach."""
    if not PERF:
        return None
    with tempfile.TemporaryDirectory() as d:
        pf = subprocess.Popen([PERF, "stat", "-x,", "-e", "syscalls:sys_enter_recvfrom", "-o", f"{d}/perf",
                               "-p", ",".join(map(str, s["procs"]))],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        threads = sum(len(os.listdir(f"/proc/{p}/task")) for p in s["procs"])
        for _ in range(100):   # attached: one perf_event fd per thread (at most 5 s)
            try:
                fds = [os.readlink(f"/proc/{pf.pid}/fd/{x}") for x in os.listdir(f"/proc/{pf.pid}/fd")]
            except OSError:
                fds = []
            if sum("perf_event" in x for x in fds) >= threads or pf.poll() is not None:
                break
            time.sleep(0.05)
        ok = pf.poll() is None
        try:
            if ok:
                one(s, head, False)
        finally:
            if pf.poll() is None:
                pf.send_signal(signal.SIGINT)
            try:
                pf.wait(10)
            except subprocess.TimeoutExpired:
                pf.kill()
                pf.wait()
        try:
            with open(f"{d}/perf") as f:
                for line in f:
                    if "sys_enter_recvfrom" in line and line.split(",")[0].isdigit():
                        return int(line.split(",")[0]) if ok else None
        except OSError:
            pass
    return None

heads = {k: head_of(k) for k in sizes}
pieces = {k: -(-k * 1024 // piece) for k in sizes}
reps = {k: max(1, sizes[-1] // k) for k in sizes}   # so that every measurement trickles the same bytes
res, nrecv, fails = {}, {}, []
tot = {"busy": 0, "steal": 0, "all": 0, "server": 0.0, "client": 0.0}
try:
    for s in servers:
        s["procs"] = measured(s)
        if not s["procs"]:
            raise RuntimeError(f"{s['name']}: no process to measure under pid {s['pid']}")
    # Warm-up: one bulk send of each size and one trickled 16 KiB per server (the
    # worker's buffers grow, code and data are faulted in); then the counted pass.
    for s in servers:
        for k in sizes:
            one(s, heads[k], True)
        one(s, heads[sizes[0]], False)
    for k in sizes:
        for s in servers:
            n = nrecv[s["name"], k] = recvs(s, heads[k])
            if n is None:
                one(s, heads[k], False)
            print(f"trickle: counted {s['name']:9} {k:3d} KiB: "
                  + (f"{n} recvfrom calls for {pieces[k]} pieces ({n / pieces[k]:.2f} per piece)" if n is not None
                     else "recvfrom calls not counted (no perf, or it did not attach)"), file=sys.stderr, flush=True)
    for r in range(1, runs + 1):
        for k in sizes:
            for s in servers:
                t = one(s, heads[k], False, reps[k])
                u = one(s, heads[k], True, reps[k])
                res.setdefault((s["name"], k), []).append((t, u))
                tot["busy"] += t["busy"]; tot["steal"] += t["steal"]; tot["all"] += t["all"]
                tot["server"] += t["ns"] * HZ / 1e9; tot["client"] += t["client"]
                print(f"trickle: run {r} {s['name']:9} {k:3d} KiB x{reps[k]:<2d}: {t['ns'] / 1e3 / k / reps[k]:8.1f} us/KiB trickled"
                      f" ({t['wall'] * 1e3:.0f} ms each), {u['ns'] / 1e3 / k / reps[k]:6.1f} us/KiB bulk", file=sys.stderr, flush=True)
except (OSError, RuntimeError) as e:
    fails.append(str(e))
    print(f"trickle: FAIL: {e}", file=sys.stderr)

med = lambda xs: statistics.median(xs) if xs else float("nan")
print(f"{'server':10} {'head':>5} {'pieces':>6} {'sends':>5} | {'trickled':>10} {'ms a':>6} | {'bulk':>6} | {'recv/':>6}")
print(f"{'':10} {'KiB':>5} {'a head':>6} {'':>5} | {'CPU us/KiB':>10} {'send':>6} | {'us/KiB':>6} | {'piece':>6}")
per = {}
for s in servers:
    for k in sizes:
        v = res.get((s["name"], k), [])
        per[s["name"], k] = med([t["ns"] / 1e3 / k / reps[k] for t, _ in v])
        n = nrecv.get((s["name"], k))
        print(f"{s['name']:10} {k:5d} {pieces[k]:6d} {reps[k]:5d} | {per[s['name'], k]:10.1f} {med([t['wall'] * 1e3 for t, _ in v]):6.0f}"
              f" | {med([u['ns'] / 1e3 / k / reps[k] for _, u in v]):6.1f} | " + (f"{n / pieces[k]:6.2f}" if n is not None else f"{'-':>6}"))
print()
lo, hi = sizes[0], sizes[-1]
print(f"per-KiB CPU, {hi} KiB / {lo} KiB (trickled; 1.0 = linear, {hi // lo}.0 = quadratic):")
for s in servers:
    a, b = per[s["name"], lo], per[s["name"], hi]
    print(f"  {s['name']:10} {b / a if a > 0 else float('nan'):5.2f}x")
if len(servers) == 2:
    w, p = servers[0]["name"], servers[1]["name"]
    print(f"  {w} / {p} per-KiB CPU: " + ", ".join(
        f"{k} KiB {per[w, k] / per[p, k]:.2f}x" for k in sizes if per[p, k] > 0))
print()
for s in servers:
    v = [t for (n, _), xs in res.items() if n == s["name"] for t, _ in xs]
    print(f"cross-check {s['name']}: trickled CPU over all runs {sum(t['ns'] for t in v) / 1e6:.0f} ms (schedstat),"
          f" {sum(t['ticks'] for t in v) * 1e3 / HZ:.0f} ms (utime+stime, {1000 // HZ} ms ticks)")
other = tot["busy"] - tot["server"] - tot["client"]
pct = lambda x: 100 * max(x, 0) / max(tot["all"], 1)
print(f"machine during the trickled sends ({os.cpu_count()} CPUs): server {pct(tot['server']):.0f}%, client {pct(tot['client']):.0f}%,"
      f" other load {pct(other):.0f}%, steal {pct(tot['steal']):.0f}% (other or steal well above 10%: figures skewed)")
for f in fails:
    print(f"problem: {f}")
sys.exit(1 if fails else 0)
EOF

# --- servers ----------------------------------------------------------------------
# With 2 or more CPUs: the servers on the last one, the client on the one before
# (taskset; PIN=0 to leave it to the scheduler). Unpinned, whether the client and
# the server share a CPU changes from one measurement to the next, and with it how
# many pieces a read takes and what each costs.
pin_server="" pin_client=""
ncpu="$(nproc)"
if [ "${PIN:-1}" != 0 ] && [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null; then
  pin_server="taskset -c $(( ncpu - 1 ))"
  pin_client="taskset -c $(( ncpu - 2 ))"
fi
declare -A port pid
servers=(waitressd waitress)
port[waitressd]=$(free_port)
$pin_server "$bin" --workers 1 --threads 2 --log-level warn --max-request-header-size 1048576 \
  --listen "127.0.0.1:${port[waitressd]}" "$app" >"$out/waitressd.log" 2>&1 &
pid[waitressd]=$!
pids+=($!)
port[waitress]=$(free_port)
PYTHONPATH="$work" $pin_server "$venv/bin/waitress-serve" "--listen=127.0.0.1:${port[waitress]}" --threads=2 \
  --max-request-header-size=1048576 hello:app >"$out/waitress.log" 2>&1 &
pid[waitress]=$!
pids+=($!)

descendants() { # PID -> PID and its descendants, space-separated
  local all=("$1") i=0 p
  while [ "$i" -lt "${#all[@]}" ]; do
    for p in $(cat "/proc/${all[$i]}/task/"*/children 2>/dev/null); do all+=("$p"); done
    i=$(( i + 1 ))
  done
  echo "${all[*]}"
}
stop_server() { # NAME: SIGTERM, then SIGKILL to whatever of it is left after 10 s
  local p="${pid[$1]:-}" tree q
  [ -n "$p" ] || return 0
  tree="$(descendants "$p")"
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  for q in $tree; do
    if kill -0 "$q" 2>/dev/null; then
      echo "trickle: $1: pid $q still up 10 s after SIGTERM; SIGKILL" >&2
      kill -KILL "$q" 2>/dev/null || true
    fi
  done
  wait "$p" 2>/dev/null || true
  pid[$1]=""
}
# Stop the servers, then lib.sh's cleanup (with `pids` emptied, so no PID that may
# have been reused is signalled).
stop_all() { for s in "${servers[@]}"; do stop_server "$s"; done; pids=(); cleanup; }
trap stop_all EXIT

for s in "${servers[@]}"; do
  wait_port "${port[$s]}" || { echo "trickle: $s did not listen; its log ($out/$s.log):" >&2; tail -20 "$out/$s.log" >&2; exit 1; }
done
# waitressd's worker loads the app after the port is up: wait (bounded) for it.
for _ in $(seq 1 100); do [ -n "$(cat /proc/"${pid[waitressd]}"/task/*/children 2>/dev/null)" ] && break; sleep 0.1; done

versions="$("$bin" --version); waitress $("$py" -c "from importlib.metadata import version; print(version('waitress'))") on $("$py" -c 'import platform; print("python", platform.python_version())')"
echo "trickle: $versions; $(nproc) cores; $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "trickle: heads of ${sizes// /, } KiB in $piece-byte send()s, back to back$([ "$pace" = 0 ] || echo ", one every $pace us (spin)"); $runs runs, medians"

# The client's time limit: 120 s + 60 s per run + what PACE_US adds (2 servers x
# (RUNS x 256/SIZE + 1) trickled sends of each size).
limit=$(( 120 + 60 * runs ))
for k in $sizes; do limit=$(( limit + 2 * (runs * 256 / k + 1) * (k * 1024 / piece + 1) * pace / 1000000 + 1 )); done
rc=0
timeout --kill-after=10 "$limit" $pin_client "$py" "$work/trickle.py" "$runs" "$sizes" "$piece" "$pace" \
  "waitressd:${port[waitressd]}:${pid[waitressd]}:children" "waitress:${port[waitress]}:${pid[waitress]}:self" \
  2> >(tee "$out/progress.txt" >&2) | tee "$out/results.txt" || rc=$?
[ "$rc" != 124 ] || echo "problem: the client ran out of time (killed by timeout)"
for s in "${servers[@]}"; do
  kill -0 "${pid[$s]}" 2>/dev/null || { echo "problem: $s exited during the run (log: $out/$s.log)"; rc=1; }
  report_log_errors "$s" "$out/$s.log"
done

stop_all
trap - EXIT
echo "trickle: total $(( $(date +%s) - t_start )) s (results, progress and logs: $out)"
exit "$rc"
