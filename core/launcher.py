"""The worker process's lifetime: started by the app when none is alive, and stopped with the app.

A worker started this way inherits an exclusive flock on DATA_DIR/worker.lock for its whole life,
so two app sessions checking at once cannot both start one, and a dead worker frees the lock.

It must not outlive the app that started it (an orphan keeps 1 GB of torch and the old code). Two
paths stop it, because one alone misses a case:
- the app terminates it at interpreter exit (`atexit`), which covers Ctrl-C and `docker stop`
  (Docker then kills everything else in the container at once, so the worker must be gone first);
- the worker watches its parent (WORKER_PARENT_PID) and stops itself when it is reparented, which
  covers an app that dies without running exit handlers (kill -9, a crash).
PR_SET_PDEATHSIG is not used: it fires when the spawning *thread* ends, and Streamlit runs app.py
in short-lived script threads.

A worker started by hand (`python -m core worker`) gets no parent to watch and stays independent.
"""
from __future__ import annotations

import atexit
import fcntl
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import select, update

from core.config import Settings
from core.runs import alive_workers
from db.engine import Database
from db.models import RunStatus, TrainingRun, Worker, utcnow

ROOT = Path(__file__).resolve().parent.parent
PARENT_PID_ENV = "WORKER_PARENT_PID"
# Docker waits 10 s after SIGTERM before it kills; the worker needs well under that to stop.
STOP_TIMEOUT_SECONDS = 8.0
WORKER_STOPPED = "worker stopped: the worker was shut down (the app stopped, or Ctrl-C) while this run was training; retrain to try again"


def ensure_worker(settings: Settings, db: Database) -> bool:
    """Spawn `python -m core worker` unless one is heartbeating or holds the lock. True if spawned."""
    if not settings.worker_autostart:
        return False
    if alive_workers(db, settings.worker_lost_after_seconds):
        return False
    settings.ensure_dirs()
    lock_path = settings.data_dir / "worker.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # an autostarted worker is alive (maybe still importing torch)
        log_file = open(settings.data_dir / "worker.log", "ab")
        env = dict(os.environ, WORKER_LOCK_FD=str(fd), **{PARENT_PID_ENV: str(os.getpid())})
        # A session of its own: the terminal's Ctrl-C reaches only the app, which then stops the
        # worker once, through `_stop_child`, instead of both being interrupted at the same time.
        process = subprocess.Popen(
            [sys.executable, "-m", "core", "worker"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            pass_fds=(fd,), start_new_session=True, close_fds=True,
        )
        log_file.close()
        atexit.register(_stop_child, process)
        return True
    finally:
        os.close(fd)  # the child keeps its copy of the descriptor, and with it the lock


def _stop_child(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


# -- inside the worker process ------------------------------------------------------------------

def stop_on_sigterm() -> None:
    """Turn the first SIGTERM into KeyboardInterrupt, so the worker leaves through its clean-up path
    (its run marked, its row marked stopped); a second SIGTERM kills it as usual."""

    def interrupt(signum, frame) -> None:  # noqa: ANN001
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def parent_to_watch(env: dict[str, str] | None = None) -> int | None:
    """The app's pid when the app started this worker; None for a worker started by hand."""
    raw = (os.environ if env is None else env).get(PARENT_PID_ENV, "")
    return int(raw) if raw.strip().isdigit() else None


def watch_parent(parent_pid: int, poll_seconds: float = 1.0) -> threading.Thread:
    """Send SIGTERM to this process once it is no longer the child of `parent_pid`.

    A dead parent's children are reparented (to init or a subreaper), so a changed parent pid is
    the sign; unlike probing `parent_pid` itself it cannot be fooled by a reused pid.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


def fail_runs_of_this_process(db: Database) -> list[int]:
    """Fail the runs this process was training when it stopped, at once, instead of leaving them
    "running" until the lost-worker limit passes. Returns their ids."""
    with db.write() as session:
        mine = select(Worker.id).where(Worker.host == socket.gethostname(), Worker.pid == os.getpid())
        ids = list(session.scalars(select(TrainingRun.id).where(
            TrainingRun.status == RunStatus.running, TrainingRun.worker_id.in_(mine))))
        if ids:
            session.execute(update(TrainingRun).where(TrainingRun.id.in_(ids)).values(
                status=RunStatus.failed, error=WORKER_STOPPED, finished_at=utcnow(), phase=""))
    return ids


def run_workers(db: Database, run_ids: list[int]) -> dict[int, str]:
    """The id of the worker that claimed each run (runs never claimed are left out)."""
    with db.read() as session:
        rows = session.execute(select(TrainingRun.id, TrainingRun.worker_id).where(
            TrainingRun.id.in_(run_ids), TrainingRun.worker_id.is_not(None)))
        return {run_id: worker_id for run_id, worker_id in rows}
