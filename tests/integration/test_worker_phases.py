"""The worker's phases with a fake classifier (tests/fakes.py): their order, one scoring pass over every
sentence that also gives the test metrics, and the learning curve through the same guarded wrapper."""
from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.evaluation import confusion_matrix
from core.learning_curve import learning_curve_points
from core.params import FAST_PRESET
from core.runs import active_run, cancel_run, get_run, request_retrain
from core.suggestions import project_sentences
from core.worker import TrainingWorker
from db.models import Prediction, RunKind, RunStatus
from tests.fakes import FakeFactory
from tests.helpers import ADMIN, make_labelled_project
from tests.three_labels import TEST, UNLABELLED, make_three_label_project


def _claimed(settings, db, run_id: int, factory: FakeFactory) -> TrainingWorker:
    worker = TrainingWorker(settings, db, worker_id="test-worker", classifiers=factory)
    assert worker.claim_next(run_id) == run_id
    return worker


def _phases_written(worker: TrainingWorker, monkeypatch) -> list[str]:
    """The phase texts the Train page shows, in the order the worker writes them."""
    phases: list[str] = []
    write = worker._update_run

    def spy(run_id: int, **values) -> None:
        if "phase" in values:
            phases.append(values["phase"])
        write(run_id, **values)

    monkeypatch.setattr(worker, "_update_run", spy)
    return phases


def test_a_run_goes_through_its_phases_in_order(settings, db, project, monkeypatch):
    make_labelled_project(db, project)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    worker = _claimed(settings, db, run.id, FakeFactory())
    phases = _phases_written(worker, monkeypatch)
    assert worker.execute(run.id) == RunStatus.succeeded
    # A fake classifier has no ONNX export, so no "exporting to ONNX" / "choosing a scoring backend".
    assert phases == ["fitting a fake head", "saving the model", "scoring the labelled sentences",
                      "looking for suspicious labels", "publishing the new version", "scoring every sentence",
                      "finishing"]
    done = get_run(db, run.id)
    assert done.phase == "" and done.is_active and (settings.models_dir / str(run.id)).is_dir()


def test_every_sentence_is_scored_once_and_the_test_metrics_come_from_those_scores(settings, db):
    project = make_three_label_project(db)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    factory = FakeFactory()
    assert _claimed(settings, db, run.id, factory).execute(run.id) == RunStatus.succeeded

    trained, base = factory.made  # the new version, then the base body for contradicting pairs
    texts = project_sentences(db, project.id).texts
    assert len(texts) == 18
    # Labelled ones first (their test rows give the metrics), then the rest: no text twice.
    assert sorted(trained.scored) == sorted(texts)
    assert trained.scored[-2:] == UNLABELLED
    # The base body embeds only the labelled sentences (for contradicting pairs); the suspects come from
    # the new version's embeddings, which scoring cached: it embedded no text twice.
    assert sorted(base.scored) == sorted(set(texts) - set(UNLABELLED))

    done = get_run(db, run.id)
    with db.read() as session:
        stored = {p.sentence_id: p.label for p in session.query(Prediction).filter(Prediction.run_id == run.id)}
    data = project_sentences(db, project.id)
    test_ids = [data.ids[data.texts.index(text)] for text, _ in TEST]
    given = [2 if label == "violence" else 0 for _, label in TEST]
    assert done.metrics["confusion"] == confusion_matrix(given, [stored[i] for i in test_ids], [0, 1, 2])
    assert done.metrics["confusion"] == [[2, 0, 0], [0, 0, 0], [0, 0, 2]] and done.accuracy == 1.0
    assert list(done.metrics) == ["train_seconds", "accuracy", "n_test", "labels", "per_label", "confusion",
                                  "n_eval_pairs", "phase_seconds"]
    assert list(done.metrics["phase_seconds"]) == [  # the run's profile, one entry per phase in order
        "fitting a fake head", "saving the model", "scoring the labelled sentences", "looking for suspicious labels",
        "publishing the new version", "scoring every sentence", "finishing"]
    assert all(seconds >= 0 for seconds in done.metrics["phase_seconds"].values())
    assert done.metrics["n_test"] == 4 and done.metrics["n_eval_pairs"] == 4
    assert [card.accuracy for card in trained.cards] == [1.0]  # the card records the same accuracy
    assert done.run_metrics.for_label(2).recall == 1.0 and done.run_metrics.for_label(1).support == 0


