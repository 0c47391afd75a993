#!/usr/bin/env bash
# Command 2: install what the tests need (Python packages and Debian's chromium) and run the whole suite.
# Extra arguments go to pytest, e.g. `./test.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")"
# Debian's chromium for the browser tests and PostgreSQL's server for the integration tests' second
# database (tests/postgres.py runs a throwaway cluster; it is never started as a service).
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
scripts/install.sh --dev
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec .venv/bin/python -m pytest "$@"
