"""Retrain by itself: a project may ask for a new model version after every N label changes.

Off by default. The worker checks between runs (`auto_retrain_if_due`); a run is queued only when no
run of the project is queued or running and the active version's evaluation batch is not half labelled,
with the fast preset, by the actor "auto-retrain". A label
change is any labelling act in the project since the newest training run was queued (a new label, a
changed one, an undo, an import row, an adjudication), or since the project began when it has none.
"""
from __future__ import annotations

from sqlalchemy import func, select

from core.audit import record
from core.errors import AppError, InvalidInput, NotFound
from core.params import FAST_PRESET
from core.permissions import Actor, Permission, Role, require
from core.runs import RunInfo, request_retrain
from db.engine import Database
from db.models import Annotation, AuditAction, Project, RunKind, RunStatus, Sentence, TrainingRun

AUTO_ACTOR = Actor(name="auto-retrain", role=Role.admin)
SUGGESTED_EVERY = 20
MAX_EVERY = 10_000


def set_auto_retrain(db: Database, actor: Actor, project_id: int, every: int) -> None:
    """Retrain the project after every `every` label changes (0 turns it off). Admins only."""
    require(actor, Permission.train)
    every = int(every)
    if not 0 <= every <= MAX_EVERY:
        raise InvalidInput(f"Retrain after between 1 and {MAX_EVERY:,} label changes, or 0 for never; got {every}.")
    with db.write() as session:
        project = session.get(Project, project_id)
        if project is None:
            raise NotFound(f"Project {project_id} no longer exists.")
        if project.auto_retrain_every != every:
            project.auto_retrain_every = every
            record(session, actor, AuditAction.auto_retrain_set,
                   f"every {every} label changes" if every else "off", project_id)


def label_changes_since_last_run(session, project_id: int) -> int:
    since = session.scalar(select(func.max(TrainingRun.created_at)).where(
        TrainingRun.project_id == project_id, TrainingRun.kind == RunKind.train))
    stmt = (select(func.count()).select_from(Annotation).join(Sentence, Sentence.id == Annotation.sentence_id)
            .where(Sentence.project_id == project_id))
    if since is not None:
        stmt = stmt.where(Annotation.created_at > since)
    return int(session.scalar(stmt) or 0)


def labels_until_next_model(db: Database, project_id: int) -> int | None:
    """How many more label changes until the project retrains by itself; None when that is off."""
    with db.read() as session:
        every = session.scalar(select(Project.auto_retrain_every).where(Project.id == project_id)) or 0
        if not every:
            return None
        return max(0, every - label_changes_since_last_run(session, project_id))


def auto_retrain_if_due(db: Database, project_id: int) -> RunInfo | None:
    """Queue a fast-preset run when the project asks for it, enough labels changed and no run of the
    project is queued or running. Returns the queued run, or None (not due, or training refused: too
    few labels, nothing changed; the worker tries again after further label changes)."""
    with db.read() as session:
        every = session.scalar(select(Project.auto_retrain_every).where(Project.id == project_id)) or 0
        if not every or label_changes_since_last_run(session, project_id) < every:
            return None
        busy = session.scalar(select(func.count()).select_from(TrainingRun).where(
            TrainingRun.project_id == project_id, TrainingRun.status.in_([RunStatus.queued, RunStatus.running])))
        if busy:
            return None
    if estimate_batch_half_done(db, project_id):
        return None  # a new active version would make the estimate its batch is for stale
    try:
        return request_retrain(db, AUTO_ACTOR, project_id, FAST_PRESET, "fast")
    except AppError:
        return None


def estimate_batch_half_done(db: Database, project_id: int) -> bool:
    """The active version's evaluation batch (core/estimate.py) has some labels and waits for others."""
    from core.estimate import batch_progress

    progress = batch_progress(db, project_id)
    return progress is not None and progress.is_active_version and 0 < progress.labelled < progress.requested


def projects_with_auto_retrain(db: Database) -> list[int]:
    with db.read() as session:
        return list(session.scalars(select(Project.id).where(Project.auto_retrain_every > 0)))


def auto_retrain_every(db: Database, project_id: int) -> int:
    """The project's setting: retrain after this many label changes; 0 = off."""
    with db.read() as session:
        return int(session.scalar(select(Project.auto_retrain_every).where(Project.id == project_id)) or 0)
