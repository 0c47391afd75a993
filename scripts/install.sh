#!/usr/bin/env bash
# Create .venv and install the pinned requirements (a no-op when nothing changed since last time).
# Usage: scripts/install.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
files=(requirements.txt)
[ "${1:-}" = "--dev" ] && files+=(requirements-dev.txt)
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.installed-$(cat "${files[@]}" constraints.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  args=()
  for f in "${files[@]}"; do args+=(-r "$f"); done
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "${args[@]}" -c constraints.txt
  touch "$stamp"
fi
