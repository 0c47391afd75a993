"""Only a succeeded run is ever the active model, and a run fails cleanly whatever step fails.

The worker runs in-process with a small fake classifier (tests/fakes.py) implementing the Classifier
protocol; the real SetFit path of the same behaviour is in tests/slow/test_training.py."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.labeling import save_label, sentence_table
from core.params import FAST_PRESET
from core.run_metrics import RunMetrics
from core.runs import (
    activation_decision,
    active_run,
    cancel_run,
    end_run,
    finish_run,
    get_run,
    request_retrain,
    set_active,
)
from core.suggestions import suggestion_for
from core.worker import TrainingWorker
from db.models import Prediction, RunStatus, Suspect, TrainingRun
from tests.fakes import FakeFactory
from tests.helpers import ADMIN, ROOT, make_labelled_project, moderator
from tests.three_labels import INSULT, OTHER, TEST, UNLABELLED, VIOLENCE, make_three_label_project


def _worker(settings, db, factory=None) -> TrainingWorker:
    return TrainingWorker(settings, db, worker_id="test-worker", classifiers=factory or FakeFactory())


def _train(settings, db, project_id: int, factory=None, params=FAST_PRESET) -> int:
    """Queue a run and execute it in this process; returns the run id."""
    run = request_retrain(db, ADMIN, project_id, params, "fast", force=True)
    worker = _worker(settings, db, factory)
    assert worker.claim_next(run.id) == run.id
    worker.execute(run.id)
    return run.id


def _predictions(db, run_id: int) -> dict[int, tuple[int, list[float]]]:
    with db.read() as session:
        rows = session.query(Prediction).filter(Prediction.run_id == run_id).all()
        return {p.sentence_id: (p.label, json.loads(p.probs_json)) for p in rows}


def _ids_by_text(db, project_id: int) -> dict[str, int]:
    frame = sentence_table(db, project_id, limit=1000)[0]
    return {text: int(sid) for sid, text in zip(frame["id"], frame["text"])}


# -- the one place that makes a run active -----------------------------------------------------------

def _assignments_of_active_run_id(path: Path) -> list[str]:
    """Where a module writes Project.active_run_id: `x.active_run_id = ...`, `setattr(x, "active_run_id", ...)`,
    or `active_run_id=...` passed to `.values(...)`/`update(...)`/`Project(...)`, as "function:line"."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            targets = []
            if isinstance(child, ast.Assign):
                targets = child.targets
            elif isinstance(child, (ast.AugAssign, ast.AnnAssign)):
                targets = [child.target]
            for target in targets:
                for element in ast.walk(target):
                    if isinstance(element, ast.Attribute) and element.attr == "active_run_id":
                        found.append(f"{name}:{child.lineno}")
            if isinstance(child, ast.Call):
                callee = child.func.attr if isinstance(child.func, ast.Attribute) else getattr(child.func, "id", "")
                if callee in ("values", "update", "Project", "insert") and any(
                        k.arg == "active_run_id" for k in child.keywords):
                    found.append(f"{name}:{child.lineno}")
                if callee == "setattr" and any(isinstance(a, ast.Constant) and a.value == "active_run_id" for a in child.args):
                    found.append(f"{name}:{child.lineno}")
            visit(child, name)

    visit(tree, "<module>")
    return found


def test_only_runs_make_active_writes_the_active_run_id():
    sources = [p for folder in ("core", "db", "pages", "ui") for p in (ROOT / folder).rglob("*.py")
               if "migrations" not in p.parts] + [ROOT / "app.py"]
    writes = {str(p.relative_to(ROOT)): w for p in sources if (w := _assignments_of_active_run_id(p))}
    assert list(writes) == ["core/runs.py"]
    assert [w.split(":")[0] for w in writes["core/runs.py"]] == ["_make_active"]


