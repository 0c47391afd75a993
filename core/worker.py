"""The background worker: a separate process that claims queued runs and trains them.

It never holds a transaction while training: every progress, loss and heartbeat write is its own
short BEGIN IMMEDIATE transaction, so the web process keeps labelling at full speed.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from core.classifier import Classifier, ClassifierFactory, FitResult, LoggedLoss, RunCancelled, TrainingHooks
from core.config import Settings, redact_url
from core.errors import AppError
from core.learning_curve import finish_learning_curve, measure_learning_curve, points_json
from core.label_check import run_label_check
from core.model_store import publish, remove_temp_dirs, temp_dir_for, writing_into
from core.params import TrainingParams
from core.run_metrics import RunMetrics
from core.projects import get_project
from core.runs import Job, end_run, finish_run, get_run, load_job, mark_lost_runs, resumable_scoring
from core.suggestions import (
    PAIR_MODEL_KEY,
    ProjectSentences,
    cached_embeddings,
    find_suspects,
    model_key_for,
    prepare_suggestions,
    project_sentences,
    refresh_due,
    refresh_suggestions,
    write_suggestions,
    write_suspects,
)
from db.engine import Database
from db.models import LossPoint, Prediction, Project, RunKind, RunStatus, Sentence, TrainingRun, Worker, utcnow

log = logging.getLogger("worker")

# Sentences scored per transaction after a run: each chunk is a resume point (measured: the rate is flat
# from 500 up on 2 cores, and a chunk stays well under a second of write lock).
SCORE_CHUNK = 2000
# Below this many sentences left to score, a run scores them with torch rather than export to ONNX first.
ONNX_PAYS_OFF_FROM = 2000
# The fault tests (tests/slow/test_faults.py) kill -9 the worker at exact points of a run. Some last a tenth
# of a second (a save), too short to hit by polling the run's phase, so with WORKER_TEST_PAUSE_AT=<point> the
# worker stops at that point, writes it into DATA_DIR/worker-paused-at and waits to be killed. Unset in use.
TEST_PAUSE_ENV = "WORKER_TEST_PAUSE_AT"
TEST_PAUSED_MARKER = "worker-paused-at"


@dataclass
class _RunInHand:
    """A run the worker is executing: its hooks, how it ended, and the model folder to remove unless it
    succeeds (a temporary one until published, then the published one until the run has succeeded)."""

    id: int
    hooks: TrainingHooks
    status: RunStatus = RunStatus.running
    temp_dir: Path | None = None
    published: Path | None = None
    scorer: object | None = None  # what scored every sentence (a Classifier or an OnnxScorer)
    phases: list[tuple[str, float]] = field(default_factory=list)  # (phase, monotonic start), for the profile
    sentences: ProjectSentences | None = None


@dataclass(frozen=True)
class _Trained:
    classifier: Classifier
    fit: FitResult


@dataclass(frozen=True)
class _Scores:
    """The new version's torch probabilities for the snapshot's labelled sentences, and the test metrics."""

    ids: list[int]
    texts: list[str]
    probs: np.ndarray
    torch_seconds: float
    metrics: RunMetrics


@dataclass(frozen=True)
class _Backend:
    name: str  # onnx-int8 | onnx | torch
    agreement: float  # share of labelled sentences whose label equals torch's
    note: str


@dataclass(frozen=True)
class _Analysis:
    suspects: list[dict] | None
    n_sentences: int


class TrainingWorker:
    def __init__(self, settings: Settings, db: Database, worker_id: str | None = None,
                 classifiers: ClassifierFactory | None = None) -> None:
        self.settings = settings
        self.db = db
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.current_run_id: int | None = None
        self._stop = threading.Event()
        self._heartbeat_thread: threading.Thread | None = None
        self._encoder_key: str | None = None
        self._encoder_model: Classifier | None = None
        self._classifier_factory = classifiers
        self._auto_refused: dict[int, int] = {}  # project id -> label changes when auto-retrain was refused

    def _classifiers(self) -> ClassifierFactory:
        """SetFit unless a test passed another factory; the heavy import happens here, in the worker only."""
        if self._classifier_factory is None:
            from core.setfit_adapter import SetFitFactory

            self._classifier_factory = SetFitFactory(self.settings.base_model, self.settings.base_model_name,
                                                     self.settings.torch_threads, self.settings.torch_device)
        return self._classifier_factory

    # -- liveness -------------------------------------------------------------------------------
    def register(self) -> None:
        with self.db.write() as session:
            session.add(Worker(id=self.id, host=socket.gethostname(), pid=os.getpid()))
        self._heartbeat_thread = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        self._heartbeat_thread.start()

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_seconds):
            try:
                self.heartbeat()
            except OperationalError:  # the database is unreachable (restarting): beat again next time, for
                # a thread that died here would leave a live worker and its run to be taken for lost
                log.warning("heartbeat not written: the database is unreachable", exc_info=True)

    def heartbeat(self) -> None:
        now = utcnow()
        with self.db.write() as session:
            session.execute(update(Worker).where(Worker.id == self.id).values(heartbeat_at=now, current_run_id=self.current_run_id))
            if self.current_run_id is not None:
                session.execute(update(TrainingRun).where(TrainingRun.id == self.current_run_id).values(heartbeat_at=now))

    def stop(self) -> None:
        self._stop.set()
        with self.db.write() as session:
            session.execute(update(Worker).where(Worker.id == self.id).values(stopped=True))

    # -- claiming -------------------------------------------------------------------------------
    def claim_next(self, run_id: int | None = None) -> int | None:
        """Atomically take the oldest queued run: two workers never both take it (db/engine.py)."""
        with self.db.write() as session:
            stmt = select(TrainingRun).where(TrainingRun.status == RunStatus.queued)
            if run_id is not None:
                stmt = stmt.where(TrainingRun.id == run_id)
            # SKIP LOCKED: on PostgreSQL another worker's claim in flight is passed over, not waited for
            # (SQLite leaves FOR UPDATE out; BEGIN IMMEDIATE already makes claims one at a time).
            run = session.scalar(stmt.order_by(TrainingRun.id).limit(1).with_for_update(skip_locked=True))
            if run is None:
                return None
            now = utcnow()
            run.status, run.worker_id, run.started_at, run.heartbeat_at = RunStatus.running, self.id, now, now
            run.host = _host()  # the device follows once the run starts (`_load_job`)
            run.phase = "loading the base model"
            self.current_run_id = run.id
            return run.id

    def recover(self) -> None:
        """At start-up: fail runs whose worker died and delete their half-written models."""
        lost = mark_lost_runs(self.db, self.settings.worker_lost_after_seconds)
        with self.db.read() as session:
            running = list(session.scalars(select(TrainingRun.id).where(TrainingRun.status == RunStatus.running)))
        # Temp dirs of runs still running elsewhere are theirs; everything else is debris.
        if self.settings.models_dir.is_dir():
            debris = [r for r in self._temp_run_ids() if r not in running]
            remove_temp_dirs(self.settings.models_dir, debris)
            self._remove_unkept_model_dirs()
        if lost:
            log.warning("marked runs %s failed: worker lost", lost)

    def _remove_unkept_model_dirs(self) -> None:
        """A worker killed between publishing a model and finishing its run leaves MODELS_DIR/<id>/ of a run
        that then failed ("worker lost"): delete those. Folders of unknown runs are left alone."""
        ids = [int(path.name) for path in self.settings.models_dir.iterdir() if path.is_dir() and path.name.isdigit()]
        if not ids:
            return
        with self.db.read() as session:
            ended = list(session.scalars(select(TrainingRun.id).where(
                TrainingRun.id.in_(ids), TrainingRun.status.in_([RunStatus.failed, RunStatus.cancelled]))))
        for run_id in ended:
            shutil.rmtree(self.settings.models_dir / str(run_id), ignore_errors=True)

    def _temp_run_ids(self) -> list[int]:
        ids = []
        for path in self.settings.models_dir.glob(".tmp-run-*"):
            part = path.name.removeprefix(".tmp-run-").split("-")[0]
            if part.isdigit():
                ids.append(int(part))
        return ids

    # -- the loop -------------------------------------------------------------------------------
    def run_forever(self, poll_seconds: float = 1.0, max_runs: int | None = None, exit_when_idle: bool = False) -> int:
        self.register()
        self.recover()
        done = 0
        last_recover = time.monotonic()
        try:
            while not self._stop.is_set():
                run_id = self.claim_next()
                if run_id is None:
                    self.resume_scoring_if_due()
                    self.export_deferred_if_due()
                    self.refresh_suggestions_if_due()
                    if self.auto_retrain_if_due():
                        continue  # claim it at once
                    if exit_when_idle:
                        break
                    if time.monotonic() - last_recover > self.settings.heartbeat_seconds:
                        # Not only at start: a worker restarted at once after a kill -9 sees the dead run as
                        # still running until its heartbeat is old, and must still delete its temp folder.
                        self.recover()
                        last_recover = time.monotonic()
                    self._stop.wait(poll_seconds)
                    continue
                self.execute_any(run_id)
                done += 1
                if max_runs is not None and done >= max_runs:
                    break
        finally:
            self.stop()
        return done

    # -- live suggestions between runs -----------------------------------------------------------
    def _encoder(self, model_key: str):
        """The body that produced `model_key` embeddings, kept loaded between refreshes."""
        if self._encoder_key != model_key:
            from core.model_store import verified_model_dir

            if model_key == "base":
                model = self._classifiers().new(["0", "1"], TrainingParams())  # only its body is used
            else:
                with self.db.read() as session:
                    run = session.get(TrainingRun, int(model_key.removeprefix("run-")))
                    model_dir, sha = run.model_dir, run.head_sha256
                model = self._classifiers().load(verified_model_dir(model_dir, sha))
            self._encoder_key, self._encoder_model = model_key, model
        return self._encoder_model.embed

    def auto_retrain_if_due(self) -> list[int]:
        """Queue the runs projects asked for by themselves (core/auto_retrain.py); returns their ids.
        A refusal (too few labels) is tried again only after further label changes."""
        from core.auto_retrain import auto_retrain_if_due, label_changes_since_last_run, projects_with_auto_retrain

        queued = []
        for project_id in projects_with_auto_retrain(self.db):
            with self.db.read() as session:
                changes = label_changes_since_last_run(session, project_id)
            if self._auto_refused.get(project_id) == changes:
                continue
            run = auto_retrain_if_due(self.db, project_id)
            if run is not None:
                queued.append(run.id)
                log.info("project %s: queued version %s by itself after %s label changes", project_id, run.version, changes)
            else:
                self._auto_refused[project_id] = changes
        return queued

    def refresh_suggestions_if_due(self) -> None:
        with self.db.read() as session:
            project_ids = list(session.scalars(select(Project.id)))
        for project_id in project_ids:
            key = refresh_due(self.db, project_id)
            if key is None:
                continue
            try:
                seconds = refresh_suggestions(self.db, project_id, key, self._encoder(key))
                log.info("project %s: suggestions refreshed with %s in %.2f s", project_id, key, seconds)
            except AppError as error:  # e.g. a model file gone missing: suggestions wait, training goes on
                log.warning("project %s: suggestions not refreshed: %s", project_id, error)

    # -- one run --------------------------------------------------------------------------------
    def execute_any(self, run_id: int) -> RunStatus:
        with self.db.read() as session:
            kind = session.scalar(select(TrainingRun.kind).where(TrainingRun.id == run_id))
        if kind == RunKind.learning_curve:
            return self.execute_learning_curve(run_id)
        if kind == RunKind.label_check:
            return self.execute_label_check(run_id)
        return self.execute(run_id)

    def execute(self, run_id: int) -> RunStatus:
        """Train a new model version, phase by phase. The run becomes succeeded (and maybe active) only in
        the last phase, so a failure anywhere before leaves the active model as it was and no model folder
        behind."""
        with self._guarded(run_id) as run:
            job = self._load_job(run)
            trained = self._train(run, job)
            self._save(run, trained)
            scores = self._score_labelled(run, job, trained)
            backend = self._choose_backend(run, trained, scores)
            analysis = self._analyse(run, job, trained.classifier)
            self._publish(run, trained, scores, backend, analysis)
            self._score_rest(run, trained.classifier)
            self._finish(run, job, analysis)
        return run.status

    def resume_scoring_if_due(self) -> list[int]:
        """Runs whose worker died while scoring every sentence (their model is published, their heartbeat
        older than the lost limit): claim each with a conditional update, so two workers never both take
        one, and go on from the first sentence without a prediction. Returns the runs resumed."""
        cutoff = utcnow() - timedelta(seconds=self.settings.worker_lost_after_seconds)
        with self.db.read() as session:
            stalled = list(session.scalars(select(TrainingRun.id).where(*resumable_scoring(cutoff))))
        resumed = []
        for run_id in stalled:
            with self.db.write() as session:
                claimed = session.execute(update(TrainingRun).where(
                    TrainingRun.id == run_id, *resumable_scoring(cutoff)).values(
                    worker_id=self.id, heartbeat_at=utcnow(), host=_host())).rowcount
            if not claimed:
                continue
            log.info("run %s: resuming the scoring of every sentence", run_id)
            with self._guarded(run_id) as run:
                job = self._load_job(run)
                run.published = Path(get_run(self.db, run_id).model_dir)
                analysis = self._analyse(run, job)
                self._score_rest(run, None)
                self._finish(run, job, analysis)
            resumed.append(run_id)
        return resumed

    def execute_learning_curve(self, run_id: int) -> RunStatus:
        """Train on growing shares of the labelled train split; test accuracy for each (core/learning_curve.py)."""
        with self._guarded(run_id) as run:
            job = self._load_job(run)
            points = measure_learning_curve(
                job, lambda: self._classifiers().new(list(job.label_names), job.params), run.hooks,
                on_point=lambda so_far: self._update_run(run_id, metrics_json=points_json(so_far)))
            finish_learning_curve(self.db, run_id, points)
            run.status = RunStatus.succeeded
        return run.status

    def execute_label_check(self, run_id: int) -> RunStatus:
        """Score each fold of the labels with a model trained on the others; the suspects replace the
        project's (core/label_check.py). Keeps no model version."""
        with self._guarded(run_id) as run:
            job = self._load_job(run)
            run_label_check(self.db, run_id, job, lambda: self._classifiers().new(list(job.label_names), job.params),
                            run.hooks)
            run.status = RunStatus.succeeded
        return run.status

    @contextmanager
    def _guarded(self, run_id: int) -> Iterator[_RunInHand]:
        """The one place a run's work ends badly: a cancel ends the run cancelled, any error failed (its
        traceback in the run's log) while the worker keeps serving, and a model folder of a run that did not
        succeed is removed. A stop (KeyboardInterrupt) is cleaned up after and passes through; the stop
        handler (core/launcher.py) fails the run."""
        phases: list[tuple[str, float]] = []
        run = _RunInHand(run_id, self._hooks(run_id, phases), phases=phases)
        self.current_run_id = run_id
        try:
            yield run
        except RunCancelled:
            end_run(self.db, run_id, RunStatus.cancelled, "cancelled by a moderator")
            run.status = RunStatus.cancelled
        except Exception as error:  # the run records every failure; the worker itself keeps serving
            log.exception("run %s failed", run_id)
            end_run(self.db, run_id, RunStatus.failed, _plain_error(error), traceback.format_exc())
            run.status = RunStatus.failed
        finally:
            if run.temp_dir is not None:
                remove_temp_dirs(self.settings.models_dir, [run_id])
            # Published, but the run did not succeed (asked again: a Ctrl-C can land just after the commit).
            if run.published is not None and self._status(run_id) != RunStatus.succeeded:
                shutil.rmtree(run.published, ignore_errors=True)
            self.current_run_id = None

    # The phases of `execute`, in order.

    def _load_job(self, run: _RunInHand) -> Job:
        """The run's snapshot; first the device it runs on, for the Versions table. Resolved here, in the
        guard, so TORCH_DEVICE=cuda on a machine without a GPU fails the run with the reason."""
        self._update_run(run.id, device=self._classifiers().device)
        return load_job(self.db, run.id)

    def _train(self, run: _RunInHand, job: Job) -> _Trained:
        """A fresh classifier fitted on the train split; the test split only feeds the card's validation loss."""
        self._pause_if_asked("loading the base model")
        classifier = self._classifiers().new(list(job.label_names), job.params)
        fit = classifier.fit([e.text for e in job.train], [e.label for e in job.train],
                             [e.text for e in job.test], [e.label for e in job.test], run.hooks, job.params)
        self._stop_if_cancelled(run.id)
        return _Trained(classifier, fit)

    def _save(self, run: _RunInHand, trained: _Trained) -> None:
        """Into a temporary folder, published under MODELS_DIR/<run id>/ only in `_publish`."""
        run.hooks.on_phase("saving the model")
        with writing_into(self.settings.models_dir):
            run.temp_dir = temp_dir_for(self.settings.models_dir, run.id)
            trained.classifier.save(run.temp_dir)
        self._pause_if_asked("saving the model")  # written, not yet published

    def _score_labelled(self, run: _RunInHand, job: Job, trained: _Trained) -> _Scores:
        """The snapshot's labelled sentences, scored once with torch (the reference): the test metrics come
        from their test rows, the suspects and the backend check from all of them."""
        run.hooks.on_phase("scoring the labelled sentences")
        examples = [*job.train, *job.test]
        texts = [e.text for e in examples]
        ids = [e.sentence_id for e in examples]
        with self.db.read() as session:
            hash_of = dict(session.execute(select(Sentence.id, Sentence.text_hash).where(Sentence.id.in_(ids))).all())
        started = time.perf_counter()
        # Through the embedding cache, so the suggestions after scoring the rest need not embed these again.
        embeddings = cached_embeddings(self.db, model_key_for(run.id), [hash_of[i] for i in ids], texts,
                                       trained.classifier.embed)
        probs = (trained.classifier.predict_proba_from_embeddings(embeddings) if texts
                 else np.zeros((0, len(job.label_values))))
        seconds = time.perf_counter() - started
        self._store_predictions(run.id, ids, probs, job.label_values)
        return _Scores(ids, texts, probs, seconds, measure_test_split(job, ids, probs, trained.fit))

    def _choose_backend(self, run: _RunInHand, trained: _Trained, scores: _Scores) -> _Backend:
        """How this version scores everything else: the fastest ONNX backend whose labels agree with torch's
        on >= 99.5% of the labelled sentences (core/onnx_scorer.py), unless SCORING_BACKEND names one."""
        wanted = self.settings.scoring_backend
        if wanted == "torch" or not getattr(trained.classifier, "exports_onnx", False):
            note = "torch (SCORING_BACKEND=torch)" if wanted == "torch" else "torch (this model has no ONNX export)"
            return _Backend("torch", 1.0, note)
        left = self._sentences_without_prediction(run.id, scores)
        if wanted == "auto" and left < ONNX_PAYS_OFF_FROM:
            # Exporting and checking cost 5-10 s (bench/bench_scoring.py); torch scores 130-370 sentences/s
            # here and int8 ONNX ~3x that, so
            # below ~2,000 sentences torch is done first. The export follows once the worker is idle.
            return _Backend("torch", 1.0, f"torch ({left:,} sentences to score: an ONNX export would cost "
                                          "more than it saves; exported after the run)")
        from core import onnx_scorer

        run.hooks.on_phase("exporting to ONNX")
        onnx_scorer.export_onnx(run.temp_dir, threads=self.settings.torch_threads)
        self._stop_if_cancelled(run.id)
        run.hooks.on_phase("choosing a scoring backend")
        choice = onnx_scorer.choose_backend(run.temp_dir, scores.texts, scores.probs, scores.torch_seconds,
                                            threads=self.settings.torch_threads)
        if wanted != "auto":
            measured = {m.backend.value: m for m in choice.measurements}
            forced = measured.get(wanted)
            agreement = forced.agreement if forced is not None else float("nan")
            return _Backend(wanted, agreement, f"{wanted} (SCORING_BACKEND={wanted}; agrees with torch on "
                                              f"{agreement:.1%} of {choice.n_texts} labelled sentences)")
        return _Backend(choice.backend.value, choice.agreement, choice.summary())

    def _sentences_without_prediction(self, run_id: int, scores: _Scores) -> int:
        with self.db.read() as session:
            project_id = session.scalar(select(TrainingRun.project_id).where(TrainingRun.id == run_id))
            total = session.scalar(select(func.count()).select_from(Sentence).where(Sentence.project_id == project_id))
        return int(total) - len(scores.ids)

    def export_deferred_if_due(self) -> list[int]:
        """Active versions that scored with torch because the export did not pay off during the run: export
        them now that the worker is idle, and switch them to the backend measured best, for `predict`, the
        download and the next scoring. Returns the runs exported."""
        if self.settings.scoring_backend != "auto":
            return []
        with self.db.read() as session:
            candidates = list(session.execute(select(TrainingRun.id, TrainingRun.model_dir, TrainingRun.head_sha256)
                                              .join(Project, Project.active_run_id == TrainingRun.id)
                                              .where(TrainingRun.scoring_backend == "torch",
                                                     TrainingRun.scoring_note.like("%exported after the run%"))))
        exported = []
        for run_id, model_dir, sha in candidates:
            try:
                backend = self._export_and_choose(run_id, model_dir, sha)
            except Exception as error:  # any failure (a full disk, an exporter error): the version keeps
                # scoring with torch, the note stops the retry, and the worker goes on serving runs
                log.exception("run %s: ONNX export skipped", run_id)
                self._update_run(run_id, scoring_note=f"torch (ONNX export failed: {_plain_error(error)})")
                continue
            self._update_run(run_id, scoring_backend=backend.name, backend_agreement=backend.agreement,
                             scoring_note=backend.note)
            exported.append(run_id)
        return exported

    def _export_and_choose(self, run_id: int, model_dir: str, sha: str) -> _Backend:
        from core import onnx_scorer
        from core.model_store import verified_model_dir

        folder = verified_model_dir(model_dir, sha)
        classifier = self._classifiers().load(folder)
        job = load_job(self.db, run_id)
        texts = [e.text for e in (*job.train, *job.test)]
        started = time.perf_counter()
        probs = classifier.predict_proba(texts)
        seconds = time.perf_counter() - started
        onnx_scorer.export_onnx(folder, threads=self.settings.torch_threads)
        choice = onnx_scorer.choose_backend(folder, texts, probs, seconds, threads=self.settings.torch_threads)
        return _Backend(choice.backend.value, choice.agreement, choice.summary())

    def _analyse(self, run: _RunInHand, job: Job, classifier: Classifier | None = None) -> _Analysis:
        """Suspected label errors, written only when the run finishes; the base body's vectors of the
        labelled sentences, cached for contradicting pairs (core/suggestions.py `label_pairs`)."""
        run.hooks.on_phase("looking for suspicious labels")
        data = project_sentences(self.db, job.project_id)
        rows = [i for i, label in enumerate(data.labels) if label is not None]
        hashes, texts = [data.hashes[i] for i in rows], [data.texts[i] for i in rows]
        # On the new version's body, mostly cached by `_score_labelled`: out-of-fold heads on it found
        # more flipped labels than on the base body's, or on both (bench/bench_suspects.py, README).
        key = model_key_for(run.id)
        tuned = cached_embeddings(self.db, key, hashes, texts,
                                  classifier.embed if classifier is not None else lambda t: self._encoder(key)(t))
        suspects = find_suspects(job.project_id, run.id, [data.ids[i] for i in rows], tuned,
                                 [data.labels[i] for i in rows], len(job.label_values))
        cached_embeddings(self.db, PAIR_MODEL_KEY, hashes, texts, lambda t: self._encoder(PAIR_MODEL_KEY)(t))
        self._stop_if_cancelled(run.id)
        return _Analysis(suspects, len(data.ids))

    def _publish(self, run: _RunInHand, trained: _Trained, scores: _Scores, backend: _Backend,
                 analysis: _Analysis) -> None:
        """The card gets the test metrics and the folder moves to MODELS_DIR/<run id>/. The run stays running
        (not yet succeeded, not active) but now records its model, metrics and scoring backend, so a worker
        that dies while scoring every sentence can be resumed by another (`resume_scoring_if_due`)."""
        run.hooks.on_phase("publishing the new version")
        with writing_into(self.settings.models_dir):
            trained.classifier.write_card(run.temp_dir, scores.metrics)
            run.published, head_sha = publish(run.temp_dir, self.settings.models_dir, run.id)
        run.temp_dir = None
        self._update_run(run.id, model_dir=str(run.published), head_sha256=head_sha,
                         metrics_json=json.dumps(scores.metrics.to_dict()), scoring_backend=backend.name,
                         backend_agreement=backend.agreement, scoring_note=backend.note, scored=len(scores.ids),
                         score_total=analysis.n_sentences)

    def _score_rest(self, run: _RunInHand, classifier: Classifier | None) -> int:
        """Score the project's sentences that have no prediction of this version yet, SCORE_CHUNK at a time,
        with the version's scoring backend: each chunk's predictions and the progress (scored / total, rate)
        commit together, so a killed worker's successor resumes rather than restarts. Returns those scored now."""
        run.hooks.on_phase("scoring every sentence")
        info = get_run(self.db, run.id)
        label_values = [label.value for label in get_project(self.db, info.project_id).labels]
        scorer = self._scorer(info.scoring_backend, info.model_dir, info.head_sha256, classifier)
        data = project_sentences(self.db, info.project_id)
        with self.db.read() as session:
            done = set(session.scalars(select(Prediction.sentence_id).where(Prediction.run_id == run.id)))
        todo = [i for i, sid in enumerate(data.ids) if sid not in done]
        already = len(data.ids) - len(todo)
        self._update_run(run.id, score_total=len(data.ids), scored=already, heartbeat_at=utcnow())
        started, scored_now = time.perf_counter(), 0
        for start in range(0, len(todo), SCORE_CHUNK):
            self._stop_if_cancelled(run.id)
            rows = todo[start:start + SCORE_CHUNK]
            embeddings = cached_embeddings(self.db, model_key_for(run.id), [data.hashes[i] for i in rows],
                                           [data.texts[i] for i in rows], scorer.embed)
            probs = scorer.predict_proba_from_embeddings(embeddings)
            scored_now += len(rows)
            rate = scored_now / max(time.perf_counter() - started, 1e-9)
            self._store_predictions(run.id, [data.ids[i] for i in rows], probs, label_values,
                                    progress={"scored": already + scored_now, "scoring_rate": rate,
                                              "heartbeat_at": utcnow()})
        run.scorer, run.sentences = scorer, data
        return scored_now

    def _scorer(self, backend: str | None, model_dir: str | None, sha: str | None, classifier: Classifier | None):
        """What scores every sentence: the chosen ONNX backend, or torch (the trained classifier in memory,
        or the published version loaded after a resume)."""
        from core.model_store import verified_model_dir

        if backend in ("onnx", "onnx-int8"):
            from core.onnx_scorer import OnnxScorer

            return OnnxScorer.load(verified_model_dir(model_dir, sha), backend, threads=self.settings.torch_threads)
        return classifier if classifier is not None else self._classifiers().load(verified_model_dir(model_dir, sha))

    def _finish(self, run: _RunInHand, job: Job, analysis: _Analysis) -> None:
        """One transaction marks the run succeeded, applies the activation rule (core/runs.py) and writes the
        suspects and, if it became active, its suggestions (the freshest there are)."""
        run.hooks.on_phase("finishing")
        self._pause_if_asked("finishing")  # published, not yet succeeded nor active
        info = get_run(self.db, run.id)
        data = run.sentences
        embeddings = cached_embeddings(self.db, model_key_for(run.id), data.hashes, data.texts, run.scorer.embed)
        probs = run.scorer.predict_proba_from_embeddings(embeddings)
        suggestions = prepare_suggestions(job.project_id, data.ids, probs, embeddings, data.labels, data.names,
                                          model_key_for(run.id), 0.0)
        self._stop_if_cancelled(run.id)

        def then(session, activated: bool) -> None:
            write_suspects(session, job.project_id, analysis.suspects)
            if activated:
                write_suggestions(session, suggestions)

        metrics = replace(info.run_metrics, phase_seconds=phase_seconds(run.phases, time.monotonic()))
        finish_run(self.db, run.id, metrics, info.model_dir, info.head_sha256, then)
        run.published, run.status = None, RunStatus.succeeded  # kept: the run succeeded

    # -- run helpers ------------------------------------------------------------------------------
    def _pause_if_asked(self, point: str) -> None:
        """The fault tests' stop (see TEST_PAUSE_ENV): the heartbeat goes on, as in a worker busy there."""
        if os.environ.get(TEST_PAUSE_ENV) != point:
            return
        (self.settings.data_dir / TEST_PAUSED_MARKER).write_text(point, encoding="utf-8")
        threading.Event().wait()

    def _update_run(self, run_id: int, **values) -> None:
        with self.db.write() as session:
            session.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(**values))

    def _status(self, run_id: int) -> RunStatus | None:
        with self.db.read() as session:
            return session.scalar(select(TrainingRun.status).where(TrainingRun.id == run_id))

    def _cancel_requested(self, run_id: int) -> bool:
        with self.db.read() as session:
            return bool(session.scalar(select(TrainingRun.cancel_requested).where(TrainingRun.id == run_id)))

    def _stop_if_cancelled(self, run_id: int) -> None:
        if self._cancel_requested(run_id):
            raise RunCancelled()

    def _hooks(self, run_id: int, phases: list[tuple[str, float]]) -> TrainingHooks:
        last_write = [0.0]

        def on_progress(step: int, total: int) -> None:
            now = time.monotonic()
            if step in (0, total) or now - last_write[0] >= 0.5:  # at most two writes a second
                last_write[0] = now
                self._update_run(run_id, progress_step=step, progress_total=total, heartbeat_at=utcnow())

        def on_loss(loss: LoggedLoss) -> None:
            with self.db.write() as session:
                session.add(LossPoint(run_id=run_id, epoch=loss.epoch, step=loss.step,
                                      training_loss=loss.training_loss, validation_loss=loss.validation_loss))

        return TrainingHooks(
            on_phase=lambda phase: (phases.append((phase, time.monotonic())), self._update_run(run_id, phase=phase)),
            on_progress=on_progress,
            on_loss=on_loss,
            should_cancel=lambda: self._cancel_requested(run_id),
        )

    def _store_predictions(self, run_id: int, ids: list[int], probs, label_values: Sequence[int],
                           progress: dict | None = None) -> None:
        """Predictions in one transaction, with the run's scoring progress when given (so the two agree)."""
        if len(ids) and probs.shape[1] != len(label_values):
            raise ValueError(f"the model gave {probs.shape[1]} probabilities per sentence for {len(label_values)} labels")
        rows = [
            {"run_id": run_id, "sentence_id": sid, "label": label_values[int(p.argmax())],
             "confidence": float(p.max()), "probs_json": json.dumps([round(float(x), 5) for x in p])}
            for sid, p in zip(ids, probs)
        ]
        with self.db.write() as session:
            if rows:
                session.execute(Prediction.__table__.insert(), rows)
            if progress:
                session.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(**progress))


