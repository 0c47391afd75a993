"""Backups on both databases: back up, restore into a fresh DATA_DIR (and a fresh database), compare what a
user sees; a changed byte is refused by name; a database that holds data is not replaced without --force.

The model here is a folder with a head file, not a trained model (tests/slow/test_backup_drill.py restores
a real one while a worker trains)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from core.backup import create_backup, restore_backup, verify_backup
from core.config import Settings
from core.db import open_database
from core.errors import BackupIntegrityError, RestoreRefused
from core.model_store import HEAD_FILE, TMP_PREFIX, sha256_file
from core.projects import create_project, get_project, project_stats
from core.runs import active_run, list_runs
from db.models import Annotation, Prediction, RunStatus, TrainingRun
from tests.helpers import ADMIN, ROOT, fake_succeeded_run, make_labelled_project


@pytest.fixture
def source(settings, db, project):
    """25 sentences (24 labelled), an active version 1 with a model folder and predictions, a failed
    version 2 without a model, and the debris of a half-written model that must not be backed up."""
    make_labelled_project(db, project)
    run_id = fake_succeeded_run(db, project.id, 1, lambda s: 0.9 if "hit" in s.text or "kick" in s.text else 0.2,
                                activate=True)
    folder = settings.models_dir / str(run_id)
    (folder / "onnx").mkdir(parents=True)
    (folder / HEAD_FILE).write_bytes(b"head weights " * 100)
    (folder / "config.json").write_text('{"labels": ["other", "physical violence"]}', encoding="utf-8")
    (folder / "onnx" / "model.onnx").write_bytes(bytes(range(256)) * 8)
    with db.write() as session:
        run = session.get(TrainingRun, run_id)
        run.model_dir, run.head_sha256 = str(folder), sha256_file(folder / HEAD_FILE)
        session.add(TrainingRun(project_id=project.id, version=2, status=RunStatus.failed, preset="fast", params_json="{}",
                                snapshot_json="[]", snapshot_hash="y", error="worker lost"))
    debris = settings.models_dir / f"{TMP_PREFIX}{run_id + 1}-abcd1234"
    debris.mkdir()
    (debris / HEAD_FILE).write_bytes(b"half")
    return project


@pytest.fixture
def fresh(tmp_path, database_kind, request) -> Settings:
    """Another DATA_DIR, and on PostgreSQL another (empty, migrated) database."""
    env = {"DATA_DIR": str(tmp_path / "restored"), "WORKER_AUTOSTART": "0"}
    if database_kind == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_cluster").new_database()
    return Settings.from_env(env)


@pytest.fixture
def fresh_db(fresh):
    database = open_database(fresh)
    yield database
    database.dispose()


def _predictions(db, run_id: int) -> list[tuple]:
    with db.read() as session:
        return [(p.sentence_id, p.label, p.confidence, p.probs_json) for p in
                session.query(Prediction).filter(Prediction.run_id == run_id).order_by(Prediction.sentence_id)]


def _annotations(db) -> list[tuple]:
    with db.read() as session:
        return [(a.sentence_id, a.label, a.annotator) for a in session.query(Annotation).order_by(Annotation.id)]


def _runs(db, project_id: int) -> list[tuple]:
    return [(r.id, r.version, r.status.value, r.is_active, r.error) for r in list_runs(db, project_id)]


def _flip_byte(path: Path, member: str, at: int = 10) -> None:
    with tarfile.open(path) as tar:
        offset = tar.getmember(member).offset_data + at
    with path.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x01]))


def test_a_backup_restored_into_a_fresh_data_dir_has_the_same_labels_runs_and_active_model(
        settings, db, source, fresh, fresh_db, tmp_path):
    result = create_backup(settings, db, tmp_path / "backups" / "teach.tar")
    restored = restore_backup(fresh, fresh_db, result.path)

    assert restored.restored_models == result.manifest.model_runs
    project = get_project(fresh_db, source.name)
    stats = project_stats(fresh_db, project.id)
    assert (stats.total, stats.labelled, stats.per_label) == (25, 24, {0: 12, 1: 12})
    assert stats == project_stats(db, source.id)
    assert _runs(fresh_db, project.id) == _runs(db, source.id)
    assert [(v, s, a) for _, v, s, a, _ in _runs(fresh_db, project.id)] == [(2, "failed", False), (1, "succeeded", True)]
    assert _annotations(fresh_db) == _annotations(db) and len(_annotations(fresh_db)) == 24
    run = active_run(fresh_db, project.id)
    assert run.version == 1
    assert _predictions(fresh_db, run.id) == _predictions(db, run.id) and len(_predictions(fresh_db, run.id)) == 25
    # The restored run names the restored folder, whose files are those that were backed up.
    assert run.model_dir == str(fresh.models_dir / str(run.id))
    original = settings.models_dir / str(run.id)
    for name in (HEAD_FILE, "config.json", "onnx/model.onnx"):
        assert (Path(run.model_dir) / name).read_bytes() == (original / name).read_bytes()
    assert sorted(p.name for p in fresh.models_dir.iterdir()) == [str(run.id)]  # no debris, no staging folders


def test_the_manifest_counts_what_was_backed_up_and_leaves_out_half_written_models(settings, db, source, tmp_path):
    result = create_backup(settings, db, tmp_path / "teach.tar")
    manifest = verify_backup(result.path)
    run_id = active_run(db, source.id).id
    counts = manifest.counts
    assert (counts.projects, counts.sentences, counts.annotations, counts.runs, counts.model_folders) == (1, 25, 24, 2, 1)
    assert manifest.database == db.dialect and manifest.model_runs == (run_id,) and manifest.active_runs == (run_id,)
    database_member = "database/app.pgdump" if db.dialect == "postgresql" else "database/app.db"
    assert sorted(manifest.files) == [database_member, f"models/{run_id}/config.json",
                                      f"models/{run_id}/model_head.pkl", f"models/{run_id}/onnx/model.onnx"]
    assert manifest.files[f"models/{run_id}/model_head.pkl"].sha256 == sha256_file(
        settings.models_dir / str(run_id) / HEAD_FILE)
    with tarfile.open(result.path) as tar:
        assert not [n for n in tar.getnames() if TMP_PREFIX in n]
    assert not (tmp_path / "teach.tar.partial").exists()


@pytest.mark.parametrize("member", ["database", "model head", "manifest"])
def test_a_backup_with_one_changed_byte_is_refused_naming_the_file_and_nothing_is_restored(
        settings, db, source, fresh, fresh_db, tmp_path, member):
    path = create_backup(settings, db, tmp_path / "teach.tar").path
    run_id = active_run(db, source.id).id
    name = {"database": "database/app.pgdump" if db.dialect == "postgresql" else "database/app.db",
            "model head": f"models/{run_id}/model_head.pkl", "manifest": "manifest.json"}[member]
    _flip_byte(path, name)

    with pytest.raises(BackupIntegrityError) as refused:
        verify_backup(path)
    assert str(refused.value) == (f"{path}: {name} does not match its SHA-256; the file is damaged or was changed "
                                  "after it was written. Use another backup.")
    with pytest.raises(BackupIntegrityError, match=name):
        restore_backup(fresh, fresh_db, path)
    with fresh_db.read() as session:
        assert session.query(Annotation).count() == 0
    assert list(fresh.models_dir.iterdir()) == []


def test_restore_refuses_a_database_that_holds_data_unless_forced(settings, db, source, fresh, fresh_db, tmp_path):
    path = create_backup(settings, db, tmp_path / "teach.tar").path
    create_project(fresh_db, ADMIN, "someone else's project", ["no", "yes"])

    with pytest.raises(RestoreRefused) as refused:
        restore_backup(fresh, fresh_db, path)
    assert "is not empty (1 projects); a restore replaces all of it" in str(refused.value)
    assert "pass --force" in str(refused.value)
    assert [p.name for p in _projects(fresh_db)] == ["someone else's project"]

    restore_backup(fresh, fresh_db, path, force=True)
    assert [p.name for p in _projects(fresh_db)] == ["test project"]
    assert project_stats(fresh_db, get_project(fresh_db, "test project").id).labelled == 24


def test_a_backup_taken_while_labels_are_saved_is_one_consistent_moment(settings, db, source, fresh, fresh_db, tmp_path):
    """A moderator labels throughout the backup: the restored database holds exactly the annotations the
    manifest counted, and each sentence's current label is its latest annotation's."""
    import threading

    from core.labeling import save_label
    from db.models import Sentence
    from tests.helpers import moderator

    with db.read() as session:
        ids = [s.id for s in session.query(Sentence).order_by(Sentence.id)]
    stop, saved = threading.Event(), []

    def label_forever() -> None:
        while not stop.is_set():
            sentence_id = ids[len(saved) % len(ids)]
            save_label(db, moderator(), sentence_id, len(saved) % 2)
            saved.append(sentence_id)

    writer = threading.Thread(target=label_forever)
    writer.start()
    try:
        while len(saved) < 3:
            stop.wait(0.01)
        before = len(saved)
        manifest = create_backup(settings, db, tmp_path / "teach.tar").manifest
        during = len(saved) - before
    finally:
        stop.set()
        writer.join(timeout=30)
    restore_backup(fresh, fresh_db, tmp_path / "teach.tar")

    assert during > 0  # the backup really overlapped with writes
    restored = _annotations(fresh_db)
    assert len(restored) == manifest.counts.annotations and 24 + before <= len(restored) <= 24 + before + during
    assert restored == _annotations(db)[:len(restored)]
    with fresh_db.read() as session:
        current = {s.id: s.label for s in session.query(Sentence)}
    latest = {}
    for sentence_id, label, _ in restored:
        latest[sentence_id] = label
    assert {i: current[i] for i in latest} == latest


def _projects(db):
    from core.projects import list_projects

    return list_projects(db)


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DATA_DIR=str(settings.data_dir), WORKER_AUTOSTART="0", HF_HUB_OFFLINE="1",
               DATABASE_URL=settings.database_url)
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_cli_backs_up_verifies_and_restores_and_a_refusal_is_one_line(settings, db, source, fresh, tmp_path):
    path = tmp_path / "teach.tar"
    made = _cli(settings, "backup", "--output", str(path))
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"wrote {path} (")
    assert made.stdout.rstrip().endswith(f"{db.dialect} database at schema {verify_backup(path).schema_revision}; "
                                         "1 projects, 25 sentences, 24 annotations, 2 runs, 1 model folders")
    checked = _cli(settings, "backup", "--verify", str(path))
    assert checked.returncode == 0 and f"{path}: intact, all 4 files match their SHA-256" in checked.stdout

    restored = _cli(fresh, "restore", str(path))
    assert restored.returncode == 0, restored.stderr
    stats = json.loads(_cli(fresh, "stats", "--project", "test project", "--json").stdout)
    assert (stats["sentences"], stats["labelled"], stats["per_label"]) == (25, 24, {"other": 12, "physical violence": 12})

    again = _cli(fresh, "restore", str(path))
    assert again.returncode == 1
    assert again.stderr.startswith("error: The database ") and len(again.stderr.strip().splitlines()) == 1
    assert _cli(fresh, "restore", str(path), "--force").returncode == 0

    _flip_byte(path, f"models/{active_run(db, source.id).id}/config.json")
    damaged = _cli(settings, "backup", "--verify", str(path))
    assert damaged.returncode == 1 and len(damaged.stderr.strip().splitlines()) == 1
    assert f"config.json does not match its SHA-256" in damaged.stderr
