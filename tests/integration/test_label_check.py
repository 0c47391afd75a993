"""The cross-fitted label check (core/label_check.py) through the worker, with the fake classifier of
tests/fakes.py: every label judged by a model that never saw it, the suspects replacing the project's, no
model version kept, and the ways it ends badly."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from core.errors import AppError
from core.importing import ImportRow, ParsedFile, commit_import
from core.label_check import NO_MODEL_NOTE, cross_fitted_probs, fold_count, label_check_history, suspect_source
from core.classifier import TrainingHooks
from core.params import FAST_PRESET
from core.runs import Example, active_run, cancel_run, current_run, get_run, request_retrain
from core.suggestions import check_queue
from core.worker import TrainingWorker
from db.models import AuditAction, AuditEntry, RunKind, RunStatus
from tests.fakes import FakeFactory
from tests.helpers import ADMIN, OTHER, VIOLENT

WRONG = VIOLENT[3]  # imported as "0": the one label a careful check must find


def _import(db, project, violent=VIOLENT, other=OTHER, wrong: str | None = WRONG) -> None:
    rows = [ImportRow(i + 1, text, "0" if text == wrong else "1", "train" if i % 4 else "test", "", 0)
            for i, text in enumerate(violent)]
    rows += [ImportRow(100 + i, text, "0", "train" if i % 4 else "test", "", 0) for i, text in enumerate(other)]
    commit_import(db, ADMIN, project.id, ParsedFile("test", tuple(rows), (), 0))


def _worker(settings, db, run_id: int, factory: FakeFactory) -> TrainingWorker:
    worker = TrainingWorker(settings, db, worker_id="test-worker", classifiers=factory)
    assert worker.claim_next(run_id) == run_id
    return worker


class _Spy(FakeFactory):
    """Records the texts each classifier was trained on, in the order they were made."""

    def __init__(self) -> None:
        super().__init__()
        self.trained_on: list[set[str]] = []

    def new(self, label_names, params):
        classifier = super().new(label_names, params)
        fit = classifier.fit

        def recording_fit(texts, *rest):
            self.trained_on.append(set(texts))
            return fit(texts, *rest)

        classifier.fit = recording_fit
        return classifier


def test_every_label_is_judged_by_a_model_that_never_saw_it_and_the_wrong_one_comes_first(settings, db, project):
    _import(db, project)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast", kind=RunKind.label_check)
    factory = _Spy()
    assert _worker(settings, db, run.id, factory).execute_any(run.id) == RunStatus.succeeded

    assert len(factory.made) == 5  # one model per fold; no model version
    for classifier, trained_on in zip(factory.made, factory.trained_on):
        assert classifier.scored and not set(classifier.scored) & trained_on  # scored only what it never saw
    scored = [text for classifier in factory.made for text in classifier.scored]
    assert sorted(scored) == sorted(VIOLENT + OTHER)  # every label, both splits, exactly once

    items = check_queue(db, project.id)
    assert items[0].text == WRONG and (items[0].current_label, items[0].suggested_label) == (0, 1)
    assert items[0].probs[1] > 0.5 and items[0].reason == "suspected label error"
    done = get_run(db, run.id)
    assert done.kind == RunKind.label_check and done.activation_note == NO_MODEL_NOTE and done.model_dir is None
    assert done.metrics == {"folds": 5, "labels": 24, "suspects": len(items)}
    assert (done.progress_step, done.progress_total) == (5, 5)
    assert active_run(db, project.id) is None
    source = suspect_source(db, project.id)
    assert (source.run_id, source.kind) == (run.id, RunKind.label_check) and source.finished_at is not None
    newest, succeeded = label_check_history(db, project.id)
    assert newest == succeeded and (succeeded.run_id, succeeded.folds, succeeded.labels) == (run.id, 5, 24)
    assert succeeded.suspects == len(items) and succeeded.error is None
    with db.read() as session:
        assert AuditAction.label_check_queued in set(session.scalars(select(AuditEntry.action)))


def test_the_check_replaces_the_suspects_a_training_run_left(settings, db, project):
    _import(db, project)
    model = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    assert _worker(settings, db, model.id, FakeFactory()).execute_any(model.id) == RunStatus.succeeded
    assert suspect_source(db, project.id).kind == RunKind.train
    check = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast", kind=RunKind.label_check)
    assert _worker(settings, db, check.id, FakeFactory()).execute_any(check.id) == RunStatus.succeeded
    assert suspect_source(db, project.id).run_id == check.id
    assert active_run(db, project.id).id == model.id  # the active version stays


def test_a_label_with_fewer_examples_than_folds_gets_fewer_folds():
    assert fold_count([0] * 10 + [1] * 3) == 3
    assert fold_count([0] * 10 + [1] * 10 + [2] * 0) == 5  # a label nobody used does not count
    with pytest.raises(AppError, match="at least two labelled sentences of at least two labels"):
        fold_count([0] * 10 + [1])
    with pytest.raises(AppError, match="at least two labelled sentences of at least two labels"):
        fold_count([1] * 10)


def test_probabilities_have_one_column_per_project_label_even_for_a_label_without_examples():
    examples = [Example(i, text, 1) for i, text in enumerate(VIOLENT)] + \
               [Example(100 + i, text, 0) for i, text in enumerate(OTHER)]
    factory = FakeFactory()
    probs = cross_fitted_probs(examples, 3, lambda: factory.new(["a", "b", "c"], FAST_PRESET), FAST_PRESET,
                               TrainingHooks(), folds=4)
    assert probs.shape == (24, 3) and np.allclose(probs.sum(axis=1), 1.0) and not probs[:, 2].any()
    assert len(factory.made) == 4


def test_too_few_labels_are_refused_when_asked_with_what_to_do(settings, db, project):
    rows = [ImportRow(1, VIOLENT[0], "1", "train", "", 0)]  # one example of a label: nothing to hold out
    rows += [ImportRow(10 + i, text, "0", "train", "", 0) for i, text in enumerate(OTHER[:6])]
    commit_import(db, ADMIN, project.id, ParsedFile("test", tuple(rows), (), 0))
    # Refused when asked, by training's own rule (4 of each label in the train split, so a check always has
    # at least 4 folds; fold_count's own refusal guards direct callers of cross_fitted_probs).
    with pytest.raises(AppError, match=r"^Too few training examples: each label in use needs at least 4 in the "
                                       r"train split \('physical violence' needs 3 more\)\.$"):
        request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast", kind=RunKind.label_check)
    assert current_run(db, project.id) is None and suspect_source(db, project.id) is None


def test_a_cancel_between_folds_ends_it_cancelled_and_keeps_the_suspects_there_were(settings, db, project):
    _import(db, project)
    model = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    _worker(settings, db, model.id, FakeFactory()).execute_any(model.id)
    before = [(item.sentence_id, item.score) for item in check_queue(db, project.id)]
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast", kind=RunKind.label_check)
    # two folds trained: the admin presses Cancel
    factory = FakeFactory(before_new=lambda made: made == 2 and cancel_run(db, ADMIN, run.id))
    worker = _worker(settings, db, run.id, factory)
    assert worker.execute_any(run.id) == RunStatus.cancelled
    assert get_run(db, run.id).error == "cancelled by a moderator"
    assert [(item.sentence_id, item.score) for item in check_queue(db, project.id)] == before
    assert suspect_source(db, project.id).run_id == model.id
    newest, succeeded = label_check_history(db, project.id)  # what the Check page reports
    assert (newest.run_id, newest.status, newest.error) == (run.id, RunStatus.cancelled, "cancelled by a moderator")
    assert succeeded is None and len(factory.made) == 3  # the third fold saw the cancel as it began training
