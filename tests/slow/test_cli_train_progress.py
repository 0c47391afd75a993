"""`train --wait` as a headless user sees it, and a worker stopped in the middle of a run (real training)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from core.launcher import WORKER_STOPPED
from core.params import FAST_PRESET
from core.runs import get_run, list_runs, request_retrain
from db.models import RunStatus
from tests.helpers import ADMIN, ROOT, as_from_a_terminal, env_for, make_labelled_project, start_worker, wait_until
from tests.processes import process_alive

pytestmark = pytest.mark.slow

LONG = FAST_PRESET.with_overrides({"max_steps": "400", "num_iterations": "20", "batch_size": "8", "logging_steps": "1"})
PROGRESS = re.compile(r"v1 (queued: waiting for a worker|[a-z -]+|[a-z -]+: step \d+/\d+(, ETA \d+ s|, ETA \d+ min \d\d s)?)")


def test_train_wait_in_process_prints_progress_lines_and_the_json_result_only(settings, db, project):
    make_labelled_project(db, project)
    result = subprocess.run(
        [sys.executable, "-m", "core", "train", "--project", project.name, "--wait",
         "--param", "max_steps=8", "--param", "num_iterations=1", "--param", "logging_steps=1"],
        cwd=ROOT, env=env_for(settings.data_dir), capture_output=True, text=True, timeout=300,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["status"] == "succeeded"  # stdout is the JSON alone
    lines = result.stderr.splitlines()
    steps = [re.fullmatch(r"v1 fine-tuning the sentence encoder: step (\d+)/(\d+).*", line) for line in lines]
    total = int(next(m for m in steps if m).group(2))  # one pass over the pairs caps it below max_steps
    assert 1 < total <= 8
    # The last step shows: under fine-tuning, or under the next phase when that began between two polls.
    assert any(re.fullmatch(rf"v1 [a-z -]+: step {total}/{total}", line) for line in lines)
    # An ETA line needs a poll between step 3 and the last step, which a 5-step run may not give:
    # its format is held by PROGRESS below, its value by tests/integration/test_cli_runs.py.
    # Nothing but our progress lines: no bars, no trainer log dicts, no "random weights" notice.
    assert [line for line in lines if not PROGRESS.fullmatch(line)] == []
    for noise in ("Warning", "weights", "it/s", "%|", "{'"):
        assert noise not in result.stderr
    assert "random weights" not in (settings.data_dir / "worker.log").read_text(encoding="utf-8")


def test_sigterm_to_a_worker_mid_run_fails_the_run_as_worker_stopped_at_once(settings, db, project):
    make_labelled_project(db, project)
    worker = start_worker(settings.data_dir)
    try:
        run = request_retrain(db, ADMIN, project.id, LONG, "custom")
        wait_until(lambda: get_run(db, run.id).progress_step >= 2, 240, "training to be under way")

        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)

        stopped = get_run(db, run.id)
        assert (stopped.status, stopped.error) == (RunStatus.failed, WORKER_STOPPED)
        assert not process_alive(worker.pid)
    finally:
        if worker.poll() is None:
            worker.kill()


def test_ctrl_c_during_train_wait_in_process_fails_the_run_as_worker_stopped(settings, db, project):
    make_labelled_project(db, project)
    cli = subprocess.Popen(
        [sys.executable, "-m", "core", "train", "--project", project.name, "--wait", "--param", "max_steps=400",
         "--param", "num_iterations=20", "--param", "batch_size=8"],
        cwd=ROOT, env=env_for(settings.data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=as_from_a_terminal,
    )
    try:
        wait_until(lambda: (runs := list_runs(db, project.id)) and runs[0].progress_step >= 2, 240,
                   "training to be under way")
        cli.send_signal(signal.SIGINT)
        out, err = cli.communicate(timeout=30)
    finally:
        if cli.poll() is None:
            cli.kill()

    assert cli.returncode == 130
    assert out == ""  # no JSON for a run that did not end by itself
    [run] = list_runs(db, project.id)
    assert (run.status, run.error) == (RunStatus.failed, WORKER_STOPPED)
    assert err.splitlines()[-1] == f"interrupted: run {run.id} marked failed"
