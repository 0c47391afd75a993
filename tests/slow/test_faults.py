"""The fault matrix of issue 13, with real training on the real base model and tiny budgets.

Each fault hits a run while a trained version 1 is active, and each test checks what a moderator and an
admin would find afterwards: the run's status and the sentence it shows, version 1 still active with its
folder intact and loadable, nothing left under MODELS_DIR but published versions (after the next worker
start, where the clean-up happens), and a next run that succeeds.

kill -9 at an exact point uses the worker's WORKER_TEST_PAUSE_AT (core/worker.py): a save lasts about a
tenth of a second, too short to hit by polling the run's phase. A full disk and a read-only MODELS_DIR use a
small tmpfs mounted as MODELS_DIR (root only: skipped where mounting is not allowed).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import Settings
from core.db import open_database
from core.labeling import save_label, sentence_table
from core.model_store import verified_model_dir
from core.params import FAST_PRESET
from core.projects import ProjectInfo, create_project
from core.runs import WORKER_LOST, RunInfo, active_run, get_run, mark_lost_runs, request_retrain
from core.worker import TEST_PAUSE_ENV, TEST_PAUSED_MARKER, TrainingWorker
from db.engine import Database
from db.models import RunStatus
from tests.helpers import ADMIN, ROOT, env_for, make_labelled_project, moderator, wait_until

pytestmark = pytest.mark.slow

TINY = FAST_PRESET.with_overrides({"max_steps": "4", "num_iterations": "1", "logging_steps": "1"})
LONG = FAST_PRESET.with_overrides({"max_steps": "400", "num_iterations": "20", "batch_size": "8", "logging_steps": "1"})
# Torch scores the few sentences here: the idle worker's ONNX export of the active version is not under test.
QUIET = {"SCORING_BACKEND": "torch"}
UNCHANGED = "Nothing of the new version was kept; the active version is unchanged."


@dataclass(frozen=True)
class Baseline:
    """A project whose version 1 was trained and is active, and one label changed since (so a new run
    trains on something new)."""

    settings: Settings
    db: Database
    project: ProjectInfo
    version_1: RunInfo
    env: dict[str, str]  # what a worker process of this test gets

    def queue(self, params=TINY) -> RunInfo:
        return request_retrain(self.db, ADMIN, self.project.id, params, "custom")

    def change_a_label(self) -> None:
        unlabelled = sentence_table(self.db, self.project.id, unlabelled_only=True)[0]["id"]
        if len(unlabelled):
            save_label(self.db, moderator("ana"), int(unlabelled[0]), 0)
        else:  # flip the first labelled sentence
            rows = sentence_table(self.db, self.project.id, limit=1)[0]
            save_label(self.db, moderator("ana"), int(rows["id"][0]), 1)

    def start_worker(self, **extra: str) -> subprocess.Popen:
        log = open(self.settings.data_dir / "worker-test.log", "ab")
        return subprocess.Popen([sys.executable, "-m", "core", "worker"], cwd=ROOT, env=dict(self.env, **extra),
                                stdout=log, stderr=subprocess.STDOUT)

    def run_next_worker(self) -> None:
        """A worker started afresh (in this process: the same code as `python -m core worker`) that cleans up,
        serves what is queued or resumable, and stops when idle."""
        TrainingWorker(self.settings, self.db, worker_id="next").run_forever(poll_seconds=0.2, exit_when_idle=True)

    def wait_until_lost(self, run_id: int) -> RunInfo:
        wait_until(lambda: run_id in mark_lost_runs(self.db, self.settings.worker_lost_after_seconds) or
                   get_run(self.db, run_id).status == RunStatus.failed, 30, "the run to be noticed as lost")
        return get_run(self.db, run_id)

    def models_dir_entries(self) -> list[str]:
        return sorted(p.name for p in self.settings.models_dir.iterdir())

    def assert_version_1_active_intact_and_loadable(self) -> None:
        from core.setfit_adapter import SetFitClassifier

        active = active_run(self.db, self.project.id)
        assert (active.id, active.version) == (self.version_1.id, 1)
        folder = verified_model_dir(active.model_dir, active.head_sha256)  # raises if the head changed
        assert folder == self.settings.models_dir / str(self.version_1.id)
        probs = SetFitClassifier.load(folder).predict_proba(["He shoved me against the wall."])
        assert probs.shape == (1, 2)


@contextmanager
def _baseline(tmp_path: Path, models_dir: Path | None = None, database_url: str | None = None) -> Iterator[Baseline]:
    extra = dict(QUIET)
    if models_dir is not None:
        extra["MODELS_DIR"] = str(models_dir)
    if database_url is not None:
        extra["DATABASE_URL"] = database_url
    env = env_for(tmp_path / "data", **extra)
    settings = Settings.from_env(env)
    db = open_database(settings)
    try:
        project = create_project(db, ADMIN, "fault project", ["other", "physical violence"], test_fraction=0.25)
        make_labelled_project(db, project)
        run = request_retrain(db, ADMIN, project.id, TINY, "custom")
        worker = TrainingWorker(settings, db, worker_id="baseline")
        assert worker.claim_next(run.id) == run.id
        assert worker.execute(run.id) == RunStatus.succeeded, get_run(db, run.id).error
        baseline = Baseline(settings, db, project, get_run(db, run.id), env)
        assert baseline.version_1.is_active
        baseline.change_a_label()
        yield baseline
    finally:
        db.dispose()


@contextmanager
def _stopped_worker(baseline: Baseline, at: str) -> Iterator[subprocess.Popen]:
    """A worker process that paused at `at`; killed in the end whatever the test did."""
    process = baseline.start_worker(**{TEST_PAUSE_ENV: at})
    try:
        marker = baseline.settings.data_dir / TEST_PAUSED_MARKER
        wait_until(lambda: marker.exists() or process.poll() is not None, 240, f"the worker to pause at {at!r}")
        assert process.poll() is None, (baseline.settings.data_dir / "worker-test.log").read_text()[-3000:]
        assert marker.read_text(encoding="utf-8") == at
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def _kill_9(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


def _assert_next_run_succeeds(baseline: Baseline) -> RunInfo:
    baseline.change_a_label()
    retry = baseline.queue()
    baseline.run_next_worker()
    done = get_run(baseline.db, retry.id)
    assert done.status == RunStatus.succeeded, done.error
    assert (done.error, Path(done.model_dir)) == (None, baseline.settings.models_dir / str(retry.id))
    return done


# -- kill -9 of the worker ------------------------------------------------------------------------------------

def _assert_killed_run_ends_lost_and_is_cleaned_up_at_the_next_start(baseline: Baseline, doomed: RunInfo,
                                                                       debris: list[str]) -> None:
    lost = baseline.wait_until_lost(doomed.id)
    assert (lost.status, lost.error, lost.model_dir) == (RunStatus.failed, WORKER_LOST, None)
    assert baseline.models_dir_entries() == sorted([str(baseline.version_1.id), *debris])
    baseline.assert_version_1_active_intact_and_loadable()

    retry = _assert_next_run_succeeds(baseline)  # its worker's start removes the debris
    assert baseline.models_dir_entries() == sorted([str(baseline.version_1.id), str(retry.id)])
    assert get_run(baseline.db, doomed.id).status == RunStatus.failed  # never silently re-run


def test_kill_9_while_loading_the_base_model_fails_the_run_as_worker_lost_and_the_next_run_succeeds(tmp_path):
    with _baseline(tmp_path) as baseline:
        doomed = baseline.queue()
        with _stopped_worker(baseline, "loading the base model") as process:
            assert get_run(baseline.db, doomed.id).phase == "loading the base model"
            _kill_9(process)
        _assert_killed_run_ends_lost_and_is_cleaned_up_at_the_next_start(baseline, doomed, debris=[])


def test_kill_9_mid_epoch_fails_the_run_as_worker_lost_and_the_next_run_succeeds(tmp_path):
    with _baseline(tmp_path) as baseline:
        doomed = baseline.queue(LONG)
        process = baseline.start_worker()
        try:
            wait_until(lambda: get_run(baseline.db, doomed.id).progress_step >= 2, 240, "training to be under way")
            assert get_run(baseline.db, doomed.id).phase == "fine-tuning the sentence encoder"
            _kill_9(process)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        _assert_killed_run_ends_lost_and_is_cleaned_up_at_the_next_start(baseline, doomed, debris=[])


def test_kill_9_mid_save_leaves_a_temp_folder_that_the_next_worker_start_removes(tmp_path):
    with _baseline(tmp_path) as baseline:
        doomed = baseline.queue()
        with _stopped_worker(baseline, "saving the model") as process:
            assert get_run(baseline.db, doomed.id).phase == "saving the model"
            [temp] = baseline.settings.models_dir.glob(f".tmp-run-{doomed.id}-*")
            assert (temp / "model_head.pkl").is_file()  # written, not yet renamed into place
            _kill_9(process)
        _assert_killed_run_ends_lost_and_is_cleaned_up_at_the_next_start(baseline, doomed, debris=[temp.name])


def test_kill_9_between_publishing_and_activation_is_resumed_by_the_next_worker_and_succeeds(tmp_path):
    """Once published, a run records its model and is not failed as lost: the next worker resumes it from
    the first sentence without a prediction and finishes it, activation rule included (core/runs.py)."""
    with _baseline(tmp_path) as baseline:
        doomed = baseline.queue()
        with _stopped_worker(baseline, "finishing") as process:
            published = get_run(baseline.db, doomed.id)
            assert (published.status, published.phase) == (RunStatus.running, "finishing")
            assert Path(published.model_dir) == baseline.settings.models_dir / str(doomed.id)
            assert not published.is_active
            _kill_9(process)

        assert mark_lost_runs(baseline.db, 0) == []  # resumable, so not failed as lost
        wait_until(lambda: _heartbeat_older_than(baseline, doomed.id, baseline.settings.worker_lost_after_seconds),
                   30, "the dead worker's heartbeat to be old enough to resume its run")
        baseline.run_next_worker()

        resumed = get_run(baseline.db, doomed.id)
        assert (resumed.status, resumed.error) == (RunStatus.succeeded, None)
        assert (resumed.scored, resumed.score_total) == (25, 25)
        verified_model_dir(resumed.model_dir, resumed.head_sha256)
        _assert_version_1_kept_and_the_active_one_by_the_rule(baseline, resumed)
        assert baseline.models_dir_entries() == sorted([str(baseline.version_1.id), str(doomed.id)])


def _heartbeat_older_than(baseline: Baseline, run_id: int, seconds: float) -> bool:
    from db.models import utcnow

    beat = get_run(baseline.db, run_id).heartbeat_at
    return beat is not None and (utcnow() - beat).total_seconds() > seconds


# -- MODELS_DIR that cannot take the new version ----------------------------------------------------------------

@contextmanager
def _tmpfs(path: Path, megabytes: int) -> Iterator[Path]:
    """A small tmpfs at `path`, or the test is skipped where mounting is not allowed (not root, a container
    without CAP_SYS_ADMIN)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs as MODELS_DIR needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True, capture_output=True)