def test_the_source_check_would_see_another_writer(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("def promote(project, run):\n    project.active_run_id = run.id\n"
                      "def bulk(session):\n    session.execute(update(Project).values(active_run_id=3))\n")
    assert _assignments_of_active_run_id(sneaky) == ["promote:2", "bulk:4"]


@pytest.mark.parametrize("status", [RunStatus.queued, RunStatus.running, RunStatus.failed, RunStatus.cancelled])
def test_a_run_that_has_not_succeeded_cannot_be_made_active(db, project, status):
    make_labelled_project(db, project)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    with db.write() as session:
        row = session.get(TrainingRun, run.id)
        row.status, row.model_dir = status, "/somewhere"  # even with a model folder recorded
    with pytest.raises(InvalidInput, match=f"Version 1 has no model \\({status.value}\\); only succeeded runs"):
        set_active(db, ADMIN, project.id, run.id, "by hand")
    assert active_run(db, project.id) is None


def _running(db, project_id: int, params=FAST_PRESET) -> int:
    run = request_retrain(db, ADMIN, project_id, params, "fast", force=True)
    with db.write() as session:
        session.get(TrainingRun, run.id).status = RunStatus.running
    return run.id


def test_finish_run_activates_by_test_accuracy(db, project, tmp_path):
    make_labelled_project(db, project)
    first = _running(db, project.id)
    assert finish_run(db, first, RunMetrics(train_seconds=1.0, accuracy=0.8), str(tmp_path), "sha") is True
    assert get_run(db, first).activation_note == "active: the project's first model"
    worse = _running(db, project.id)
    assert finish_run(db, worse, RunMetrics(train_seconds=1.0, accuracy=0.7), str(tmp_path), "sha") is False
    assert active_run(db, project.id).id == first
    assert get_run(db, worse).activation_note == ("not activated: test accuracy 0.700 is below the active version 1's "
                                                  "0.800; promote it by hand if you prefer it")
    equal = _running(db, project.id)
    assert finish_run(db, equal, RunMetrics(train_seconds=1.0, accuracy=0.8), str(tmp_path), "sha") is True
    assert get_run(db, equal).activation_note == "active: test accuracy 0.800 ≥ version 1's 0.800"
    assert activation_decision(None, get_run(db, equal)) == (
        False, "not activated: no labelled test sentences to compare it with the active model")


def test_finish_run_refuses_a_run_that_is_no_longer_running(db, project, tmp_path):
    make_labelled_project(db, project)
    run_id = _running(db, project.id)
    end_run(db, run_id, RunStatus.failed, "worker lost")
    with pytest.raises(InvalidInput, match="Version 1 is failed, not running"):
        finish_run(db, run_id, RunMetrics(train_seconds=1.0, accuracy=1.0), str(tmp_path), "sha")
    assert active_run(db, project.id) is None and get_run(db, run_id).status == RunStatus.failed


def test_a_failure_inside_the_finishing_transaction_leaves_nothing_half_done(db, project, tmp_path):
    make_labelled_project(db, project)
    run_id = _running(db, project.id)

    def then(session, activated):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        finish_run(db, run_id, RunMetrics(train_seconds=1.0, accuracy=1.0), str(tmp_path), "sha", then)
    run = get_run(db, run_id)
    assert run.status == RunStatus.running and run.model_dir is None and active_run(db, project.id) is None


def test_end_run_never_turns_a_succeeded_run_failed(db, project, tmp_path):
    make_labelled_project(db, project)
    run_id = _running(db, project.id)
    finish_run(db, run_id, RunMetrics(train_seconds=1.0, accuracy=0.9), str(tmp_path), "sha")
    assert end_run(db, run_id, RunStatus.failed, "late failure") is False
    run = get_run(db, run_id)
    assert run.status == RunStatus.succeeded and run.is_active and run.error is None


# -- the worker, end to end with a fake classifier --------------------------------------------------

def test_a_label_without_examples_gets_probability_0_and_shifts_nothing(settings, db):
    project = make_three_label_project(db)
    run_id = _train(settings, db, project.id)
    run = get_run(db, run_id)
    assert run.status == RunStatus.succeeded, run.error
    assert run.is_active and run.activation_note == "active: the project's first model"
    assert run.accuracy == 1.0
    assert run.metrics["confusion"] == [[2, 0, 0], [0, 0, 0], [0, 0, 2]]
    assert run.metrics["per_label"]["2"]["recall"] == 1.0

    ids = _ids_by_text(db, project.id)
    predictions = _predictions(db, run_id)
    assert len(predictions) == 18
    for text, label in TEST:
        predicted, probs = predictions[ids[text]]
        assert predicted == (VIOLENCE if label == "violence" else OTHER), text
        assert len(probs) == 3 and probs[INSULT] == 0.0
    assert all(probs[INSULT] == 0.0 for _, probs in predictions.values())
    shoved = suggestion_for(db, ids[UNLABELLED[0]])
    assert shoved.label == VIOLENCE and len(shoved.probs) == 3 and shoved.probs[INSULT] == 0.0
    assert (settings.models_dir / str(run_id)).is_dir()


def test_a_classifier_that_returns_unaligned_columns_fails_the_run_cleanly(settings, db):
    project = make_three_label_project(db)
    good = _train(settings, db, project.id)
    bad = _train(settings, db, project.id, FakeFactory(aligned=False))
    run = get_run(db, bad)
    assert run.status == RunStatus.failed
    assert run.error == "Training failed: ValueError: the model gave 2 probabilities per sentence for 3 labels. " \
                        "The full traceback is in the run's log."
    assert active_run(db, project.id).id == good
    assert _predictions(db, bad) == {} and run.model_dir is None
    assert not (settings.models_dir / str(bad)).exists() and not list(settings.models_dir.glob(".tmp-*"))


@pytest.mark.parametrize("step", ["cached_embeddings", "find_suspects", "prepare_suggestions", "write_suggestions",
                                  "finish_run"])
def test_a_failure_after_the_model_was_saved_keeps_the_previous_version_active(settings, db, project, monkeypatch, step):
    make_labelled_project(db, project)
    first = _train(settings, db, project.id)
    assert active_run(db, project.id).id == first
    with db.read() as session:
        suspects_before = session.query(Suspect).count()
    suggestion_before = suggestion_for(db, int(sentence_table(db, project.id, limit=1)[0]["id"][0]))

    import core.worker

    original = getattr(core.worker, step)
    calls = []

    def failing(*args, **kwargs):
        calls.append(step)
        if step == "cached_embeddings" and args[1] == "base":  # the scoring of the new version fails, not the base
            return original(*args, **kwargs)
        raise OSError(f"injected failure in {step}")

    monkeypatch.setattr(core.worker, step, failing)
    save_label(db, moderator("ana"), int(sentence_table(db, project.id, unlabelled_only=True)[0]["id"][0]), 1)
    second = _train(settings, db, project.id)
    assert calls, f"{step} was never reached"

    run = get_run(db, second)
    assert run.status == RunStatus.failed and f"injected failure in {step}" in run.error
    assert not run.is_active and active_run(db, project.id).id == first
    assert run.model_dir is None and _predictions(db, second) == {}
    assert not (settings.models_dir / str(second)).exists()  # no orphan model folder
    assert not list(settings.models_dir.glob(".tmp-*"))
    assert (settings.models_dir / str(first)).is_dir()
    with db.read() as session:
        assert session.query(Suspect).count() == suspects_before
        assert session.query(Suspect).filter(Suspect.run_id == second).count() == 0
    assert suggestion_for(db, int(sentence_table(db, project.id, limit=1)[0]["id"][0])) == suggestion_before


def test_a_cancel_during_scoring_keeps_no_model(settings, db, project, monkeypatch):
    make_labelled_project(db, project)
    first = _train(settings, db, project.id)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET.with_overrides({"seed": "7"}), "custom")
    worker = _worker(settings, db)
    worker.claim_next(run.id)

    import core.worker

    original = core.worker.find_suspects

    def cancel_then_find(*args, **kwargs):
        cancel_run(db, ADMIN, run.id)
        return original(*args, **kwargs)

    monkeypatch.setattr(core.worker, "find_suspects", cancel_then_find)
    assert worker.execute(run.id) == RunStatus.cancelled
    cancelled = get_run(db, run.id)
    assert cancelled.status == RunStatus.cancelled and cancelled.error == "cancelled by a moderator"
    assert active_run(db, project.id).id == first and _predictions(db, run.id) == {}
    assert not (settings.models_dir / str(run.id)).exists() and not list(settings.models_dir.glob(".tmp-*"))


