"""What a headless user sees of a training run through the CLI: live fields, lost runs, the progress line.

No training here: run rows are written the way the worker writes them (tests/slow trains for real).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from sqlalchemy import update

from core.cli import main
from core.config import Settings
from core.params import FAST_PRESET
from core.runs import WORKER_LOST, get_run, request_retrain
from db.models import RunStatus, TrainingRun, Worker, utcnow
from tests.helpers import ADMIN, ROOT, env_for, make_labelled_project, wait_until


@pytest.fixture
def cli_env(settings, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("WORKER_AUTOSTART", "0")
    monkeypatch.delenv("WORKER_LOST_AFTER_SECONDS", raising=False)  # the default, 60 s
    monkeypatch.delenv("HEARTBEAT_SECONDS", raising=False)


def _running(db, run_id: int, *, started_ago: float, heartbeat_ago: float, step: int, total: int,
             phase: str = "fine-tuning the sentence encoder", worker_id: str = "host-4242-abcdef") -> None:
    now = utcnow()
    with db.write() as session:
        session.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(
            status=RunStatus.running, worker_id=worker_id, phase=phase, progress_step=step, progress_total=total,
            started_at=now - timedelta(seconds=started_ago), heartbeat_at=now - timedelta(seconds=heartbeat_ago)))


def _runs_json(capsys, project_name: str) -> list[dict]:
    assert main(["runs", "--project", project_name, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_runs_json_shows_phase_step_eta_heartbeat_and_worker_of_a_running_run(db, project, cli_env, capsys):
    make_labelled_project(db, project)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    # 10 of 40 steps in 30 s: 3 s a step, so 30 steps are 90 s away.
    _running(db, run.id, started_ago=30, heartbeat_ago=2, step=10, total=40)

    [shown] = _runs_json(capsys, project.name)

    assert shown["status"] == "running"
    assert shown["phase"] == "fine-tuning the sentence encoder"
    assert (shown["step"], shown["total_steps"]) == (10, 40)
    assert 90 <= shown["eta_seconds"] <= 92  # the second or so this test takes adds 3 s of ETA per s
    assert 2.0 <= shown["heartbeat_age_seconds"] <= 3.0
    assert shown["worker"] == "host-4242-abcdef"
    assert shown["error"] is None


def test_runs_table_shows_the_same_compactly(db, project, cli_env, capsys):
    make_labelled_project(db, project)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    _running(db, run.id, started_ago=30, heartbeat_ago=2, step=10, total=40)

    assert main(["runs", "--project", project.name]) == 0
    lines = capsys.readouterr().out.splitlines()

    assert re.match(rf"  v1   run {run.id:<4} running    fast ", lines[0])
    # 30 steps left at (30 + d) / 10 s a step: 90 s plus 3 s per second d until the CLI reads the row (a
    # second or more on a loaded 2-core machine); the heartbeat ages by d too.
    assert re.fullmatch(r"      fine-tuning the sentence encoder: step 10/40, ETA 1 min 3[0-9] s; heartbeat [2-5] s ago; "
                        r"worker host-4242-abcdef", lines[1])


def test_runs_fails_a_run_whose_worker_went_silent(db, project, cli_env, capsys):
    make_labelled_project(db, project)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    _running(db, run.id, started_ago=300, heartbeat_ago=120, step=10, total=40)  # limit: 60 s

    [shown] = _runs_json(capsys, project.name)

    assert shown["status"] == "failed"
    assert shown["error"] == WORKER_LOST
    assert shown["eta_seconds"] is None and shown["heartbeat_age_seconds"] is None
    assert get_run(db, run.id).status == RunStatus.failed  # written, not only shown


def test_runs_leaves_a_heartbeating_run_running(db, project, cli_env, capsys):
    make_labelled_project(db, project)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    _running(db, run.id, started_ago=300, heartbeat_ago=50, step=10, total=40)  # under the 60 s limit

    [shown] = _runs_json(capsys, project.name)

    assert shown["status"] == "running" and shown["error"] is None


def test_train_queues_a_new_run_after_failing_a_lost_one(db, project, cli_env, capsys):
    make_labelled_project(db, project)
    lost = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    _running(db, lost.id, started_ago=300, heartbeat_ago=120, step=10, total=40)

    assert main(["train", "--project", project.name]) == 0  # no longer "Version 1 is already running"
    out = capsys.readouterr()

    queued = json.loads(out.out)
    assert (queued["version"], queued["status"]) == (2, "queued")
    assert out.err == f"note: run {lost.id} failed: its worker stopped sending heartbeats\n"
    assert get_run(db, lost.id).error == WORKER_LOST


def test_predict_fails_a_lost_run_before_scoring(db, project, cli_env, capsys, tmp_path):
    make_labelled_project(db, project)
    lost = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    _running(db, lost.id, started_ago=300, heartbeat_ago=120, step=10, total=40)
    source = tmp_path / "in.txt"
    source.write_text("He shoved me.\n", encoding="utf-8")

    # No model yet, so predict itself refuses; the lost run is failed on the way in all the same.
    main(["predict", "--project", project.name, "--input", str(source), "--output", str(tmp_path / "out.csv")])

    assert get_run(db, lost.id).status == RunStatus.failed and get_run(db, lost.id).error == WORKER_LOST


def test_train_wait_prints_progress_to_stderr_and_only_json_to_stdout(settings, db, project, tmp_path):
    """A worker (played by this test, heartbeating for real) trains the run the CLI queued and waits on."""
    make_labelled_project(db, project)
    env = {**env_for(settings.data_dir), "WORKER_LOST_AFTER_SECONDS": "60", "HEARTBEAT_SECONDS": "5"}
    with db.write() as session:
        session.add(Worker(id="test-worker", host="test", pid=os.getpid()))
    beating = threading.Event()

    def heartbeat() -> None:
        while not beating.wait(0.5):
            with db.write() as session:
                session.execute(update(Worker).where(Worker.id == "test-worker").values(heartbeat_at=utcnow()))

    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    cli = subprocess.Popen([sys.executable, "-m", "core", "train", "--project", project.name, "--wait"],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_id = wait_until(lambda: _queued_run(db, project.id), 30, "the CLI to queue a run")
        # Each state is held for longer than the CLI's poll (0.5 s) and its one-line-a-second limit.
        _running(db, run_id, started_ago=0, heartbeat_ago=0, step=0, total=0, phase="loading the base model",
                 worker_id="test-worker")
        threading.Event().wait(1.5)
        _running(db, run_id, started_ago=30, heartbeat_ago=0, step=10, total=40, worker_id="test-worker")
        threading.Event().wait(1.5)
        with db.write() as session:
            session.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(
                status=RunStatus.succeeded, finished_at=utcnow(), phase="", progress_step=40,
                metrics_json=json.dumps({"accuracy": 0.75})))
        out, err = cli.communicate(timeout=30)
    finally:
        beating.set()
        if cli.poll() is None:
            cli.kill()

    assert cli.returncode == 0, err
    result = json.loads(out)  # stdout is the result alone
    assert (result["run_id"], result["status"], result["accuracy"], result["worker"]) == (run_id, "succeeded", 0.75, "test-worker")
    lines = err.splitlines()
    assert lines[0] == "v1 queued: waiting for a worker"
    assert "v1 loading the base model" in lines
    assert any(re.fullmatch(r"v1 fine-tuning the sentence encoder: step 10/40, ETA 1 min 3\d s", line) for line in lines), lines
    assert all(line.startswith("v1 ") for line in lines), lines


def _queued_run(db, project_id: int) -> int | None:
    with db.read() as session:
        return session.query(TrainingRun.id).filter(TrainingRun.project_id == project_id,
                                                    TrainingRun.status == RunStatus.queued).scalar()


def test_train_refuses_a_repeat_of_a_kept_version_until_forced(db, project, cli_env, capsys):
    from core.run_metrics import RunMetrics
    from core.runs import finish_run

    make_labelled_project(db, project)
    first = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    with db.write() as session:
        session.get(TrainingRun, first.id).status = RunStatus.running
    finish_run(db, first.id, RunMetrics(train_seconds=1.0, accuracy=0.75), "/models/1", "sha")
    assert main(["train", "--project", project.name]) == 1
    assert "No label has changed since the active version 1" in capsys.readouterr().err
    assert main(["train", "--project", project.name, "--force"]) == 0
    queued = json.loads(capsys.readouterr().out)
    assert (queued["version"], queued["status"]) == (2, "queued")