def _train_in_this_process(baseline: Baseline) -> RunInfo:
    run = baseline.queue()
    worker = TrainingWorker(baseline.settings, baseline.db, worker_id="faulty-disk")
    assert worker.claim_next(run.id) == run.id
    worker.execute(run.id)
    return get_run(baseline.db, run.id)


def test_a_full_disk_at_save_time_fails_the_run_saying_so_and_the_next_run_succeeds_once_space_is_freed(tmp_path):
    with _tmpfs(tmp_path / "models", 300) as models, _baseline(tmp_path, models_dir=models) as baseline:
        filler = models / "filler"
        with filler.open("wb") as handle:
            os.posix_fallocate(handle.fileno(), 0, shutil.disk_usage(models).free - 8 * 2**20)

        failed = _train_in_this_process(baseline)
        assert (failed.status, failed.model_dir) == (RunStatus.failed, None)
        assert failed.error == (f"No space left on the disk of MODELS_DIR ({models}) to save the new version. "
                                f"Free some space there or give it a larger disk, then retrain. {UNCHANGED}")
        assert baseline.models_dir_entries() == sorted([str(baseline.version_1.id), "filler"])  # temp folder gone
        baseline.assert_version_1_active_intact_and_loadable()

        filler.unlink()
        retry = _assert_next_run_succeeds(baseline)
        assert baseline.models_dir_entries() == sorted([str(baseline.version_1.id), str(retry.id)])