def phase_seconds(phases: Sequence[tuple[str, float]], now: float) -> tuple[tuple[str, float], ...]:
    """How long each phase took, from the (phase, start) marks: the run's profile, kept in its metrics."""
    ends = [start for _, start in phases[1:]] + [now]
    return tuple((name, round(end - start, 2)) for (name, start), end in zip(phases, ends))


def measure_test_split(job: Job, ids: Sequence[int], probs: np.ndarray, fit: FitResult) -> RunMetrics:
    """The run's metrics, from the rows of the project's scores that are the snapshot's test sentences
    (labels as they were when the run was queued)."""
    if not job.test:
        return RunMetrics(train_seconds=fit.train_seconds)
    row_of = {sid: row for row, sid in enumerate(ids)}
    missing = [e.sentence_id for e in job.test if e.sentence_id not in row_of]
    if missing:
        raise AppError(f"{len(missing)} test sentences of this run are no longer in the project; retrain.")
    rows = [row_of[e.sentence_id] for e in job.test]
    predicted = [job.label_values[int(i)] for i in probs[rows].argmax(axis=1)]
    return RunMetrics.measured([e.label for e in job.test], predicted, job.label_values,
                               train_seconds=fit.train_seconds, n_eval_pairs=fit.n_eval_pairs)


