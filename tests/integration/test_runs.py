"""Run rows without training: refusals, one run at a time, cancel, lost workers, loss table, activation."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from core.errors import InvalidInput, RunAlreadyActive, TrainingRefused
from core.labeling import save_label, sentence_table
from core.params import FAST_PRESET, SEED_PRESET, TrainingParams
from core.run_metrics import RunMetrics
from core.runs import (
    WORKER_LOST,
    cancel_run,
    get_run,
    list_runs,
    loss_table,
    format_loss_table,
    mark_lost_runs,
    request_retrain,
    set_active,
)
from db.models import LossPoint, RunStatus, TrainingRun, utcnow
from tests.helpers import ADMIN, make_labelled_project, moderator
from core.permissions import Actor, Role


def test_refuses_with_one_class_only(db, project):
    ids = sentence_table(db, project.id, limit=0)[0]
    from core.importing import ImportRow, ParsedFile, commit_import

    commit_import(db, ADMIN, project.id, ParsedFile("t", tuple(ImportRow(i, f"text {i}", "1", "train", "", i) for i in range(1, 9)), (), 0))
    with pytest.raises(TrainingRefused, match="at least two labels.*only 'physical violence'"):
        request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    assert list_runs(db, project.id) == []


def test_refuses_too_few_per_label_and_says_how_many_more(db, project):
    from core.importing import ImportRow, ParsedFile, commit_import

    rows = [ImportRow(i, f"violent {i}", "1", "train", "", i) for i in range(1, 9)]
    rows += [ImportRow(20 + i, f"other {i}", "0", "train", "", i) for i in range(1, 3)]
    commit_import(db, ADMIN, project.id, ParsedFile("t", tuple(rows), (), 0))
    with pytest.raises(TrainingRefused, match="'other' needs 2 more"):
        request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")


def test_refuses_empty_label_set(db, project):
    with pytest.raises(TrainingRefused, match="at least two labels"):
        request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")


def test_second_click_while_queued_is_refused(db, project):
    make_labelled_project(db, project)
    run = request_retrain(db, Actor("ana", Role.admin), project.id, FAST_PRESET, "fast")
    assert run.status == RunStatus.queued and run.version == 1
    assert run.n_train == 18 and run.n_test == 6
    with pytest.raises(RunAlreadyActive, match="Version 1 is already queued"):
        request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")


def test_snapshot_freezes_labels_at_queue_time(db, project):
    make_labelled_project(db, project)
    run = request_retrain(db, ADMIN, project.id, SEED_PRESET, "seed")
    with db.read() as session:
        snapshot = json.loads(session.get(TrainingRun, run.id).snapshot_json)
    sid = snapshot[0][0]
    save_label(db, moderator("ana"), sid, 1 - snapshot[0][1])  # a later change does not alter the queued run
    with db.read() as session:
        assert json.loads(session.get(TrainingRun, run.id).snapshot_json) == snapshot
    assert TrainingParams.from_json(json.dumps(json.loads(SEED_PRESET.to_json()))) == get_run(db, run.id).params


def test_cancel_queued_run_and_refuse_cancel_of_finished(db, project):
    make_labelled_project(db, project)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    assert cancel_run(db, ADMIN, run.id).status == RunStatus.cancelled
    with pytest.raises(InvalidInput, match="already ended"):
        cancel_run(db, ADMIN, run.id)
    assert request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast").version == 2


def test_running_run_with_stale_heartbeat_is_marked_worker_lost(db, project):
    make_labelled_project(db, project)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    with db.write() as session:
        row = session.get(TrainingRun, run.id)
        row.status, row.started_at = RunStatus.running, utcnow() - timedelta(seconds=120)
        row.heartbeat_at = utcnow() - timedelta(seconds=90)
    assert mark_lost_runs(db, lost_after_seconds=60) == [run.id]
    lost = get_run(db, run.id)
    assert lost.status == RunStatus.failed and lost.error == WORKER_LOST
    assert mark_lost_runs(db, lost_after_seconds=60) == []  # never re-run, never re-marked


def test_fresh_heartbeat_is_not_lost(db, project):
    make_labelled_project(db, project)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    with db.write() as session:
        row = session.get(TrainingRun, run.id)
        row.status, row.started_at, row.heartbeat_at = RunStatus.running, utcnow(), utcnow()
    assert mark_lost_runs(db, lost_after_seconds=60) == []


def test_loss_table_has_the_seed_card_columns_and_merges_validation(db, project):
    make_labelled_project(db, project)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    with db.write() as session:
        session.add_all([
            LossPoint(run_id=run.id, epoch=0.002, step=1, training_loss=0.4153),
            LossPoint(run_id=run.id, epoch=0.1025, step=50, training_loss=0.287),
            LossPoint(run_id=run.id, epoch=1.0, step=488, validation_loss=0.1007),
        ])
    frame = format_loss_table(loss_table(db, run.id))
    assert list(frame.columns) == ["Epoch", "Step", "Training Loss", "Validation Loss"]
    assert frame.values.tolist() == [
        ["0.0020", 1, "0.4153", "-"], ["0.1025", 50, "0.287", "-"], ["1.0", 488, "-", "0.1007"],
    ]


def test_only_succeeded_runs_can_be_promoted(db, project):
    make_labelled_project(db, project)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    with pytest.raises(InvalidInput, match="only succeeded runs"):
        set_active(db, ADMIN, project.id, run.id, "by hand")


def test_params_validation_and_overrides():
    with pytest.raises(InvalidInput, match="batch_size"):
        TrainingParams(batch_size=0)
    with pytest.raises(InvalidInput, match="Unknown training parameter"):
        FAST_PRESET.with_overrides({"nope": "1"})
    with pytest.raises(InvalidInput, match="not a valid int"):
        FAST_PRESET.with_overrides({"max_steps": "many"})
    assert FAST_PRESET.with_overrides({"max_steps": "7", "load_best_model_at_end": "true"}).max_steps == 7
    assert SEED_PRESET.batch_size == 8 and SEED_PRESET.num_iterations == 25 and SEED_PRESET.seed == 42
    assert SEED_PRESET.body_learning_rate == 2e-5 and SEED_PRESET.head_learning_rate == 0.01
    assert SEED_PRESET.sampling_strategy == "oversampling" and SEED_PRESET.loss == "CosineSimilarityLoss"


def _succeeded_active(db, project_id: int, params=FAST_PRESET, kind: str = "train") -> int:
    """Queue a run and finish it as the worker would (without training), so it is the active version."""
    from core.runs import finish_run

    run = request_retrain(db, ADMIN, project_id, params, "fast", kind=kind, force=True)
    with db.write() as session:
        session.get(TrainingRun, run.id).status = RunStatus.running
    finish_run(db, run.id, RunMetrics(train_seconds=1.0, accuracy=0.75), "/models/1", "sha")
    return run.id


def test_retrain_with_nothing_changed_since_the_active_version_is_refused_unless_forced(db, project):
    from core.errors import NothingChanged

    make_labelled_project(db, project)
    first = _succeeded_active(db, project.id)
    with pytest.raises(NothingChanged, match="No label has changed since the active version 1, and these are the "
                                             "parameters it was trained with, so retraining would give the same model"):
        request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    assert [r.id for r in list_runs(db, project.id)] == [first]
    forced = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast", force=True)
    assert forced.status == RunStatus.queued and forced.version == 2


def test_retrain_with_other_parameters_or_a_changed_label_is_queued(db, project):
    make_labelled_project(db, project)
    _succeeded_active(db, project.id)
    seed_preset = request_retrain(db, ADMIN, project.id, SEED_PRESET, "seed")
    assert seed_preset.version == 2
    cancel_run(db, ADMIN, seed_preset.id)
    other_seed = request_retrain(db, ADMIN, project.id, FAST_PRESET.with_overrides({"seed": "7"}), "custom")
    assert other_seed.version == 3
    cancel_run(db, ADMIN, other_seed.id)
    unlabelled = int(sentence_table(db, project.id, unlabelled_only=True)[0]["id"][0])
    save_label(db, moderator("ana"), unlabelled, 1)
    assert request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast").version == 4


def test_a_learning_curve_is_not_refused_when_nothing_changed(db, project):
    make_labelled_project(db, project)
    _succeeded_active(db, project.id)
    job = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast", kind="learning_curve")
    assert job.status == RunStatus.queued and job.kind == "learning_curve"


def test_nothing_changed_also_names_a_kept_version_that_is_not_active(db, project):
    from core.errors import NothingChanged
    from core.runs import finish_run

    make_labelled_project(db, project)
    first = _succeeded_active(db, project.id)
    worse = request_retrain(db, ADMIN, project.id, SEED_PRESET, "seed")
    with db.write() as session:
        session.get(TrainingRun, worse.id).status = RunStatus.running
    assert finish_run(db, worse.id, RunMetrics(train_seconds=1.0, accuracy=0.5), "/models/2", "sha") is False  # not activated
    with pytest.raises(NothingChanged, match=r"since version 2, .* the same model again \(promote version 2 if you "
                                             r"want that model\)"):
        request_retrain(db, ADMIN, project.id, SEED_PRESET, "seed")
    assert get_run(db, first).is_active and len(list_runs(db, project.id)) == 2