def test_a_read_only_models_dir_fails_the_run_saying_so_and_the_next_run_succeeds_once_writable(tmp_path):
    with _tmpfs(tmp_path / "models", 300) as models, _baseline(tmp_path, models_dir=models) as baseline:
        _remount(models, "ro")
        try:
            failed = _train_in_this_process(baseline)
            assert (failed.status, failed.model_dir) == (RunStatus.failed, None)
            assert failed.error == (
                f"MODELS_DIR ({models}) is read-only, so the new version could not be saved. Make it writable "
                f"(remount it read-write, or set MODELS_DIR to a writable folder), then retrain. {UNCHANGED}")
            assert baseline.models_dir_entries() == [str(baseline.version_1.id)]
            baseline.assert_version_1_active_intact_and_loadable()
        finally:
            _remount(models, "rw")
        retry = _assert_next_run_succeeds(baseline)
        assert baseline.models_dir_entries() == sorted([str(baseline.version_1.id), str(retry.id)])


# -- the database server restarted mid-run (PostgreSQL) -----------------------------------------------------------

@pytest.fixture
def own_postgres():
    """A cluster of its own: restarting the session's shared one would cut other tests' connections."""
    from tests import postgres

    if not postgres.available():
        pytest.skip("PostgreSQL server binaries (apt-get install postgresql) and root are needed")
    cluster = postgres.Cluster()
    yield cluster
    cluster.stop()


