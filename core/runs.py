"""Training runs as database rows: queueing, the live view's reads, cancel, promote and roll back.

A run is addressed by id; the worker (core/worker.py) claims it and writes progress and loss rows.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core.audit import record
from core.classifier import RunCancelled
from core.labeling import conflicted_sentence_ids
from core.errors import InvalidInput, NothingChanged, NotFound, RunAlreadyActive, TrainingRefused
from core.params import TrainingParams
from core.permissions import Actor, Permission, require
from core.run_metrics import RunMetrics
from db.engine import Database
from db.models import (
    Assignment,
    AuditAction,
    LossPoint,
    Prediction,
    Project,
    RunKind,
    RunStatus,
    Sentence,
    TrainingRun,
    Worker,
    utcnow,
)

# SetFit learns from pairs; fewer than this many training examples of a label gives it nothing to contrast.
MIN_TRAIN_PER_LABEL = 4
WORKER_LOST = "worker lost: the process running this run stopped sending heartbeats (killed or crashed)"


@dataclass(frozen=True)
class RunInfo:
    id: int
    project_id: int
    version: int
    kind: RunKind
    status: RunStatus
    preset: str
    params: TrainingParams
    n_train: int
    n_test: int
    snapshot_hash: str
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    phase: str
    progress_step: int
    progress_total: int
    cancel_requested: bool
    error: str | None
    metrics: dict  # metrics_json as stored: RunMetrics.to_dict() for a train run, curve points for a curve
    model_dir: str | None
    head_sha256: str | None
    threshold: float | None
    activation_note: str
    is_active: bool
    scoring_backend: str | None = None  # how this version scores every sentence (core/onnx_scorer.py)
    scoring_note: str = ""
    backend_agreement: float | None = None  # share of labelled sentences where that backend agrees with torch
    scored: int = 0  # sentences with a prediction of this version
    score_total: int = 0
    scoring_rate: float | None = None  # sentences per second while scoring
    device: str | None = None  # the torch device type the worker ran it on (cpu | cuda); None until started
    host: str | None = None  # the worker's machine

    @property
    def ran_on(self) -> str:
        """"cpu · hostname" for the Versions table; "" for a run no worker has started."""
        return " · ".join(part for part in (self.device, self.host) if part)

    @property
    def scoring_in_progress(self) -> bool:
        return self.status == RunStatus.succeeded and self.scored < self.score_total

    @property
    def scoring_eta_seconds(self) -> float | None:
        if not self.scoring_in_progress or not self.scoring_rate:
            return None
        return (self.score_total - self.scored) / self.scoring_rate

    @property
    def accuracy(self) -> float | None:
        value = self.metrics.get("accuracy")
        return None if value is None else float(value)

    @property
    def run_metrics(self) -> RunMetrics | None:
        """What a train run measured; None for a learning curve or a run that has not succeeded."""
        return RunMetrics.from_dict(self.metrics) if self.kind == RunKind.train and self.metrics else None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or utcnow()
        return (end - self.started_at).total_seconds()

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left, from the pace so far; None until a few steps have run."""
        if self.status != RunStatus.running or self.progress_step < 3 or not self.progress_total or self.started_at is None:
            return None
        elapsed = (utcnow() - self.started_at).total_seconds()
        return elapsed / self.progress_step * (self.progress_total - self.progress_step)


def _info(run: TrainingRun, active_run_id: int | None) -> RunInfo:
    return RunInfo(
        id=run.id, project_id=run.project_id, version=run.version, kind=run.kind, status=run.status,
        preset=run.preset, params=TrainingParams.from_json(run.params_json), n_train=run.n_train,
        n_test=run.n_test, snapshot_hash=run.snapshot_hash, requested_by=run.requested_by,
        created_at=run.created_at, started_at=run.started_at, finished_at=run.finished_at,
        heartbeat_at=run.heartbeat_at, phase=run.phase, progress_step=run.progress_step,
        progress_total=run.progress_total, cancel_requested=run.cancel_requested, error=run.error,
        metrics=json.loads(run.metrics_json) if run.metrics_json else {}, model_dir=run.model_dir,
        head_sha256=run.head_sha256, threshold=run.threshold, activation_note=run.activation_note,
        is_active=run.id == active_run_id, scoring_backend=run.scoring_backend, scoring_note=run.scoring_note or "",
        backend_agreement=run.backend_agreement, scored=run.scored or 0, score_total=run.score_total or 0,
        scoring_rate=run.scoring_rate, device=run.device, host=run.host,
    )