def _host() -> str:
    return socket.gethostname()[:200]  # the column's length


def _plain_error(error: Exception) -> str:
    if isinstance(error, AppError):
        return str(error)
    if isinstance(error, MemoryError):
        return "Training ran out of memory; lower the batch size or max length under Advanced."
    if isinstance(error, OperationalError) and "locked" in str(error.orig or error).lower():
        # SQLite's "database is locked": another process held the write lock past the busy timeout. The
        # database is there, so "check the server" would send the user looking for a server SQLite lacks.
        return ("The database stayed locked by another process for longer than its busy timeout, so the run "
                "stopped. Retrain; if it happens again, look for a long job writing to the same database "
                "(a backup, an import, a second app on the same file). The active version is unchanged.")
    if isinstance(error, OperationalError):
        return ("The database could not be reached during the run (its server was restarted or is down), so the "
                "run stopped. Check that the database server is running, then retrain. The active version is "
                "unchanged.")
    if isinstance(error, OSError):
        return f"A file could not be read or written ({error}). Check that MODELS_DIR and BASE_MODEL exist and are writable/readable."
    return f"Training failed: {type(error).__name__}: {error}. The full traceback is in the run's log."


def main(settings: Settings, db: Database, once: bool = False) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    worker = TrainingWorker(settings, db)
    log.info("worker %s polling %s", worker.id, redact_url(settings.database_url))
    try:
        worker.run_forever(exit_when_idle=once)
    except KeyboardInterrupt:
        log.info("worker %s stopping", worker.id)
    return 0