def test_a_learning_curve_trains_on_growing_shares_and_keeps_no_model(settings, db, project, monkeypatch):
    make_labelled_project(db, project)
    job = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast", kind=RunKind.learning_curve)
    factory = FakeFactory()
    worker = _claimed(settings, db, job.id, factory)
    phases = _phases_written(worker, monkeypatch)
    assert worker.execute_any(job.id) == RunStatus.succeeded
    assert phases == ["training on 4 labels (25%)", "training on 9 labels (50%)", "training on 14 labels (75%)",
                      "training on 18 labels (100%)"]
    points = learning_curve_points(db, project.id)
    assert [(p["fraction"], p["n_labels"]) for p in points] == [(0.25, 4), (0.5, 9), (0.75, 14), (1.0, 18)]
    assert [p["accuracy"] for p in points] == [0.5, 1.0, 1.0, 1.0]  # 4 labels are too few even here
    done = get_run(db, job.id)
    assert done.kind == RunKind.learning_curve and (done.progress_step, done.progress_total) == (4, 4)
    assert done.activation_note == "learning curve (no model version is kept)" and done.model_dir is None
    assert active_run(db, project.id) is None and len(factory.made) == 4
    assert not settings.models_dir.exists() or not any(settings.models_dir.iterdir())


def test_a_learning_curve_without_test_sentences_fails_with_what_to_do(settings, db, project):
    from core.importing import ImportRow, ParsedFile, commit_import

    rows = [ImportRow(i, f"he hit me {i}", "1", "train", "", i) for i in range(1, 5)]
    rows += [ImportRow(10 + i, f"we had lunch {i}", "0", "train", "", i) for i in range(1, 5)]
    commit_import(db, ADMIN, project.id, ParsedFile("t", tuple(rows), (), 0))
    job = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast", kind=RunKind.learning_curve)
    assert _claimed(settings, db, job.id, FakeFactory()).execute_any(job.id) == RunStatus.failed
    failed = get_run(db, job.id)
    assert failed.error == "A learning curve needs labelled test sentences to measure accuracy on."
    assert learning_curve_points(db, project.id) == []


def test_a_learning_curve_cancelled_between_shares_ends_cancelled(settings, db, project):
    make_labelled_project(db, project)
    job = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast", kind=RunKind.learning_curve)
    # two points measured: the moderator presses Cancel
    factory = FakeFactory(before_new=lambda made: made == 2 and cancel_run(db, ADMIN, job.id))
    worker = _claimed(settings, db, job.id, factory)
    assert worker.execute_any(job.id) == RunStatus.cancelled
    cancelled = get_run(db, job.id)
    assert cancelled.status == RunStatus.cancelled and cancelled.error == "cancelled by a moderator"
    assert [p["n_labels"] for p in cancelled.metrics["points"]] == [4, 9]  # what it measured before


def test_a_finished_learning_curve_cannot_be_finished_again(settings, db, project):
    from core.learning_curve import CurvePoint, finish_learning_curve

    make_labelled_project(db, project)
    job = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast", kind=RunKind.learning_curve)
    _claimed(settings, db, job.id, FakeFactory()).execute_any(job.id)
    with pytest.raises(InvalidInput, match=r"^Version 1 is succeeded, not running; its model is not kept\.$"):
        finish_learning_curve(db, job.id, [CurvePoint(1.0, 18, 0.5)])
    assert [p["accuracy"] for p in learning_curve_points(db, project.id)] == [0.5, 1.0, 1.0, 1.0]


_SLOW_WORKER = """
import sys, time
from core.config import Settings
from core.db import open_database
from core.worker import TrainingWorker
import core.worker
from tests.fakes import FakeClassifier, FakeFactory

core.worker.SCORE_CHUNK = 2
embed = FakeClassifier.embed

def slow_embed(self, texts):
    if len(texts) <= 2:  # the chunks of the rest: slow enough to be killed between two of them
        time.sleep(0.4)
    return embed(self, texts)

FakeClassifier.embed = slow_embed
settings = Settings.from_env()
worker = TrainingWorker(settings, open_database(settings, migrate=False), worker_id="doomed", classifiers=FakeFactory())
worker.register()
worker.claim_next(int(sys.argv[1]))
worker.execute(int(sys.argv[1]))
"""


