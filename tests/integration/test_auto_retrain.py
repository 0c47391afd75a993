"""Retrain by itself after every N label changes: the count, the worker queueing and training it, and
what it refuses (a run already going, too few labels, a moderator setting it)."""
from __future__ import annotations

import pytest

from core.auto_retrain import auto_retrain_if_due, labels_until_next_model, set_auto_retrain
from core.errors import InvalidInput, PermissionDenied
from core.labeling import next_sentence, save_label
from core.params import FAST_PRESET
from core.runs import list_runs, request_retrain
from core.worker import TrainingWorker
from db.models import RunStatus
from tests.fakes import FakeFactory
from tests.helpers import ADMIN, make_labelled_project, moderator

SAM = moderator("sam")


def _label(db, project, n: int) -> None:
    seen: list[int] = []
    for i in range(n):
        view = next_sentence(db, project.id, queue_filter=_any(), exclude_ids=seen)
        seen.append(view.id)
        save_label(db, SAM, view.id, i % 2)


def _any():
    from core.labeling import QueueFilter

    return QueueFilter(unlabelled_only=False)


def test_off_by_default_and_only_admins_turn_it_on(db, project):
    make_labelled_project(db, project)
    assert labels_until_next_model(db, project.id) is None
    assert auto_retrain_if_due(db, project.id) is None
    with pytest.raises(PermissionDenied):
        set_auto_retrain(db, SAM, project.id, 20)
    with pytest.raises(InvalidInput, match="between 1 and 10,000"):
        set_auto_retrain(db, ADMIN, project.id, -1)


def test_the_worker_retrains_after_n_label_changes_since_the_last_run(settings, db, project):
    make_labelled_project(db, project)
    first = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    TrainingWorker(settings, db, worker_id="first", classifiers=FakeFactory()).run_forever(exit_when_idle=True)
    worker = TrainingWorker(settings, db, worker_id="test-worker", classifiers=FakeFactory())
    set_auto_retrain(db, ADMIN, project.id, 5)
    assert labels_until_next_model(db, project.id) == 5
    _label(db, project, 4)
    assert labels_until_next_model(db, project.id) == 1
    assert worker.auto_retrain_if_due() == []  # 4 of 5: not yet
    _label(db, project, 1)
    assert labels_until_next_model(db, project.id) == 0
    [queued] = worker.auto_retrain_if_due()
    assert auto_retrain_if_due(db, project.id) is None  # one queued already: no second
    worker.run_forever(poll_seconds=0.01, exit_when_idle=True)
    runs = {r.id: r for r in list_runs(db, project.id)}
    assert runs[queued].status == RunStatus.succeeded and runs[queued].requested_by == "auto-retrain"
    assert runs[queued].version == runs[first.id].version + 1
    assert labels_until_next_model(db, project.id) == 5  # counting starts again


def test_a_refusal_is_not_retried_until_labels_change_again(settings, db, project, monkeypatch):
    set_auto_retrain(db, ADMIN, project.id, 1)
    make_labelled_project(db, project, n_per_class=2)  # too few per label to train: refused
    worker = TrainingWorker(settings, db, worker_id="test-worker", classifiers=FakeFactory())
    assert worker.auto_retrain_if_due() == []
    calls = []
    import core.auto_retrain as auto

    monkeypatch.setattr(auto, "auto_retrain_if_due", lambda db, pid: calls.append(pid))
    assert worker.auto_retrain_if_due() == [] and calls == []  # nothing changed since the refusal
    _label(db, project, 1)
    worker.auto_retrain_if_due()
    assert calls == [project.id]


def test_no_new_model_while_the_active_versions_evaluation_batch_is_half_labelled(settings, db, project):
    from core.estimate import request_estimate
    from db.models import EstimateSample

    make_labelled_project(db, project)
    for i in range(40):  # unlabelled sentences for the batch to sample
        from core.importing import ImportRow, ParsedFile, commit_import

        commit_import(db, ADMIN, project.id, ParsedFile("more", (ImportRow(1, f"Another unlabelled post {i}.", None,
                                                                           "train", "more", i),), (), 0))
    request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    TrainingWorker(settings, db, worker_id="first", classifiers=FakeFactory()).run_forever(exit_when_idle=True)
    request_estimate(db, ADMIN, project.id)
    with db.read() as session:
        batch = [s.sentence_id for s in session.query(EstimateSample).order_by(EstimateSample.sentence_id)]
    assert len(batch) >= 2
    set_auto_retrain(db, ADMIN, project.id, 1)
    save_label(db, SAM, batch[0], 1)
    assert auto_retrain_if_due(db, project.id) is None  # half labelled: the new model waits
    for sid in batch[1:]:
        save_label(db, SAM, sid, 0)
    assert auto_retrain_if_due(db, project.id) is not None  # batch done: retrain