def test_recovery_removes_the_model_folder_of_a_run_that_did_not_succeed(settings, db, project):
    make_labelled_project(db, project)
    kept = _train(settings, db, project.id)
    lost = request_retrain(db, ADMIN, project.id, FAST_PRESET.with_overrides({"seed": "7"}), "custom")
    end_run(db, lost.id, RunStatus.failed, "worker lost")
    (settings.models_dir / str(lost.id)).mkdir()  # published just before its worker was killed
    (settings.models_dir / "999").mkdir()  # not a run of this database: not ours to delete
    _worker(settings, db).recover()
    assert not (settings.models_dir / str(lost.id)).exists()
    assert (settings.models_dir / str(kept)).is_dir() and (settings.models_dir / "999").is_dir()


def test_a_worker_stopped_while_finishing_leaves_no_model_folder(settings, db, project, monkeypatch):
    """Ctrl-C/SIGTERM reach the worker as KeyboardInterrupt, which no `except Exception` catches."""
    make_labelled_project(db, project)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    worker = _worker(settings, db)
    worker.claim_next(run.id)

    import core.worker

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(core.worker, "finish_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        worker.execute(run.id)
    assert get_run(db, run.id).status == RunStatus.running  # the stop handler (core/launcher.py) fails it
    assert active_run(db, project.id) is None
    assert not (settings.models_dir / str(run.id)).exists() and not list(settings.models_dir.glob(".tmp-*"))
