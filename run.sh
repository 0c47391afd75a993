#!/usr/bin/env bash
# Command 1: install (first time), migrate the SQLite database, create the demo project on an empty
# database, and start the app on port 8501. The app starts its own background training worker.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/python -m core init --demo
# exec: Streamlit takes over this pid, so Ctrl-C and `docker stop`'s SIGTERM (to PID 1) reach it
# directly; on the way out it stops the worker it started (core/launcher.py). server.py is app.py inside
# st.App, with the two routes that set and clear the HttpOnly login cookie.
exec .venv/bin/python -m streamlit run server.py --server.port "${PORT:-8501}" --server.address "${ADDRESS:-0.0.0.0}"
