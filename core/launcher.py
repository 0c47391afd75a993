"""Start a worker process from the app when none is alive, so one start command gives retraining.

A worker started this way inherits an exclusive flock on DATA_DIR/worker.lock for its whole life,
so two app sessions checking at once cannot both start one, and a dead worker frees the lock.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

from core.config import Settings
from core.runs import alive_workers
from db.engine import Database

ROOT = Path(__file__).resolve().parent.parent


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
        env = dict(os.environ, WORKER_LOCK_FD=str(fd))
        subprocess.Popen(
            [sys.executable, "-m", "core", "worker"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            pass_fds=(fd,), start_new_session=True, close_fds=True,
        )
        log_file.close()
        return True
    finally:
        os.close(fd)  # the child keeps its copy of the descriptor, and with it the lock