@dataclass(frozen=True)
class Snapshot:
    rows: list[tuple[int, int, str]]  # (sentence id, label, split)
    digest: str
    disputed: int = 0  # labelled sentences left out: moderators disagree and no admin has adjudicated

    @property
    def n_train(self) -> int:
        return sum(1 for r in self.rows if r[2] == "train")

    @property
    def n_test(self) -> int:
        return sum(1 for r in self.rows if r[2] == "test")


def take_snapshot(session, project_id: int) -> Snapshot:
    """The labels a run trains and tests on: every labelled sentence's current (latest) label, but for
    blind doubles whose two moderators disagree and wait for an admin's decision: there, neither saw the
    other's label, so the later one is no correction and training leaves the sentence out. Elsewhere a
    later label was given with the earlier one in view (a fix from review, a re-label) and stands."""
    doubles = select(Assignment.sentence_id).where(Assignment.project_id == project_id).group_by(
        Assignment.sentence_id).having(func.count() >= 2)
    disputed = set(conflicted_sentence_ids(session, project_id)) & set(session.scalars(doubles))
    rows = [
        (sid, label, split.value)
        for sid, label, split in session.execute(
            select(Sentence.id, Sentence.label, Sentence.split)
            .where(Sentence.project_id == project_id, Sentence.label.is_not(None))
            .order_by(Sentence.id)
        )
        if sid not in disputed
    ]
    digest = hashlib.sha256(json.dumps(rows).encode()).hexdigest()
    return Snapshot(rows, digest, len(disputed))


def check_trainable(snapshot: Snapshot, label_names: dict[int, str]) -> None:
    """Refuse, with what is missing, when SetFit cannot learn from the labelled train split."""
    counts = {value: 0 for value in label_names}
    for _, label, split in snapshot.rows:
        if split == "train":
            counts[label] = counts.get(label, 0) + 1
    used = [v for v, n in counts.items() if n > 0]
    if len(used) < 2:
        only = f" (only {label_names.get(used[0], used[0])!r} so far)" if used else ""
        raise TrainingRefused(
            f"Training needs labelled examples of at least two labels in the train split{only}. "
            "Label some sentences of another label first."
        )
    short = {v: MIN_TRAIN_PER_LABEL - n for v, n in counts.items() if 0 < n < MIN_TRAIN_PER_LABEL}
    if short:
        needs = "; ".join(f"{label_names.get(v, v)!r} needs {k} more" for v, k in short.items())
        raise TrainingRefused(
            f"Too few training examples: each label in use needs at least {MIN_TRAIN_PER_LABEL} in the train split "
            f"({needs})."
        )


def _refuse_if_unchanged(session: Session, project: Project, snapshot: Snapshot, params: TrainingParams) -> None:
    """Training is seeded: a kept version's labels and parameters again give the very same model."""
    same = [
        run for run in session.scalars(select(TrainingRun).where(
            TrainingRun.project_id == project.id, TrainingRun.kind == RunKind.train,
            TrainingRun.status == RunStatus.succeeded, TrainingRun.snapshot_hash == snapshot.digest,
        ).order_by(TrainingRun.id.desc()))
        if TrainingParams.from_json(run.params_json) == params
    ]
    if not same:
        return
    twin = next((run for run in same if run.id == project.active_run_id), same[0])
    which = ("the active version" if twin.id == project.active_run_id else "version") + f" {twin.version}"
    promote = "" if twin.id == project.active_run_id else f" (promote version {twin.version} if you want that model)"
    raise NothingChanged(
        f"No label has changed since {which}, and these are the parameters it was trained with, so retraining "
        f"would give the same model again{promote}. Label or correct some sentences first, or choose another "
        "preset or parameters (another seed trains a different model)."
    )


