#!/usr/bin/env bash
# test.sh: the whole test suite, one command.
#
#   scripts/test.sh
#
# 1. For each CPython in $WAITRESSD_TEST_PYTHONS (default: 3.11 and 3.13, from pyenv
#    or PATH) makes a fresh virtualenv under target/test-venvs/, installs waitressd
#    into it exactly as a user does (`pip install .`, a maturin build) and the
#    pinned test dependencies (tests/python/requirements.txt).
# 2. Runs `cargo test --workspace` with WAITRESSD_TEST_VENVS naming those venvs, so
#    the integration tests also serve the Python twins of the fixture apps.
# 3. Runs the Python suite (tests/python: Flask, Django, real clients) in each venv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
versions="${WAITRESSD_TEST_PYTHONS:-3.11 3.13}"
venv_root="${CARGO_TARGET_DIR:-$root/target}/test-venvs"

find_python() { # find_python 3.11 → an interpreter of that version
  local v="$1" p
  for p in "$HOME/.pyenv/versions/$v"*/bin/python"$v" "$(command -v "python$v" || true)"; do
    if [ -n "$p" ] && [ -x "$p" ]; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

venvs=()
for v in $versions; do
  python="$(find_python "$v")" || {
    echo "test.sh: no Python $v found (pyenv install $v, or set WAITRESSD_TEST_PYTHONS)" >&2
    exit 1
  }
  venv="$venv_root/py$v"
  echo "test.sh: Python $v ($python) → $venv" >&2
  "$python" -m venv --clear "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$root"
  venvs+=("$venv")
done

export WAITRESSD_TEST_VENVS
WAITRESSD_TEST_VENVS="$(IFS=:; echo "${venvs[*]}")"
cargo test --workspace
for venv in "${venvs[@]}"; do
  echo "test.sh: Python suite with $venv" >&2
  "$venv/bin/python" -m pytest tests/python -q
done
