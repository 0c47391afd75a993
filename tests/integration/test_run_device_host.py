"""Where a run ran: the worker records the torch device and its host on the run, and `runs --json` shows them."""
from __future__ import annotations

import json
import socket

from core.cli import main
from core.errors import ConfigError
from core.params import FAST_PRESET
from core.runs import get_run, request_retrain
from core.worker import TrainingWorker
from db.models import RunStatus
from tests.fakes import FakeFactory
from tests.helpers import ADMIN, make_labelled_project


def test_a_run_trained_by_the_worker_records_the_device_and_the_host(settings, db, project):
    make_labelled_project(db, project)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    assert (get_run(db, run.id).device, get_run(db, run.id).host) == (None, None)  # queued: no worker yet
    assert get_run(db, run.id).ran_on == ""

    worker = TrainingWorker(settings, db, worker_id="test-worker", classifiers=FakeFactory())
    assert worker.claim_next() == run.id
    assert worker.execute_any(run.id) == RunStatus.succeeded

    done = get_run(db, run.id)
    assert (done.device, done.host) == ("cpu", socket.gethostname())
    assert done.ran_on == f"cpu · {socket.gethostname()}"


def test_runs_json_shows_the_device_and_the_host(settings, db, project, monkeypatch, capsys):
    make_labelled_project(db, project)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    worker = TrainingWorker(settings, db, worker_id="test-worker", classifiers=FakeFactory())
    assert worker.claim_next() == run.id and worker.execute_any(run.id) == RunStatus.succeeded
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("WORKER_AUTOSTART", "0")
    capsys.readouterr()
    assert main(["runs", "--project", project.name, "--json"]) == 0
    [shown] = json.loads(capsys.readouterr().out)
    assert (shown["device"], shown["host"]) == ("cpu", socket.gethostname())


class _NoGpuFactory(FakeFactory):
    """A factory whose device cannot be had, as SetFitFactory with TORCH_DEVICE=cuda on a machine without one."""

    @property
    def device(self) -> str:
        raise ConfigError("TORCH_DEVICE=cuda, but torch sees no CUDA GPU on this machine.")


def test_a_device_that_cannot_be_had_fails_the_run_with_the_reason_and_the_worker_goes_on(settings, db, project):
    make_labelled_project(db, project)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    worker = TrainingWorker(settings, db, worker_id="test-worker", classifiers=_NoGpuFactory())
    assert worker.claim_next() == run.id
    assert worker.execute_any(run.id) == RunStatus.failed
    failed = get_run(db, run.id)
    assert failed.error == "TORCH_DEVICE=cuda, but torch sees no CUDA GPU on this machine."
    assert (failed.device, failed.host) == (None, socket.gethostname())