def request_retrain(
    db: Database, actor: Actor, project_id: int, params: TrainingParams, preset: str,
    kind: RunKind = RunKind.train, force: bool = False,
) -> RunInfo:
    """Queue a run over the labels as they are now, requested by `actor` (an admin). One
    queued-or-running run per project.

    Raises NothingChanged when the labels and parameters are those of a version already trained (the
    active one, or another kept one), unless `force`."""
    require(actor, Permission.train)
    kind = RunKind(kind)
    with db.write() as session:
        project = session.get(Project, project_id)
        if project is None:
            raise NotFound(f"Project {project_id} no longer exists.")
        active = session.scalar(
            select(TrainingRun).where(
                TrainingRun.project_id == project_id,
                TrainingRun.status.in_([RunStatus.queued, RunStatus.running]),
            )
        )
        if active is not None:
            raise RunAlreadyActive(
                f"Version {active.version} is already {active.status.value}; wait for it to finish or cancel it."
            )
        snapshot = take_snapshot(session, project_id)
        check_trainable(snapshot, {label.value: label.name for label in project.labels})
        if kind == RunKind.train and not force:
            _refuse_if_unchanged(session, project, snapshot, params)
        version = (session.scalar(select(func.max(TrainingRun.version)).where(TrainingRun.project_id == project_id)) or 0) + 1
        run = TrainingRun(
            project_id=project_id, version=version, kind=kind, status=RunStatus.queued, preset=preset,
            params_json=params.to_json(), snapshot_json=json.dumps(snapshot.rows), snapshot_hash=snapshot.digest,
            n_train=snapshot.n_train, n_test=snapshot.n_test, requested_by=actor.name,
        )
        session.add(run)
        session.flush()
        record(session, actor,
               {RunKind.train: AuditAction.training_queued, RunKind.learning_curve: AuditAction.learning_curve_queued,
                RunKind.label_check: AuditAction.label_check_queued}[kind],
               f"version {version}, preset {preset}, {snapshot.n_train} train / {snapshot.n_test} test labels"
               + (f", {snapshot.disputed} disputed left out" if snapshot.disputed else "")
               + (", forced" if force else ""), project_id)
        return _info(run, project.active_run_id)


@dataclass(frozen=True)
class Example:
    sentence_id: int
    text: str
    label: int


@dataclass(frozen=True)
class Job:
    """A run's frozen inputs, as the worker trains them: the snapshot's sentences per split, its parameters
    and the project's labels (values 0..n-1 in order, names)."""

    project_id: int
    label_values: tuple[int, ...]
    label_names: tuple[str, ...]
    params: TrainingParams
    train: tuple[Example, ...]
    test: tuple[Example, ...]


def load_job(db: Database, run_id: int) -> Job:
    with db.read() as session:
        run = session.get(TrainingRun, run_id)
        if run is None:
            raise NotFound(f"No training run {run_id}.")
        project = session.get(Project, run.project_id)
        snapshot = json.loads(run.snapshot_json)
        texts = dict(session.execute(
            select(Sentence.id, Sentence.text).where(Sentence.id.in_([row[0] for row in snapshot]))).all())
        examples = {split: tuple(Example(sid, texts[sid], label)
                                 for sid, label, in_split in snapshot if in_split == split and sid in texts)
                    for split in ("train", "test")}
        return Job(
            project_id=run.project_id,
            label_values=tuple(label.value for label in project.labels),
            label_names=tuple(label.name for label in project.labels),
            params=TrainingParams.from_json(run.params_json),
            train=examples["train"],
            test=examples["test"],
        )


def get_run(db: Database, run_id: int) -> RunInfo:
    with db.read() as session:
        run = session.get(TrainingRun, run_id)
        if run is None:
            raise NotFound(f"No training run {run_id}.")
        active = session.scalar(select(Project.active_run_id).where(Project.id == run.project_id))
        return _info(run, active)


def list_runs(db: Database, project_id: int) -> list[RunInfo]:
    with db.read() as session:
        active = session.scalar(select(Project.active_run_id).where(Project.id == project_id))
        runs = session.scalars(
            select(TrainingRun).where(TrainingRun.project_id == project_id).order_by(TrainingRun.id.desc())
        ).all()
        return [_info(r, active) for r in runs]


def current_run(db: Database, project_id: int) -> RunInfo | None:
    """The queued or running run of a project, if any."""
    with db.read() as session:
        active = session.scalar(select(Project.active_run_id).where(Project.id == project_id))
        run = session.scalar(
            select(TrainingRun).where(
                TrainingRun.project_id == project_id,
                TrainingRun.status.in_([RunStatus.queued, RunStatus.running]),
            )
        )
        return None if run is None else _info(run, active)


def active_run(db: Database, project_id: int) -> RunInfo | None:
    with db.read() as session:
        active = session.scalar(select(Project.active_run_id).where(Project.id == project_id))
        if active is None:
            return None
        run = session.get(TrainingRun, active)
        return None if run is None else _info(run, active)


