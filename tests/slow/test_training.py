"""Real SetFit training on the real base model with tiny budgets: CLI, worker process, kill -9, cancel.

Each test trains at most a few steps; no two trainings run at the same time (pytest runs them in turn).
The `train --wait` tests share one trained run (`cli_run`, trained once for this module).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import Settings
from core.db import open_database
from core.labeling import save_label, sentence_table
from core.params import FAST_PRESET
from core.projects import ProjectInfo, create_project
from core.runs import WORKER_LOST, RunInfo, active_run, get_run, loss_table, mark_lost_runs, request_retrain
from db.engine import Database
from db.models import Prediction, RunStatus
from tests.helpers import ADMIN, ROOT, env_for, make_labelled_project, moderator, start_worker, wait_until

pytestmark = pytest.mark.slow

TINY = FAST_PRESET.with_overrides({"max_steps": "4", "num_iterations": "1", "logging_steps": "1"})
LONG = FAST_PRESET.with_overrides({"max_steps": "400", "num_iterations": "20", "batch_size": "8", "logging_steps": "1"})


@pytest.fixture
def trainable(db, project):
    make_labelled_project(db, project)
    return project


@pytest.fixture
def worker(settings):
    process = start_worker(settings.data_dir)
    yield process
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=30)


def _predictions(db, run_id: int) -> int:
    with db.read() as session:
        return session.query(Prediction).filter(Prediction.run_id == run_id).count()


# -- one `train --wait` run, read by several tests ------------------------------------------------------

@dataclass(frozen=True)
class CliRun:
    settings: Settings
    db: Database
    project: ProjectInfo
    payload: dict  # what `train --wait` printed
    run: RunInfo

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return _cli(self.settings, *args)

    @property
    def card(self) -> str:
        return (Path(self.run.model_dir) / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory) -> Iterator[CliRun]:
    """`train --wait` on 18 train and 6 test labels (and one unlabelled sentence), 4 steps of 8 pairs."""
    settings = Settings.from_env({"DATA_DIR": str(tmp_path_factory.mktemp("cli-run") / "data"),
                                  "WORKER_AUTOSTART": "0"})
    db = open_database(settings)
    project = create_project(db, ADMIN, "test project", ["other", "physical violence"], test_fraction=0.25)
    make_labelled_project(db, project)
    result = _cli(settings, "train", "--project", project.name, "--wait",
                         "--param", "max_steps=4", "--param", "num_iterations=1", "--param", "logging_steps=1")
    assert result.returncode == 0, result.stderr[-2000:]
    payload = json.loads(result.stdout)  # stdout is the JSON alone; training chatter goes to stderr
    yield CliRun(settings, db, project, payload, get_run(db, payload["run_id"]))
    db.dispose()


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env_for(settings.data_dir),
                          capture_output=True, text=True, timeout=300)


def _markdown_table(card: str, heading: str) -> list[list[str]]:
    """The cells of the first table under `heading` in a model card, header row first."""
    section = card.split(heading + "\n", 1)[1]
    lines = []
    for line in section.splitlines():
        if not line.startswith("|"):
            break
        lines.append(line)
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if not line.startswith("|:")]


def test_train_wait_prints_the_succeeded_run_active_with_its_test_metrics(cli_run):
    payload, run = cli_run.payload, cli_run.run
    assert (payload["status"], payload["active"], payload["version"]) == ("succeeded", True, 1)
    assert run.status == RunStatus.succeeded and run.is_active
    assert payload["accuracy"] == run.accuracy and run.accuracy in {n / 6 for n in range(7)}
    assert run.metrics["n_test"] == 6 and run.metrics["labels"] == [0, 1]
    assert sum(map(sum, run.metrics["confusion"])) == 6 and [sum(r) for r in run.metrics["confusion"]] == [3, 3]
    assert run.metrics["n_eval_pairs"] == 21  # 6 test sentences make 21 distinct pairs, fewer than the cap of 64


def test_the_loss_table_has_a_training_loss_per_step_and_the_validation_loss_at_the_end(cli_run):
    frame = loss_table(cli_run.db, cli_run.run.id)
    assert frame["Step"].tolist() == [1, 2, 3, 4]
    assert frame["Training Loss"].notna().tolist() == [True, True, True, True]
    assert frame["Validation Loss"].notna().tolist() == [False, False, False, True]


def test_the_card_has_the_training_results_table_and_the_pairs_behind_its_validation_loss(cli_run):
    card = cli_run.card
    header, *rows = _markdown_table(card, "### Training Results")
    assert header == ["Epoch", "Step", "Training Loss", "Validation Loss"]
    assert [row[1] for row in rows] == ["1", "2", "3", "4"]
    assert re.fullmatch(r"0\.\d+", rows[0][2]) and rows[0][3] == "-"  # step 1: a training loss only
    assert re.fullmatch(r"0\.\d+", rows[-1][3])  # the last step: the validation loss
    after_table = card.split("### Training Results", 1)[1].split("###", 1)[0]
    assert ("*The Validation Loss was computed on 21 pairs of the 6 labelled test sentences "
            "(at most 64, drawn with seed 42).*") in after_table


def test_the_card_names_the_base_model_and_gives_the_workers_test_accuracy(cli_run):
    card = cli_run.card
    assert "sentence-transformers/all-MiniLM-L6-v2" in card and "### Training Hyperparameters" in card
    assert "LogisticRegression" in card
    header, row = _markdown_table(card, "### Metrics")
    accuracy = cli_run.run.accuracy
    assert header == ["Label", "Accuracy"]
    assert row == ["**all**", f"{accuracy:.4f}" if len(str(accuracy).split(".")[1]) > 4 else str(accuracy)]


def test_every_sentence_of_the_project_has_a_prediction(cli_run):
    assert _predictions(cli_run.db, cli_run.run.id) == sentence_table(cli_run.db, cli_run.project.id, limit=1)[1] == 25


def test_the_published_folder_loads_with_setfit(cli_run):
    from setfit import SetFitModel

    model_dir = Path(cli_run.run.model_dir)
    assert model_dir == cli_run.settings.models_dir / str(cli_run.run.id)
    assert not list(cli_run.settings.models_dir.glob(".tmp-*"))
    assert SetFitModel.from_pretrained(str(model_dir)).predict_proba(["He hit me."]).shape == (1, 2)


def test_the_downloaded_zip_loads_with_setfit_as_it_is(cli_run, tmp_path):
    import io
    import zipfile

    from setfit import SetFitModel

    from core.runs import model_zip_bytes

    zipfile.ZipFile(io.BytesIO(model_zip_bytes(cli_run.run))).extractall(tmp_path / "unzipped")
    unzipped = SetFitModel.from_pretrained(str(tmp_path / "unzipped" / str(cli_run.run.id)))
    assert unzipped.predict_proba(["He hit me."]).shape == (1, 2)


def test_next_serves_a_random_pick_with_the_new_versions_suggestion(cli_run):
    result = cli_run.cli("next", "--project", cli_run.project.name, "--n", "1", "--json")
    [served] = json.loads(result.stdout)
    # 12 labels of each: a balanced label set gets random picks (core.active.rank_useful).
    assert served["reason"] == "random (no label is scarce)"
    assert served["suggested"] in ("other", "physical violence")


def test_predict_writes_a_csv_with_a_probability_per_label(cli_run, tmp_path):
    source, out = tmp_path / "in.txt", tmp_path / "scored.csv"
    source.write_text("He shoved me into the door.\nWe had lunch by the river.\n", encoding="utf-8")
    result = cli_run.cli("predict", "--project", cli_run.project.name, "--input", str(source), "--output", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "text,label,label_name,confidence,p_other,p_physical violence"
    assert [line.split(",")[0] for line in lines[1:]] == ["He shoved me into the door.", "We had lunch by the river."]


# -- the worker process ----------------------------------------------------------------------------------

@pytest.mark.both_databases
def test_worker_process_trains_a_queued_run(settings, db, trainable, worker):
    run = request_retrain(db, ADMIN, trainable.id, TINY, "custom")
    done = wait_until(lambda: (r := get_run(db, run.id)) and not r.status.is_active and r, 240, "the run to end")
    assert done.status == RunStatus.succeeded, done.error
    assert done.is_active and done.started_at and done.finished_at and done.progress_total >= 1
    assert len(loss_table(db, run.id)) >= 1 and _predictions(db, run.id) > 0


@pytest.mark.both_databases
def test_kill_9_mid_training_fails_run_as_worker_lost_and_next_run_succeeds(settings, db, trainable):
    first = start_worker(settings.data_dir)
    try:
        baseline = request_retrain(db, ADMIN, trainable.id, TINY, "custom")
        wait_until(lambda: get_run(db, baseline.id).status == RunStatus.succeeded, 240, "the baseline run")
        before = active_run(db, trainable.id)
        save_label(db, moderator("ana"), int(sentence_table(db, trainable.id, unlabelled_only=True)[0]["id"][0]), 0)

        doomed = request_retrain(db, ADMIN, trainable.id, LONG, "custom")
        wait_until(lambda: get_run(db, doomed.id).progress_step >= 2, 240, "training to be under way")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()

    wait_until(lambda: mark_lost_runs(db, Settings.from_env(env_for(settings.data_dir)).worker_lost_after_seconds),
               30, "the run to be noticed as lost")
    lost = get_run(db, doomed.id)
    assert lost.status == RunStatus.failed and lost.error == WORKER_LOST
    assert active_run(db, trainable.id).id == before.id  # the active model is unchanged
    assert not (settings.models_dir / str(doomed.id)).exists()

    second = start_worker(settings.data_dir)
    try:
        retry = request_retrain(db, ADMIN, trainable.id, TINY, "custom")
        wait_until(lambda: not get_run(db, retry.id).status.is_active, 240, "the next run")
        assert get_run(db, retry.id).status == RunStatus.succeeded
        assert get_run(db, doomed.id).status == RunStatus.failed  # never silently re-run
        assert not list(settings.models_dir.glob(".tmp-*"))  # no half-written model left
    finally:
        second.terminate()
        second.wait(timeout=30)


@pytest.mark.both_databases
def test_cancel_mid_training_stops_within_seconds(settings, db, trainable, worker):
    from core.runs import cancel_run

    run = request_retrain(db, ADMIN, trainable.id, LONG, "custom")
    wait_until(lambda: get_run(db, run.id).progress_step >= 2, 240, "training to be under way")
    cancel_run(db, ADMIN, run.id)
    import time

    asked = time.monotonic()
    wait_until(lambda: get_run(db, run.id).status == RunStatus.cancelled, 15, "the run to stop")
    assert time.monotonic() - asked < 10
    assert get_run(db, run.id).model_dir is None and active_run(db, trainable.id) is None
    assert not list(settings.models_dir.glob(".tmp-*"))


@pytest.mark.both_databases
def test_labelling_while_the_worker_trains_never_sees_a_locked_database(settings, db, trainable, worker):
    """The web process's writes and the worker's progress/loss/prediction writes interleave safely."""
    run = request_retrain(db, ADMIN, trainable.id, FAST_PRESET.with_overrides({"max_steps": "30", "logging_steps": "1"}), "custom")
    ids = [int(i) for i in sentence_table(db, trainable.id, limit=100)[0]["id"]]
    writes = 0
    while get_run(db, run.id).status.is_active:
        save_label(db, moderator("looping-moderator"), ids[writes % len(ids)], writes % 2)  # raises on "database is locked"
        writes += 1
    assert get_run(db, run.id).status == RunStatus.succeeded
    assert writes > 20


def test_worker_refreshes_suggestions_between_runs_with_the_base_model(settings, db, trainable, worker):
    """No run yet: after labels arrive the idle worker refits a head on base-model embeddings."""
    from core.suggestions import REFRESH_EVERY, suggestion_for, suggestion_status

    state = wait_until(lambda: suggestion_status(db, trainable.id), 120, "the first suggestions")
    assert state.model_key == "base" and state.seconds < 10
    unlabelled = sentence_table(db, trainable.id, unlabelled_only=True)[0]["id"]
    assert suggestion_for(db, int(unlabelled[0])) is not None
    labelled_before = state.labelled_count
    ids = [int(i) for i in sentence_table(db, trainable.id, limit=100)[0]["id"]]
    for i in range(REFRESH_EVERY):
        save_label(db, moderator("ana"), ids[i], 1 - (i % 2))
    refreshed = wait_until(lambda: (s := suggestion_status(db, trainable.id)) and s.refreshed_at > state.refreshed_at and s,
                           60, "suggestions to follow the new labels")
    assert refreshed.seconds < 10 and refreshed.annotation_id > state.annotation_id
    assert refreshed.labelled_count >= labelled_before


@pytest.mark.both_databases
def test_a_run_stores_suggestions_from_the_new_version_and_checks_labels(settings, db, trainable, worker):
    from core.suggestions import suggestion_status
    from db.models import Suggestion

    run = request_retrain(db, ADMIN, trainable.id, TINY, "custom")
    wait_until(lambda: get_run(db, run.id).status == RunStatus.succeeded, 240, "the run")
    state = wait_until(lambda: (s := suggestion_status(db, trainable.id)) and s.model_key == f"run-{run.id}" and s,
                       60, "suggestions from the new version")
    with db.read() as session:
        assert session.query(Suggestion).filter(Suggestion.project_id == trainable.id).count() == 25
    assert state.labelled_count == 24


def test_learning_curve_job_trains_on_growing_shares(settings, db, trainable, worker):
    from core.learning_curve import learning_curve_points

    job = request_retrain(db, ADMIN, trainable.id, TINY, "custom", kind="learning_curve")
    done = wait_until(lambda: (r := get_run(db, job.id)) and not r.status.is_active and r, 300, "the learning curve")
    assert done.status == RunStatus.succeeded, done.error
    points = learning_curve_points(db, trainable.id)
    assert [p["fraction"] for p in points] == [0.25, 0.5, 0.75, 1.0]
    assert [p["n_labels"] for p in points] == [4, 9, 14, 18]
    assert all(0.0 <= p["accuracy"] <= 1.0 for p in points)
    assert active_run(db, trainable.id) is None  # a learning curve keeps no model version


def test_a_project_label_without_examples_gets_probability_0_and_violence_stays_violence(settings, db, tmp_path):
    """Labels other, insult, violence with no insult examples: the head's classes are [0, 2], and every
    probability is mapped through them (worker metrics, stored predictions, suggestions, a loaded model)."""
    import numpy as np

    from core.setfit_adapter import SetFitClassifier
    from core.suggestions import project_sentences, suggestion_for
    from core.worker import TrainingWorker
    from tests.three_labels import INSULT, OTHER, TEST, UNLABELLED, VIOLENCE, make_three_label_project

    project = make_three_label_project(db)
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET.with_overrides({"max_steps": "8", "logging_steps": "4"}), "custom")
    worker = TrainingWorker(settings, db)
    assert worker.claim_next(run.id) == run.id
    assert worker.execute(run.id) == RunStatus.succeeded, get_run(db, run.id).error

    done = get_run(db, run.id)
    assert done.is_active and done.activation_note == "active: the project's first model"
    assert done.metrics["labels"] == [0, 1, 2] and done.metrics["n_test"] == 4
    assert done.metrics["confusion"][VIOLENCE] == [0, 0, 2]  # both violence test sentences predicted violence
    assert done.metrics["per_label"]["1"]["support"] == 0

    data = project_sentences(db, project.id)
    with db.read() as session:
        stored = {p.sentence_id: (p.label, json.loads(p.probs_json))
                  for p in session.query(Prediction).filter(Prediction.run_id == run.id)}
    assert len(stored) == 18
    for text, label in TEST:
        predicted, probs = stored[data.ids[data.texts.index(text)]]
        assert predicted == (VIOLENCE if label == "violence" else OTHER), text
    assert {len(probs) for _, probs in stored.values()} == {3}
    assert all(probs[INSULT] == 0.0 for _, probs in stored.values())
    shoved = suggestion_for(db, data.ids[data.texts.index(UNLABELLED[0])])
    assert len(shoved.probs) == 3 and shoved.probs[INSULT] == 0.0

    loaded = SetFitClassifier.load(Path(done.model_dir))  # what `predict` uses
    assert loaded.labels == ["other", "insult", "violence"] and loaded.known_labels == [0, 2]
    probs = loaded.predict_proba(["They attacked the driver with bats.", "The bakery sells fresh bread every morning."])
    assert probs.shape == (2, 3) and probs[:, INSULT].tolist() == [0.0, 0.0]
    assert probs.argmax(axis=1).tolist() == [VIOLENCE, OTHER]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)

    card = (Path(done.model_dir) / "README.md").read_text(encoding="utf-8")
    labels_section = card.split("### Model Labels", 1)[1].split("## Uses", 1)[0]
    assert "| other " in labels_section and "| violence " in labels_section and "| insult " not in labels_section
    assert "**Labels without training examples:** `insult`." in labels_section


# -- scoring backends (core/onnx_scorer.py) on the same trained run ----------------------------------------

def test_a_small_project_scores_with_torch_and_the_idle_worker_exports_onnx_after(cli_run):
    from core.worker import TrainingWorker

    run = cli_run.run
    assert run.scoring_backend == "torch" and "exported after the run" in run.scoring_note
    assert (run.scored, run.score_total) == (25, 25)
    worker = TrainingWorker(cli_run.settings, cli_run.db, worker_id="idle")
    assert worker.export_deferred_if_due() == [run.id]
    exported = get_run(cli_run.db, run.id)
    assert exported.scoring_backend in ("onnx", "onnx-int8") and exported.backend_agreement >= 0.995
    assert exported.scoring_note.startswith(f"{exported.scoring_backend}: agrees with torch on ")
    assert (Path(run.model_dir) / "onnx" / "model.onnx").is_file()
    assert worker.export_deferred_if_due() == []  # once


def test_predict_with_the_onnx_backend_agrees_with_the_torch_predictions_the_app_stored(cli_run, tmp_path):
    from core.worker import TrainingWorker

    TrainingWorker(cli_run.settings, cli_run.db, worker_id="idle").export_deferred_if_due()
    assert get_run(cli_run.db, cli_run.run.id).scoring_backend in ("onnx", "onnx-int8")
    with cli_run.db.read() as session:
        stored = {p.sentence_id: p.label for p in session.query(Prediction).filter(Prediction.run_id == cli_run.run.id)}
    rows = sentence_table(cli_run.db, cli_run.project.id, limit=100)[0]
    source = tmp_path / "in.csv"
    source.write_text("id,text\n" + "".join(f'{i},"{t}"\n' for i, t in zip(rows["id"], rows["text"])), encoding="utf-8")
    out = tmp_path / "out.csv"
    result = cli_run.cli("predict", "--project", cli_run.project.name, "--input", str(source), "--output", str(out))
    assert result.returncode == 0, result.stderr
    import csv as _csv

    predicted = {int(r["id"]): int(r["label"]) for r in _csv.DictReader(out.open(encoding="utf-8"))}
    agree = sum(predicted[i] == stored[i] for i in predicted) / len(predicted)
    assert len(predicted) == 25 and agree == 1.0  # 25 sentences: >= 99.5% means all of them


def test_a_forced_onnx_backend_exports_during_the_run_and_scores_every_sentence(settings, db, trainable):
    env = dict(env_for(settings.data_dir), SCORING_BACKEND="onnx")
    result = subprocess.run([sys.executable, "-m", "core", "train", "--project", trainable.name, "--wait",
                             "--param", "max_steps=4", "--param", "num_iterations=1"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    run = get_run(db, json.loads(result.stdout)["run_id"])
    assert run.status == RunStatus.succeeded and run.scoring_backend == "onnx"
    assert run.scoring_note.startswith("onnx (SCORING_BACKEND=onnx; agrees with torch on ")
    assert run.backend_agreement >= 0.995 and _predictions(db, run.id) == run.score_total == run.scored
    assert list(run.metrics["phase_seconds"])[:6] == [
        "fine-tuning the sentence encoder", "saving the model", "scoring the labelled sentences",
        "exporting to ONNX", "choosing a scoring backend", "looking for suspicious labels"]


def test_the_cross_fitted_label_check_trains_a_real_model_per_fold_and_replaces_the_suspects(settings, db, trainable):
    """`train --kind label-check --wait` with no worker alive: five real SetFit trainings (4 steps each), the
    suspects then come from this run, `runs` lists it as a label check and `suspects` prints them."""
    result = _cli(settings, "train", "--project", trainable.name, "--kind", "label-check", "--wait",
                  "--param", "max_steps=4", "--param", "num_iterations=1", "--param", "logging_steps=1")
    assert result.returncode == 0, result.stderr[-2000:]
    payload = json.loads(result.stdout)
    assert (payload["kind"], payload["status"], payload["active"]) == ("label_check", "succeeded", False)
    assert payload["metrics"]["folds"] == 5 and payload["metrics"]["labels"] == 24
    assert payload["model_dir"] is None and payload["activation_note"] == "label check (no model version is kept)"
    from core.label_check import suspect_source
    from core.suggestions import check_queue

    items = check_queue(db, trainable.id)
    assert len(items) == payload["metrics"]["suspects"]
    if items:  # 4 steps decide little; whatever it found came from this run
        assert suspect_source(db, trainable.id).run_id == payload["run_id"]
    listed = _cli(settings, "runs", "--project", trainable.name)
    assert re.match(rf"  v1   run {payload['run_id']:<4} succeeded  label-check ", listed.stdout.splitlines()[0])
    assert active_run(db, trainable.id) is None
