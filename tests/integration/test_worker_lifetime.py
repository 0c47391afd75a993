"""How long a worker process lives: an app-started one dies with its parent, a hand-started one does not.

The workers here are idle on a database without projects, so none of them imports torch.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from core.launcher import PARENT_PID_ENV, WORKER_STOPPED, fail_runs_of_this_process
from core.params import FAST_PRESET
from core.projects import create_project
from core.runs import get_run, request_retrain
from db.models import RunStatus, TrainingRun, Worker, utcnow
from tests.helpers import ADMIN, ROOT, env_for, make_labelled_project, wait_until
from tests.processes import process_alive


def _worker_row(db, pid: int) -> Worker | None:
    with db.read() as session:
        return session.scalar(select(Worker).where(Worker.pid == pid))


def _env(data_dir: Path) -> dict[str, str]:
    env = env_for(data_dir)
    env.pop(PARENT_PID_ENV, None)
    return env


def test_worker_started_by_hand_outlives_the_shell_that_started_it(settings, db):
    settings.ensure_dirs()
    shell = subprocess.run(
        ["sh", "-c", f"'{sys.executable}' -m core worker >>'{settings.data_dir}/hand.log' 2>&1 & echo $!"],
        cwd=ROOT, env=_env(settings.data_dir), capture_output=True, text=True, timeout=30,
    )
    pid = int(shell.stdout.strip())
    try:
        wait_until(lambda: _worker_row(db, pid), 30, "the worker to register")
        # The shell is gone: a watched worker would stop within a second; this one keeps heartbeating.
        first = _worker_row(db, pid).heartbeat_at
        wait_until(lambda: _worker_row(db, pid).heartbeat_at > first, 10, "a later heartbeat")
        assert process_alive(pid)

        os.kill(pid, signal.SIGTERM)  # as `docker stop` or `kill` sends it: a clean stop
        wait_until(lambda: not process_alive(pid), 15, "the worker to exit")
        assert _worker_row(db, pid).stopped is True
    finally:
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_worker_started_with_a_parent_stops_when_the_parent_is_killed(settings, db):
    settings.ensure_dirs()
    # A stand-in for the app: spawns the worker as ensure_worker does, then sleeps until killed.
    parent_code = (
        "import os, subprocess, sys, time\n"
        f"env = dict(os.environ, {PARENT_PID_ENV}=str(os.getpid()))\n"
        f"log = open({str(settings.data_dir / 'worker.log')!r}, 'ab')\n"
        "child = subprocess.Popen([sys.executable, '-m', 'core', 'worker'], env=env, stdout=log, stderr=log,"
        " start_new_session=True)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], cwd=ROOT, env=_env(settings.data_dir),
                              stdout=subprocess.PIPE, text=True)
    pid = int(parent.stdout.readline())
    try:
        wait_until(lambda: _worker_row(db, pid), 30, "the worker to register")
        assert process_alive(pid)

        parent.kill()  # no exit handlers run: only the worker's own watch can notice
        parent.wait(timeout=10)

        wait_until(lambda: not process_alive(pid), 10, "the worker to exit after its parent")
        assert _worker_row(db, pid).stopped is True  # it left through its clean-up path
    finally:
        if parent.poll() is None:
            parent.kill()
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_runs_of_a_stopping_process_fail_as_worker_stopped_and_others_stay(db, project):
    make_labelled_project(db, project)
    mine = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    other_project = create_project(db, ADMIN, "other project", ["a", "b"], test_fraction=0.25)
    make_labelled_project(db, other_project)
    theirs = request_retrain(db, ADMIN, other_project.id, FAST_PRESET, "fast")
    now = utcnow()
    with db.write() as session:
        session.add(Worker(id="me", host=socket.gethostname(), pid=os.getpid()))
        session.add(Worker(id="someone-else", host=socket.gethostname(), pid=os.getpid() + 100000))
        for run_id, worker_id in ((mine.id, "me"), (theirs.id, "someone-else")):
            run = session.get(TrainingRun, run_id)
            run.status, run.worker_id, run.started_at, run.heartbeat_at = RunStatus.running, worker_id, now, now

    assert fail_runs_of_this_process(db) == [mine.id]

    stopped = get_run(db, mine.id)
    assert (stopped.status, stopped.error, stopped.phase) == (RunStatus.failed, WORKER_STOPPED, "")
    assert stopped.finished_at is not None
    assert get_run(db, theirs.id).status == RunStatus.running