def loss_table(db: Database, run_id: int) -> pd.DataFrame:
    """The seed card's "Training Results" table: Epoch | Step | Training Loss | Validation Loss."""
    with db.read() as session:
        rows = session.execute(
            select(LossPoint.epoch, LossPoint.step, LossPoint.training_loss, LossPoint.validation_loss)
            .where(LossPoint.run_id == run_id)
            .order_by(LossPoint.step, LossPoint.id)
        ).all()
    merged: dict[int, dict] = {}
    for epoch, step, training, validation in rows:
        row = merged.setdefault(step, {"Epoch": epoch, "Step": step, "Training Loss": None, "Validation Loss": None})
        row["Epoch"] = max(row["Epoch"], epoch)
        if training is not None:
            row["Training Loss"] = training
        if validation is not None:
            row["Validation Loss"] = validation
    return pd.DataFrame(list(merged.values()), columns=["Epoch", "Step", "Training Loss", "Validation Loss"])


def format_loss_table(frame: pd.DataFrame) -> pd.DataFrame:
    """As the card prints it: 4 decimals for epochs and losses, '-' where a loss was not logged."""
    out = frame.copy()
    out["Epoch"] = out["Epoch"].map(lambda v: f"{v:.4f}" if v != int(v) else f"{v:.1f}")
    for column in ("Training Loss", "Validation Loss"):
        out[column] = out[column].map(lambda v: "-" if v is None or v != v else f"{v:.4g}")
    return out


def cancel_run(db: Database, actor: Actor, run_id: int) -> RunInfo:
    """A queued run is cancelled at once; a running one when the worker's callback next checks (< 1 s)."""
    require(actor, Permission.cancel_run)
    with db.write() as session:
        run = session.get(TrainingRun, run_id)
        if run is None:
            raise NotFound(f"No training run {run_id}.")
        record(session, actor, AuditAction.run_cancelled, f"version {run.version} ({run.status.value})", run.project_id)
        if run.status == RunStatus.queued:
            run.status, run.finished_at, run.error = RunStatus.cancelled, utcnow(), "cancelled before it started"
        elif run.status == RunStatus.running:
            run.cancel_requested = True
        else:
            raise InvalidInput(f"Version {run.version} already ended ({run.status.value}); nothing to cancel.")
    return get_run(db, run_id)


# -- which version is active --------------------------------------------------------------------------
#
# `_make_active` is the only code that assigns Project.active_run_id (tests/integration/test_activation.py
# checks the source for any other), and it refuses any run that has not succeeded, in the transaction
# that makes the change. A run only becomes succeeded in `finish_run`, after everything else it had to do.


def _make_active(session: Session, run: TrainingRun, note: str) -> None:
    if run.status != RunStatus.succeeded or not run.model_dir:
        raise InvalidInput(f"Version {run.version} has no model ({run.status.value}); only succeeded runs can be active.")
    session.get(Project, run.project_id).active_run_id = run.id
    run.activation_note = note


def set_active(db: Database, actor: Actor, project_id: int, run_id: int, note: str) -> None:
    """Promote or roll back: any succeeded run of the project can become the active model."""
    require(actor, Permission.activate_model)
    with db.write() as session:
        run = session.get(TrainingRun, run_id)
        if run is None or run.project_id != project_id:
            raise NotFound(f"Run {run_id} is not a run of this project.")
        _make_active(session, run, note)
        record(session, actor, AuditAction.model_activated, f"version {run.version}: {note}", project_id)


def activation_decision(new_accuracy: float | None, current: RunInfo | None) -> tuple[bool, str]:
    """The rule for a newly trained version: active when its test accuracy is at least the active one's.
    Returns (activate?, the note the Versions table shows)."""
    if current is None:
        return True, "active: the project's first model"
    if new_accuracy is None:
        return False, "not activated: no labelled test sentences to compare it with the active model"
    old = current.accuracy
    if old is None:
        return True, "active"
    if new_accuracy >= old:
        return True, f"active: test accuracy {new_accuracy:.3f} ≥ version {current.version}'s {old:.3f}"
    return False, (f"not activated: test accuracy {new_accuracy:.3f} is below the active version "
                   f"{current.version}'s {old:.3f}; promote it by hand if you prefer it")


def finishing_run(session: Session, run_id: int) -> TrainingRun:
    """The run about to succeed, inside the finishing transaction. Refuses a run that is no longer running
    (failed as "worker lost" meanwhile) and honours a cancel that arrived after the worker's last check."""
    run = session.get(TrainingRun, run_id)
    if run is None:
        raise NotFound(f"No training run {run_id}.")
    if run.status != RunStatus.running:
        raise InvalidInput(f"Version {run.version} is {run.status.value}, not running; its model is not kept.")
    if run.cancel_requested:
        raise RunCancelled()
    return run


