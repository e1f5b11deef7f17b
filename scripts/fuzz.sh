#!/usr/bin/env bash
# fuzz.sh: run each fuzz target (parse_head, chunked, conn) for a bounded time with
# cargo-fuzz (libFuzzer) and print how many inputs each one executed.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET=60] [TARGET...]
#
# Needs cargo-fuzz (installed here if missing). The machine's toolchain is stable,
# so RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the sanitizer flags it needs. Crashes are
# saved under fuzz/artifacts/TARGET/ and make the script exit non-zero.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(parse_head chunked conn)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked >&2
export RUSTC_BOOTSTRAP=1
cd "$root/fuzz"
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log="$(mktemp)"
  if cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    result="ok"
  else
    result="FAILED (see fuzz/artifacts/$t)"
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  printf '%-11s %12s executions in %ss  %s\n' "$t" "$runs" "$seconds" "$result"
  [ "$result" = ok ] || tail -30 "$log" >&2
  rm -f "$log"
done
exit "$status"
