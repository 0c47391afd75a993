"""`./run.sh` as a user runs it: stopping it (Ctrl-C, `docker stop`, kill -9) leaves no worker behind.

Slow: the app's worker starts computing the demo project's suggestions at once, which loads torch
and the base model; the tests stop it in the middle of that.
"""
from __future__ import annotations

import os
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from core.config import Settings
from core.db import open_database
from core.launcher import PARENT_PID_ENV
from db.models import Worker
from tests.helpers import ROOT, as_from_a_terminal, wait_until
from tests.processes import free_port, open_streamlit_session, parent_pid, process_alive

pytestmark = pytest.mark.slow


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _live_worker_pids(db) -> list[int]:
    with db.read() as session:
        return list(session.scalars(select(Worker.pid).where(Worker.stopped.is_(False))))


@pytest.fixture
def app(tmp_path: Path):
    """run.sh on a free port with its own DATA_DIR, in a process group of its own like a terminal job."""
    data_dir = tmp_path / "data"
    port = free_port()
    env = dict(os.environ, DATA_DIR=str(data_dir), PORT=str(port), ADDRESS="127.0.0.1", WORKER_AUTOSTART="1")
    env.pop(PARENT_PID_ENV, None)
    log = open(tmp_path / "run.log", "wb")
    process = subprocess.Popen(["./run.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True, preexec_fn=as_from_a_terminal)
    db = None
    try:
        wait_until(lambda: _healthy(port) or process.poll() is not None, 120, "the app's health check", interval=0.5)
        assert process.poll() is None, (tmp_path / "run.log").read_text(errors="replace")[-3000:]
        open_streamlit_session(port)  # a first page view: app.py starts the worker
        db = open_database(Settings.from_env({"DATA_DIR": str(data_dir), "WORKER_AUTOSTART": "0"}))
        [worker_pid] = wait_until(lambda: _live_worker_pids(db), 60, "the app's worker to register")
        yield process, worker_pid, db
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        for pid in (_live_worker_pids(db) if db else []):
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)
        if db is not None:
            db.dispose()
        log.close()


@pytest.mark.parametrize("how", ["SIGTERM to the app (docker stop)", "SIGINT to the job (Ctrl-C)", "SIGKILL to the app"])
def test_stopping_run_sh_stops_the_worker_it_started(app, how):
    process, worker_pid, db = app
    assert process_alive(worker_pid)
    assert parent_pid(worker_pid) == process.pid  # run.sh exec'ed streamlit, which started the worker

    if how.startswith("SIGTERM"):
        os.kill(process.pid, signal.SIGTERM)
    elif how.startswith("SIGINT"):
        os.killpg(process.pid, signal.SIGINT)  # what the terminal sends to the foreground job
    else:
        os.kill(process.pid, signal.SIGKILL)

    wait_until(lambda: not process_alive(worker_pid), 15, "the worker to exit")
    assert process.wait(timeout=15) is not None
    with db.read() as session:
        # It left through its own clean-up path, not killed mid-write.
        assert session.scalar(select(Worker.stopped).where(Worker.pid == worker_pid)) is True