def finish_run(
    db: Database, run_id: int, metrics: RunMetrics, model_dir: str, head_sha256: str,
    then: Callable[[Session, bool], None] | None = None,
) -> bool:
    """A run's last step, in one transaction: mark it succeeded with its metrics and model, apply the
    activation rule, and make the run's remaining writes (`then(session, activated)`, e.g. the new
    version's suggestions). Either all of it commits or none: a run is never active without having
    succeeded, nor succeeded without the rest. Returns whether the run became the active model."""
    with db.write() as session:
        run = finishing_run(session, run_id)
        project = session.get(Project, run.project_id)
        current = session.get(TrainingRun, project.active_run_id) if project.active_run_id else None
        run.status, run.finished_at, run.phase = RunStatus.succeeded, utcnow(), ""
        run.metrics_json, run.model_dir, run.head_sha256 = json.dumps(metrics.to_dict()), model_dir, head_sha256
        run.progress_step = run.progress_total
        activate, note = activation_decision(metrics.accuracy,
                                             None if current is None else _info(current, current.id))
        if activate:
            _make_active(session, run, note)
        else:
            run.activation_note = note
        if then is not None:
            then(session, activate)
        return activate


def end_run(db: Database, run_id: int, status: RunStatus, error: str, log: str | None = None) -> bool:
    """End a queued or running run as failed or cancelled: no model, no predictions. A run that already
    ended keeps its outcome (a succeeded run is never turned failed). Returns whether it changed."""
    if status not in (RunStatus.failed, RunStatus.cancelled):
        raise ValueError(f"end_run ends runs as failed or cancelled, not {status.value}")
    with db.write() as session:
        run = session.get(TrainingRun, run_id)
        if run is None or not run.status.is_active:
            return False
        run.status, run.finished_at, run.phase, run.error = status, utcnow(), "", error
        run.model_dir, run.head_sha256 = None, None
        if log is not None:
            run.log = log
        session.execute(delete(Prediction).where(Prediction.run_id == run_id))
        return True


def resumable_scoring(cutoff: datetime) -> tuple:
    """The WHERE clauses of a run whose worker went silent (before `cutoff`) after publishing its model,
    while scoring every sentence: another worker resumes it (core/worker.py) instead of failing it."""
    return (
        TrainingRun.status == RunStatus.running,
        TrainingRun.kind == RunKind.train,
        TrainingRun.model_dir.is_not(None),
        func.coalesce(TrainingRun.heartbeat_at, TrainingRun.started_at) < cutoff,
    )


def mark_lost_runs(db: Database, lost_after_seconds: float) -> list[int]:
    """Fail running runs whose worker stopped heartbeating. Never re-queues: a person decides to retry.
    A run that had already published its model and was scoring every sentence is left to be resumed."""
    cutoff = utcnow() - timedelta(seconds=lost_after_seconds)
    stale = (
        TrainingRun.status == RunStatus.running,
        TrainingRun.model_dir.is_(None),
        func.coalesce(TrainingRun.heartbeat_at, TrainingRun.started_at) < cutoff,
    )
    # Pages call this on every load: look first, and take the write lock only when something is lost.
    with db.read() as session:
        if session.scalar(select(func.count()).select_from(TrainingRun).where(*stale)) == 0:
            return []
    with db.write() as session:
        lost = list(session.scalars(select(TrainingRun.id).where(*stale)))
        if lost:
            session.execute(
                update(TrainingRun)
                .where(TrainingRun.id.in_(lost))
                .values(status=RunStatus.failed, error=WORKER_LOST, finished_at=utcnow(), phase="")
            )
    return lost


def alive_workers(db: Database, lost_after_seconds: float) -> int:
    cutoff = utcnow() - timedelta(seconds=lost_after_seconds)
    with db.read() as session:
        return int(session.scalar(
            select(func.count()).select_from(Worker).where(Worker.heartbeat_at >= cutoff, Worker.stopped.is_(False))
        ) or 0)


def model_card_text(run: RunInfo) -> str:
    """SetFit's generated README.md of a model version ('' when the run has no model)."""
    from core.model_store import verified_model_dir

    if not run.model_dir:
        return ""
    card = verified_model_dir(run.model_dir, None) / "README.md"
    return card.read_text(encoding="utf-8") if card.is_file() else ""


def model_zip_bytes(run: RunInfo) -> bytes:
    from core.model_store import verified_model_dir, zip_model

    return zip_model(verified_model_dir(run.model_dir, run.head_sha256))


def run_log(db: Database, run_id: int) -> str:
    """The technical log of a run (a failure's traceback)."""
    with db.read() as session:
        return session.scalar(select(TrainingRun.log).where(TrainingRun.id == run_id)) or ""
