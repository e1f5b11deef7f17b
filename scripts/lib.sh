# lib.sh: what the benchmark and soak scripts share. Source it after setting
# `root` (the repository); it installs nothing by itself.
#
#   need_wrk                 install wrk (Debian) if missing
#   build_waitressd          cargo build --release of the binary; prints its path
#   free_port                a free TCP port on 127.0.0.1
#   wait_port PORT           wait (bounded, 10 s) until something accepts on PORT
#   start_bg CMD...          run CMD in the background and remember its PID
#   work                     a temp dir, removed at exit
#
# At exit every process started with start_bg (and every PID added to `pids`) is
# stopped by its PID; never by name.

pids=()
work="$(mktemp -d)"
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

need_wrk() {
  command -v wrk >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; } >&2
}

build_waitressd() {
  cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin waitressd >&2
  echo "$root/target/release/waitressd"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
  for _ in $(seq 1 200); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "$(basename "$0"): nothing listens on port $1" >&2
  return 1
}

start_bg() {
  "$@" &
  pids+=($!)
}

# report_log_errors NAME LOG [PATTERN]: print a "problem:" line with the five most
# frequent error-looking lines (grep -iE PATTERN) of a server's log, if it has any.
report_log_errors() {
  local name="$1" log="$2" pat="${3:-error|traceback|panic|exception|critical}"
  if [ -s "$log" ] && grep -qiE "$pat" "$log"; then
    echo "problem: $name logged errors ($log):"
    grep -iE "$pat" "$log" | sort | uniq -c | sort -rn | head -5 | sed 's/^/    /'
  fi
}

# pick_python NAME: a CPython >= 3.10 with venv for a script's peer venv (pyenv's
# 3.11 first, then python3.11, then python3); NAME prefixes the error.
pick_python() {
  local c
  for c in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.11.*/bin/python3 "$(command -v python3.11 || true)" "$(command -v python3 || true)"; do
    [ -n "$c" ] && [ -x "$c" ] && "$c" -c 'import sys, venv; sys.exit(sys.version_info < (3, 10))' 2>/dev/null && { echo "$c"; return; }
  done
  echo "$1: no python3 (>= 3.10) found" >&2
  return 1
}
