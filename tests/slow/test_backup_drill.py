"""The restore drill: back up while a real worker trains, restore into a fresh DATA_DIR, and check that what
a moderator sees came back: label counts, the runs, and the active model, which scores as the original did."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.backup import create_backup, restore_backup
from core.config import Settings
from core.db import open_database
from core.params import FAST_PRESET
from core.predict import load_scorer
from core.projects import get_project, project_stats
from core.runs import active_run, cancel_run, get_run, list_runs, request_retrain
from db.models import Prediction, RunStatus, Sentence
from tests.helpers import ADMIN, make_labelled_project, start_worker, wait_until

pytestmark = pytest.mark.slow

TINY = FAST_PRESET.with_overrides({"max_steps": "4", "num_iterations": "1", "logging_steps": "1"})
LONG = FAST_PRESET.with_overrides({"max_steps": "400", "num_iterations": "20", "batch_size": "8", "logging_steps": "1"})


def _stored_predictions(db, run_id: int) -> dict[int, tuple]:
    with db.read() as session:
        return {p.sentence_id: (p.label, p.probs_json) for p in
                session.query(Prediction).filter(Prediction.run_id == run_id)}


def _texts(db, project_id: int) -> dict[int, str]:
    with db.read() as session:
        return {s.id: s.text for s in session.query(Sentence).filter(Sentence.project_id == project_id)}


def test_a_backup_taken_while_a_worker_trains_restores_labels_runs_and_the_active_model(settings, db, project, tmp_path):
    make_labelled_project(db, project)
    worker = start_worker(settings.data_dir)
    try:
        first = request_retrain(db, ADMIN, project.id, TINY, "custom")
        wait_until(lambda: get_run(db, first.id).status == RunStatus.succeeded, 300, "version 1")
        second = request_retrain(db, ADMIN, project.id, LONG, "custom", force=True)
        wait_until(lambda: get_run(db, second.id).progress_step >= 2, 300, "version 2's training to be under way")

        backup = create_backup(settings, db, tmp_path / "drill.tar")

        assert get_run(db, second.id).status == RunStatus.running  # the backup overlapped the training
        source_stats = project_stats(db, project.id)
        source_runs = {r.id: r for r in list_runs(db, project.id)}
        cancel_run(db, ADMIN, second.id)
        wait_until(lambda: not get_run(db, second.id).status.is_active, 60, "version 2 to stop")
    finally:
        worker.terminate()
        worker.wait(timeout=60)

    fresh = Settings.from_env({"DATA_DIR": str(tmp_path / "restored"), "WORKER_AUTOSTART": "0"})
    fresh_db = open_database(fresh)
    try:
        restore_backup(fresh, fresh_db, backup.path)

        restored_project = get_project(fresh_db, project.name)
        stats = project_stats(fresh_db, restored_project.id)
        assert (stats.total, stats.labelled, stats.per_label) == (25, 24, {0: 12, 1: 12})
        assert stats == source_stats
        runs = {r.id: r for r in list_runs(fresh_db, restored_project.id)}
        assert sorted(runs) == [first.id, second.id] and backup.manifest.model_runs == (first.id,)
        assert (runs[first.id].version, runs[first.id].status, runs[first.id].is_active) == (1, RunStatus.succeeded, True)
        assert runs[first.id].accuracy == source_runs[first.id].accuracy
        assert runs[first.id].metrics == source_runs[first.id].metrics
        # As it was at the backup: training (the restored app's lost-worker check fails it, as after a crash).
        assert (runs[second.id].version, runs[second.id].status, runs[second.id].model_dir) == (2, RunStatus.running, None)

        active = active_run(fresh_db, restored_project.id)
        assert active.id == first.id and active.model_dir == str(fresh.models_dir / str(first.id))
        stored = _stored_predictions(fresh_db, active.id)
        assert stored == _stored_predictions(db, first.id) and len(stored) == 25
        texts = _texts(fresh_db, restored_project.id)
        ids = sorted(stored)
        restored_probs = load_scorer(fresh, "torch", fresh.models_dir / str(first.id)).predict_proba(
            [texts[i] for i in ids])
        original_probs = load_scorer(settings, "torch", settings.models_dir / str(first.id)).predict_proba(
            [texts[i] for i in ids])
        assert np.array_equal(restored_probs, original_probs)
        assert np.allclose(restored_probs, [json.loads(stored[i][1]) for i in ids], atol=1e-4)
    finally:
        fresh_db.dispose()