def _restart_server(cluster) -> None:
    # -l: the restarted server writes to its log, not to a pipe of ours that it would hold open.
    subprocess.run(["runuser", "-u", "postgres", "--", cluster.pg_ctl, "-D", str(cluster.data), "-m", "fast",
                    "-l", str(cluster.base / "server.log"), "-w", "restart"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def _worker_heartbeat(db: Database, pid: int):
    from sqlalchemy import select

    from db.models import Worker

    with db.read() as session:
        return session.scalar(select(Worker.heartbeat_at).where(Worker.pid == pid))


def _assert_version_1_kept_and_the_active_one_by_the_rule(baseline: Baseline, run: RunInfo) -> None:
    """Version 1's folder is intact and loadable; the active version is the one the activation rule chose
    (the new run when its test accuracy is at least version 1's)."""
    from core.setfit_adapter import SetFitClassifier

    folder = verified_model_dir(baseline.version_1.model_dir, baseline.version_1.head_sha256)
    assert SetFitClassifier.load(folder).predict_proba(["He shoved me."]).shape == (1, 2)
    active = active_run(baseline.db, baseline.project.id)
    if run.is_active:
        assert active.id == run.id and run.activation_note.startswith("active: test accuracy ")
    else:
        assert active.id == baseline.version_1.id and run.activation_note.startswith("not activated: test accuracy ")


def test_postgresql_restarted_mid_epoch_the_worker_reconnects_and_the_run_and_the_next_succeed(tmp_path, own_postgres):
    from db.models import utcnow

    medium = FAST_PRESET.with_overrides({"max_steps": "40", "num_iterations": "20", "batch_size": "8",
                                         "logging_steps": "1"})
    with _baseline(tmp_path, database_url=own_postgres.new_database()) as baseline:
        survivor = baseline.queue(medium)
        process = baseline.start_worker()
        try:
            wait_until(lambda: get_run(baseline.db, survivor.id).progress_step >= 2, 240, "training to be under way")
            _restart_server(own_postgres)
            restarted_at = utcnow()
            # The worker's heartbeat thread lives on through the restart (it died on the first refused write).
            wait_until(lambda: (_worker_heartbeat(baseline.db, process.pid) or restarted_at) > restarted_at, 15,
                       "a heartbeat after the restart")
            done = wait_until(lambda: (r := get_run(baseline.db, survivor.id)) and not r.status.is_active and r, 300,
                              "the run to end")
            assert (done.status, done.error) == (RunStatus.succeeded, None)
            assert (done.progress_step, done.progress_total) == (40, 40)
            _assert_version_1_kept_and_the_active_one_by_the_rule(baseline, done)
            assert baseline.models_dir_entries() == sorted([str(baseline.version_1.id), str(survivor.id)])

            baseline.change_a_label()
            following = baseline.queue()  # served by the same worker process
            after = wait_until(lambda: (r := get_run(baseline.db, following.id)) and not r.status.is_active and r,
                               240, "the next run")
            assert (after.status, after.error) == (RunStatus.succeeded, None)
            assert process.poll() is None
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
