"""A worker's recovery while it runs, not only at its start: the temp folder of a run whose worker was
killed is removed once the run is found lost, and the heartbeat outlives a database that cannot be reached
for a moment. A fake classifier (tests/fakes.py): nothing here imports torch."""
from __future__ import annotations

import threading
from dataclasses import replace

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from core.params import FAST_PRESET
from core.runs import WORKER_LOST, get_run, request_retrain
from core.worker import TrainingWorker
from db.models import RunStatus, TrainingRun, Worker, utcnow
from tests.fakes import FakeFactory
from tests.helpers import ADMIN, make_labelled_project, wait_until


def _quick(settings):
    return replace(settings, heartbeat_seconds=0.2, worker_lost_after_seconds=1.0)


def test_an_idle_worker_removes_the_temp_folder_of_a_run_lost_after_it_started(settings, db, project):
    """A worker restarted at once after a kill -9 still sees the dead run as running, so its start leaves
    the run's temp folder; the idle loop removes it once the run is failed as lost."""
    settings = _quick(settings)
    make_labelled_project(db, project)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    with db.write() as session:  # as a killed worker left it: claimed, heartbeating until just now
        session.execute(update(TrainingRun).where(TrainingRun.id == run.id).values(
            status=RunStatus.running, worker_id="killed", started_at=utcnow(), heartbeat_at=utcnow()))
    temp = settings.models_dir / f".tmp-run-{run.id}-0a1b2c3d"
    temp.mkdir(parents=True)
    (temp / "model_head.pkl").write_bytes(b"half")

    worker = TrainingWorker(settings, db, worker_id="restarted", classifiers=FakeFactory())
    worker.recover()
    assert temp.is_dir() and get_run(db, run.id).status == RunStatus.running  # not yet lost: kept

    loop = threading.Thread(target=worker.run_forever, kwargs={"poll_seconds": 0.05}, daemon=True)
    loop.start()
    try:
        wait_until(lambda: not temp.exists(), 15, "the idle worker to remove the lost run's temp folder")
    finally:
        worker.stop()
        loop.join(timeout=15)
    lost = get_run(db, run.id)
    assert (lost.status, lost.error) == (RunStatus.failed, WORKER_LOST)
    assert sorted(p.name for p in settings.models_dir.iterdir()) == []


def test_the_heartbeat_goes_on_after_the_database_could_not_be_reached(settings, db, monkeypatch):
    worker = TrainingWorker(_quick(settings), db, worker_id="steady", classifiers=FakeFactory())
    beat, failures = worker.heartbeat, []

    def unreachable_twice() -> None:
        if len(failures) < 2:
            failures.append(1)
            raise OperationalError("UPDATE workers ...", {}, Exception("connection refused"))
        beat()

    monkeypatch.setattr(worker, "heartbeat", unreachable_twice)
    worker.register()
    try:
        with db.read() as session:
            registered = session.scalar(select(Worker.heartbeat_at).where(Worker.id == "steady"))

        def beaten_since():
            with db.read() as session:
                return session.scalar(select(Worker.heartbeat_at).where(Worker.id == "steady")) > registered

        wait_until(beaten_since, 10, "a heartbeat after two failed ones")
    finally:
        worker.stop()
    assert len(failures) == 2