def test_scoring_every_sentence_resumes_after_kill_9_where_it_stopped(settings, db, project):
    """A real worker process killed with SIGKILL half-way through scoring every sentence: the run is not
    failed, another worker claims it once the heartbeat is stale and scores only what is left."""
    import os
    import signal
    import subprocess
    import sys
    from datetime import timedelta

    from sqlalchemy import update

    from core.importing import ImportRow, ParsedFile, commit_import
    from db.models import TrainingRun, utcnow
    from tests.helpers import ROOT, env_for, wait_until

    make_labelled_project(db, project)
    extra = [ImportRow(100 + i, f"an unlabelled note number {i} about the garden", None, "train", "", i)
             for i in range(12)]
    commit_import(db, ADMIN, project.id, ParsedFile("t", tuple(extra), (), 0))
    data = project_sentences(db, project.id)
    unlabelled = [t for t, l in zip(data.texts, data.labels) if l is None]
    total = len(data.ids)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")

    doomed = subprocess.Popen([sys.executable, "-c", _SLOW_WORKER, str(run.id)], cwd=ROOT,
                              env=dict(env_for(settings.data_dir), PYTHONPATH=str(ROOT)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Two chunks of the rest stored: kill it as the OOM killer would, between chunks.
        wait_until(lambda: get_run(db, run.id).scored >= total - len(unlabelled) + 4, 60, "two chunks scored")
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(10)
    finally:
        if doomed.poll() is None:
            doomed.kill()
    half = get_run(db, run.id)
    with db.read() as session:
        stored = session.query(Prediction).filter(Prediction.run_id == run.id).count()
    assert half.status == RunStatus.running and not half.is_active and half.model_dir
    assert half.scored == stored and total - len(unlabelled) + 4 <= stored < total

    from core.runs import mark_lost_runs
    stale = utcnow() - timedelta(seconds=settings.worker_lost_after_seconds + 1)
    with db.write() as session:
        session.execute(update(TrainingRun).where(TrainingRun.id == run.id).values(heartbeat_at=stale))
    assert mark_lost_runs(db, settings.worker_lost_after_seconds) == []  # resumable, not lost

    factory = FakeFactory()
    successor = TrainingWorker(settings, db, worker_id="successor", classifiers=factory)
    assert successor.resume_scoring_if_due() == [run.id]
    loaded = factory.made[-1]  # the published version, loaded from its folder (then the base body)
    scored_after = [t for t in loaded.scored if t in unlabelled]
    assert len(scored_after) == total - stored  # only what had no prediction yet, each once
    done = get_run(db, run.id)
    with db.read() as session:
        assert session.query(Prediction).filter(Prediction.run_id == run.id).count() == total
    assert done.status == RunStatus.succeeded and done.is_active and (done.scored, done.score_total) == (total, total)
    assert successor.resume_scoring_if_due() == []


def test_a_failed_export_after_the_run_keeps_torch_and_the_worker_serving(settings, db, project, monkeypatch):
    from sqlalchemy import update

    from db.models import TrainingRun

    make_labelled_project(db, project)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    worker = _claimed(settings, db, run.id, FakeFactory())
    assert worker.execute(run.id) == RunStatus.succeeded
    with db.write() as session:  # as a small project's SetFit version is left: torch now, ONNX once idle
        session.execute(update(TrainingRun).where(TrainingRun.id == run.id).values(
            scoring_note="torch (25 sentences to score: an ONNX export would cost more than it saves; "
                         "exported after the run)"))

    def broken(*args):
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(worker, "_export_and_choose", broken)
    assert worker.export_deferred_if_due() == []  # no exception escapes into the worker's loop
    done = get_run(db, run.id)
    assert done.scoring_backend == "torch" and done.scoring_note.startswith("torch (ONNX export failed: ")
    assert "exporter crashed" in done.scoring_note
    assert worker.export_deferred_if_due() == []  # not retried every idle second
