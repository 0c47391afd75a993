"""Several workers share one queue: each queued run is claimed by exactly one of them and trained once,
runs of different projects at the same time (on PostgreSQL with SELECT ... FOR UPDATE SKIP LOCKED, on
SQLite with BEGIN IMMEDIATE). The training itself is the fake classifier: the claim is what is tested."""
from __future__ import annotations

import threading

from core.params import FAST_PRESET
from core.projects import create_project
from core.runs import get_run, request_retrain
from core.worker import TrainingWorker
from db.models import RunStatus, TrainingRun
from tests.fakes import FakeFactory
from tests.helpers import ADMIN, make_labelled_project


def test_three_workers_train_six_queued_runs_of_six_projects_each_exactly_once(settings, db):
    runs = []
    for i in range(6):
        project = create_project(db, ADMIN, f"project {i}", ["other", "physical violence"], test_fraction=0.25)
        make_labelled_project(db, project)
        runs.append(request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast").id)
    claims: list[tuple[str, int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def serve(name: str) -> None:
        try:
            worker = TrainingWorker(settings, db, worker_id=name, classifiers=FakeFactory())
            start.wait()  # all three ask at the same moment
            while (run_id := worker.claim_next()) is not None:
                claims.append((name, run_id))
                assert worker.execute_any(run_id) == RunStatus.succeeded
        except BaseException as error:  # reported below: an assertion in a thread would be lost
            errors.append(error)

    threads = [threading.Thread(target=serve, args=(f"worker-{k}",)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(run_id for _, run_id in claims) == sorted(runs)  # every run once, none twice
    for name, run_id in claims:
        assert get_run(db, run_id).status == RunStatus.succeeded
        with db.read() as session:
            assert session.get(TrainingRun, run_id).worker_id == name  # the claimer trained it
