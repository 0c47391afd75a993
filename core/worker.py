"""The background worker: a separate process that claims queued runs and trains them.

It never holds a transaction while training: every progress, loss and heartbeat write is its own
short BEGIN IMMEDIATE transaction, so the web process keeps labelling at full speed.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sqlalchemy import select, update

from core.classifier import LoggedLoss, RunCancelled, TrainingHooks
from core.config import Settings
from core.errors import AppError
from core.evaluation import compute_metrics
from core.model_store import publish, remove_temp_dirs, temp_dir_for
from core.params import TrainingParams
from core.runs import mark_lost_runs
from core.suggestions import (
    LEARNING_CURVE_FRACTIONS,
    cached_embeddings,
    model_key_for,
    project_sentences,
    refresh_due,
    refresh_suggestions,
    store_suggestions,
    store_suspects,
)
from db.engine import Database
from db.models import LossPoint, Prediction, Project, RunStatus, Sentence, TrainingRun, Worker, utcnow

log = logging.getLogger("worker")


@dataclass(frozen=True)
class Job:
    project_id: int
    label_values: list[int]
    label_names: list[str]
    params: TrainingParams
    train: list[tuple[str, int]]
    test: list[tuple[str, int]]
PREDICT_BATCH = 512




class TrainingWorker:
    def __init__(self, settings: Settings, db: Database, worker_id: str | None = None) -> None:
        self.settings = settings
        self.db = db
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.current_run_id: int | None = None
        self._stop = threading.Event()
        self._heartbeat_thread: threading.Thread | None = None
        self._encoder_key: str | None = None
        self._encoder_model = None

    # -- liveness -------------------------------------------------------------------------------
    def register(self) -> None:
        with self.db.write() as session:
            session.add(Worker(id=self.id, host=socket.gethostname(), pid=os.getpid()))
        self._heartbeat_thread = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        self._heartbeat_thread.start()

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_seconds):
            self.heartbeat()

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
        """Atomically take the oldest queued run (BEGIN IMMEDIATE: two workers cannot both take it)."""
        with self.db.write() as session:
            stmt = select(TrainingRun).where(TrainingRun.status == RunStatus.queued)
            if run_id is not None:
                stmt = stmt.where(TrainingRun.id == run_id)
            run = session.scalar(stmt.order_by(TrainingRun.id).limit(1))
            if run is None:
                return None
            now = utcnow()
            run.status, run.worker_id, run.started_at, run.heartbeat_at = RunStatus.running, self.id, now, now
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
        if lost:
            log.warning("marked runs %s failed: worker lost", lost)

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
                    self.refresh_suggestions_if_due()
                    if exit_when_idle:
                        break
                    if time.monotonic() - last_recover > self.settings.heartbeat_seconds:
                        mark_lost_runs(self.db, self.settings.worker_lost_after_seconds)
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
            from core import setfit_adapter
            from core.model_store import verified_model_dir

            setfit_adapter.set_threads(self.settings.torch_threads)
            if model_key == "base":
                model = setfit_adapter.SetFitClassifier.from_base(self.settings.base_model, ["0", "1"], self.settings.base_model_name)
            else:
                with self.db.read() as session:
                    run = session.get(TrainingRun, int(model_key.removeprefix("run-")))
                    model_dir, sha = run.model_dir, run.head_sha256
                model = setfit_adapter.SetFitClassifier.load(verified_model_dir(model_dir, sha))
            self._encoder_key, self._encoder_model = model_key, model
        return self._encoder_model.embed

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
        return self.execute_learning_curve(run_id) if kind == "learning_curve" else self.execute(run_id)

    def _load_job(self, run_id: int) -> "Job":
        """A run's frozen inputs: the snapshot's texts and labels per split, its parameters, its labels."""
        with self.db.read() as session:
            run = session.get(TrainingRun, run_id)
            project = session.get(Project, run.project_id)
            snapshot = json.loads(run.snapshot_json)
            texts = dict(session.execute(
                select(Sentence.id, Sentence.text).where(Sentence.id.in_([r[0] for r in snapshot]))).all())
            return Job(
                project_id=run.project_id,
                label_values=[label.value for label in project.labels],
                label_names=[label.name for label in project.labels],
                params=TrainingParams.from_json(run.params_json),
                train=[(texts[s], l) for s, l, split in snapshot if split == "train" and s in texts],
                test=[(texts[s], l) for s, l, split in snapshot if split == "test" and s in texts],
            )

    def execute_learning_curve(self, run_id: int) -> RunStatus:
        """Train the fast preset on growing shares of the labelled train split; test accuracy for each."""
        import random

        self.current_run_id = run_id
        try:
            job = self._load_job(run_id)
            label_values, label_names, params, train, test = job.label_values, job.label_names, job.params, job.train, job.test
            if not test:
                raise AppError("A learning curve needs labelled test sentences to measure accuracy on.")
            random.Random(params.seed).shuffle(train)
            from core import setfit_adapter

            setfit_adapter.set_threads(self.settings.torch_threads)
            points = []
            self._update_run(run_id, progress_step=0, progress_total=len(LEARNING_CURVE_FRACTIONS))
            for step, fraction in enumerate(LEARNING_CURVE_FRACTIONS, start=1):
                subset = train[: max(2, int(round(len(train) * fraction)))]
                if len({l for _, l in subset}) < 2:
                    continue
                self._update_run(run_id, phase=f"training on {len(subset)} labels ({fraction:.0%})")
                classifier = setfit_adapter.SetFitClassifier.from_base(
                    self.settings.base_model, label_names, self.settings.base_model_name, params.max_length)
                classifier.fit([t for t, _ in subset], [l for _, l in subset], [], [],
                               TrainingHooks(should_cancel=lambda: self._cancel_requested(run_id)), params)
                probs = classifier.predict_proba([t for t, _ in test])
                accuracy = float(np.mean([label_values[int(p.argmax())] == l for p, (_, l) in zip(probs, test)]))
                points.append({"fraction": fraction, "n_labels": len(subset), "accuracy": accuracy})
                self._update_run(run_id, progress_step=step, metrics_json=json.dumps({"points": points}))
            self._update_run(run_id, status=RunStatus.succeeded, finished_at=utcnow(), phase="",
                             activation_note="learning curve (no model version is kept)")
            return RunStatus.succeeded
        except RunCancelled:
            self._update_run(run_id, status=RunStatus.cancelled, finished_at=utcnow(), phase="", error="cancelled by a moderator")
            return RunStatus.cancelled
        except Exception as error:  # the job records every failure; the worker keeps serving
            log.exception("learning curve %s failed", run_id)
            self._update_run(run_id, status=RunStatus.failed, finished_at=utcnow(), phase="",
                             error=_plain_error(error), log=traceback.format_exc())
            return RunStatus.failed
        finally:
            self.current_run_id = None

    def _update_run(self, run_id: int, **values) -> None:
        with self.db.write() as session:
            session.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(**values))

    def _cancel_requested(self, run_id: int) -> bool:
        with self.db.read() as session:
            return bool(session.scalar(select(TrainingRun.cancel_requested).where(TrainingRun.id == run_id)))

    def _hooks(self, run_id: int) -> TrainingHooks:
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
            on_phase=lambda phase: self._update_run(run_id, phase=phase),
            on_progress=on_progress,
            on_loss=on_loss,
            should_cancel=lambda: self._cancel_requested(run_id),
        )

    def execute(self, run_id: int) -> RunStatus:
        self.current_run_id = run_id
        temp_dir: Path | None = None
        try:
            job = self._load_job(run_id)
            label_values, label_names, params, train, test = job.label_values, job.label_names, job.params, job.train, job.test
            project_id = job.project_id

            from core import setfit_adapter  # the heavy import happens here, in the worker only

            setfit_adapter.set_threads(self.settings.torch_threads)
            hooks = self._hooks(run_id)
            classifier = setfit_adapter.SetFitClassifier.from_base(
                self.settings.base_model, label_names, self.settings.base_model_name, params.max_length
            )
            # Label values are 0..n-1 in order, so they index the label names the model carries.
            result = classifier.fit([t for t, _ in train], [l for _, l in train],
                                    [t for t, _ in test], [l for _, l in test], hooks, params)
            if self._cancel_requested(run_id):
                raise RunCancelled()

            metrics: dict = {"train_seconds": round(result.train_seconds, 2)}
            if test:
                probs = classifier.predict_proba([t for t, _ in test])
                predicted = [label_values[i] for i in probs.argmax(axis=1)]
                metrics.update(compute_metrics([l for _, l in test], predicted, label_values))

            hooks.on_phase("saving the model")
            temp_dir = temp_dir_for(self.settings.models_dir, run_id)
            classifier.save(temp_dir)
            model_dir, head_sha = publish(temp_dir, self.settings.models_dir, run_id)
            temp_dir = None

            hooks.on_phase("scoring every sentence")
            data = project_sentences(self.db, project_id)
            embeddings = cached_embeddings(self.db, model_key_for(run_id), data.hashes, data.texts, classifier.embed)
            probs = classifier.predict_proba_from_embeddings(embeddings)
            self._store_predictions(run_id, data.ids, probs, label_values)
            hooks.on_phase("looking for suspicious labels")
            # Out-of-fold on the *base* body: the fine-tuned body was trained on these very labels, wrong
            # ones included, and has pulled them towards their given class (bench/bench_suspects.py).
            base = cached_embeddings(self.db, "base", data.hashes, data.texts, self._encoder("base"))
            store_suspects(self.db, project_id, run_id, data.ids, base, data.labels, len(label_values))
            activated = self._finish(run_id, project_id, metrics, str(model_dir), head_sha)
            if activated:
                # The new version's own probabilities are the freshest suggestions there are.
                store_suggestions(self.db, project_id, data.ids, probs, embeddings, data.labels, label_names,
                                  model_key_for(run_id), 0.0)
            return RunStatus.succeeded
        except RunCancelled:
            self._update_run(run_id, status=RunStatus.cancelled, finished_at=utcnow(), phase="",
                             error="cancelled by a moderator")
            return RunStatus.cancelled
        except Exception as error:  # the run records every failure; the worker itself keeps serving
            log.exception("run %s failed", run_id)
            self._update_run(run_id, status=RunStatus.failed, finished_at=utcnow(), phase="",
                             error=_plain_error(error), log=traceback.format_exc())
            return RunStatus.failed
        finally:
            if temp_dir is not None:
                remove_temp_dirs(self.settings.models_dir, [run_id])
            self.current_run_id = None

    def _store_predictions(self, run_id: int, ids: list[int], probs, label_values: list[int]) -> None:
        for start in range(0, len(ids), PREDICT_BATCH):
            if self._cancel_requested(run_id):
                raise RunCancelled()
            rows = [
                {"run_id": run_id, "sentence_id": sid, "label": label_values[int(p.argmax())],
                 "confidence": float(p.max()), "probs_json": json.dumps([round(float(x), 5) for x in p])}
                for sid, p in zip(ids[start:start + PREDICT_BATCH], probs[start:start + PREDICT_BATCH])
            ]
            with self.db.write() as session:
                session.execute(Prediction.__table__.insert(), rows)

    def _finish(self, run_id: int, project_id: int, metrics: dict, model_dir: str, head_sha: str) -> bool:
        """Mark the run succeeded and decide whether it becomes the active model; True if it did."""
        with self.db.write() as session:
            run = session.get(TrainingRun, run_id)
            project = session.get(Project, project_id)
            run.status, run.finished_at, run.phase = RunStatus.succeeded, utcnow(), ""
            run.metrics_json, run.model_dir, run.head_sha256 = json.dumps(metrics), model_dir, head_sha
            run.progress_step = run.progress_total
            current = session.get(TrainingRun, project.active_run_id) if project.active_run_id else None
            new_acc = metrics.get("accuracy")
            old_acc = json.loads(current.metrics_json).get("accuracy") if current and current.metrics_json else None
            if current is None:
                project.active_run_id, run.activation_note = run_id, "active: the project's first model"
            elif new_acc is None:
                run.activation_note = "not activated: no labelled test sentences to compare it with the active model"
            elif old_acc is None or new_acc >= old_acc:
                project.active_run_id = run_id
                run.activation_note = (f"active: test accuracy {new_acc:.3f} ≥ version {current.version}'s "
                                       f"{old_acc:.3f}" if old_acc is not None else "active")
            else:
                run.activation_note = (f"not activated: test accuracy {new_acc:.3f} is below the active "
                                       f"version {current.version}'s {old_acc:.3f}; promote it by hand if you prefer it")
            return project.active_run_id == run_id


def _plain_error(error: Exception) -> str:
    if isinstance(error, AppError):
        return str(error)
    if isinstance(error, MemoryError):
        return "Training ran out of memory; lower the batch size or max length under Advanced."
    if isinstance(error, OSError):
        return f"A file could not be read or written ({error}). Check that MODELS_DIR and BASE_MODEL exist and are writable/readable."
    return f"Training failed: {type(error).__name__}: {error}. The full traceback is in the run's log."


def main(settings: Settings, db: Database, once: bool = False) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    worker = TrainingWorker(settings, db)
    log.info("worker %s polling %s", worker.id, settings.database_url)
    try:
        worker.run_forever(exit_when_idle=once)
    except KeyboardInterrupt:
        log.info("worker %s stopping", worker.id)
    return 0
