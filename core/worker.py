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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sqlalchemy import select, update

from core.classifier import Classifier, ClassifierFactory, LoggedLoss, RunCancelled, TrainingHooks
from core.config import Settings
from core.errors import AppError
from core.evaluation import compute_metrics
from core.model_store import publish, remove_temp_dirs, temp_dir_for
from core.params import TrainingParams
from core.runs import end_run, finish_run, mark_lost_runs
from core.suggestions import (
    LEARNING_CURVE_FRACTIONS,
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

    def _classifiers(self) -> ClassifierFactory:
        """SetFit unless a test passed another factory; the heavy import happens here, in the worker only."""
        if self._classifier_factory is None:
            from core.setfit_adapter import SetFitFactory

            self._classifier_factory = SetFitFactory(self.settings.base_model, self.settings.base_model_name,
                                                     self.settings.torch_threads)
        return self._classifier_factory

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
            points = []
            self._update_run(run_id, progress_step=0, progress_total=len(LEARNING_CURVE_FRACTIONS))
            for step, fraction in enumerate(LEARNING_CURVE_FRACTIONS, start=1):
                subset = train[: max(2, int(round(len(train) * fraction)))]
                if len({l for _, l in subset}) < 2:
                    continue
                self._update_run(run_id, phase=f"training on {len(subset)} labels ({fraction:.0%})")
                classifier = self._classifiers().new(label_names, params)
                classifier.fit([t for t, _ in subset], [l for _, l in subset], [], [],
                               TrainingHooks(should_cancel=lambda: self._cancel_requested(run_id)), params)
                probs = classifier.predict_proba([t for t, _ in test])  # one column per project label
                accuracy = float(np.mean([label_values[int(p.argmax())] == l for p, (_, l) in zip(probs, test)]))
                points.append({"fraction": fraction, "n_labels": len(subset), "accuracy": accuracy})
                self._update_run(run_id, progress_step=step, metrics_json=json.dumps({"points": points}))
            self._update_run(run_id, status=RunStatus.succeeded, finished_at=utcnow(), phase="",
                             activation_note="learning curve (no model version is kept)")
            return RunStatus.succeeded
        except RunCancelled:
            end_run(self.db, run_id, RunStatus.cancelled, "cancelled by a moderator")
            return RunStatus.cancelled
        except Exception as error:  # the job records every failure; the worker keeps serving
            log.exception("learning curve %s failed", run_id)
            end_run(self.db, run_id, RunStatus.failed, _plain_error(error), traceback.format_exc())
            return RunStatus.failed
        finally:
            self.current_run_id = None

    def _update_run(self, run_id: int, **values) -> None:
        with self.db.write() as session:
            session.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(**values))

    def _status(self, run_id: int) -> RunStatus | None:
        with self.db.read() as session:
            return session.scalar(select(TrainingRun.status).where(TrainingRun.id == run_id))

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
        """Train, measure, save, score, check labels, then finish: the run becomes succeeded (and maybe
        active) only in the last step, so a failure anywhere before leaves the active model as it was
        and no model folder behind."""
        self.current_run_id = run_id
        temp_dir: Path | None = None
        published: Path | None = None
        try:
            job = self._load_job(run_id)
            hooks = self._hooks(run_id)
            classifier, metrics = self._train(run_id, job, hooks)

            hooks.on_phase("saving the model")
            temp_dir = temp_dir_for(self.settings.models_dir, run_id)
            classifier.save(temp_dir)

            hooks.on_phase("scoring every sentence")
            data = project_sentences(self.db, job.project_id)
            embeddings = cached_embeddings(self.db, model_key_for(run_id), data.hashes, data.texts, classifier.embed)
            probs = classifier.predict_proba_from_embeddings(embeddings)
            self._store_predictions(run_id, data.ids, probs, job.label_values)

            hooks.on_phase("looking for suspicious labels")
            # Out-of-fold on the *base* body: the fine-tuned body was trained on these very labels, wrong
            # ones included, and has pulled them towards their given class (bench/bench_suspects.py).
            base = cached_embeddings(self.db, "base", data.hashes, data.texts, self._encoder("base"))
            suspects = find_suspects(job.project_id, run_id, data.ids, base, data.labels, len(job.label_values))
            # The new version's own probabilities are the freshest suggestions there are (kept if it is activated).
            suggestions = prepare_suggestions(job.project_id, data.ids, probs, embeddings, data.labels, data.names,
                                              model_key_for(run_id), 0.0)
            if self._cancel_requested(run_id):
                raise RunCancelled()

            published, head_sha = publish(temp_dir, self.settings.models_dir, run_id)
            temp_dir = None

            def then(session, activated: bool) -> None:
                write_suspects(session, job.project_id, suspects)
                if activated:
                    write_suggestions(session, suggestions)

            finish_run(self.db, run_id, metrics, str(published), head_sha, then)
            published = None  # kept: the run succeeded
            return RunStatus.succeeded
        except RunCancelled:
            end_run(self.db, run_id, RunStatus.cancelled, "cancelled by a moderator")
            return RunStatus.cancelled
        except Exception as error:  # the run records every failure; the worker itself keeps serving
            log.exception("run %s failed", run_id)
            end_run(self.db, run_id, RunStatus.failed, _plain_error(error), traceback.format_exc())
            return RunStatus.failed
        finally:
            if temp_dir is not None:
                remove_temp_dirs(self.settings.models_dir, [run_id])
            # Published, but the run did not succeed (asked again: a Ctrl-C can land just after the commit).
            if published is not None and self._status(run_id) != RunStatus.succeeded:
                shutil.rmtree(published, ignore_errors=True)
            self.current_run_id = None

    def _train(self, run_id: int, job: Job, hooks: TrainingHooks) -> tuple[Classifier, dict]:
        """Fit a fresh classifier on the snapshot's train split; metrics on its test split."""
        classifier = self._classifiers().new(job.label_names, job.params)
        result = classifier.fit([t for t, _ in job.train], [l for _, l in job.train],
                                [t for t, _ in job.test], [l for _, l in job.test], hooks, job.params)
        if self._cancel_requested(run_id):
            raise RunCancelled()
        metrics: dict = {"train_seconds": round(result.train_seconds, 2)}
        if job.test:
            probs = classifier.predict_proba([t for t, _ in job.test])  # one column per project label
            predicted = [job.label_values[i] for i in probs.argmax(axis=1)]
            metrics.update(compute_metrics([l for _, l in job.test], predicted, job.label_values))
        return classifier, metrics

    def _store_predictions(self, run_id: int, ids: list[int], probs, label_values: list[int]) -> None:
        if probs.shape[1] != len(label_values):
            raise ValueError(f"the model gave {probs.shape[1]} probabilities per sentence for {len(label_values)} labels")
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
