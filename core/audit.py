"""The audit log: who did which admin action, when, with a sentence of detail.

`record` takes the caller's open session, so the entry commits or rolls back with the action itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.permissions import Actor, Permission, require
from db.engine import Database
from db.models import AuditAction, AuditEntry, Project, utcnow

MAX_DETAILS = 2000


@dataclass(frozen=True)
class AuditRow:
    id: int
    created_at: datetime
    actor: str
    action: AuditAction
    project: str  # the project's name, "" for actions outside a project
    details: str


def record(session: Session, actor: Actor | str, action: AuditAction, details: str = "",
           project_id: int | None = None) -> None:
    name = actor.name if isinstance(actor, Actor) else actor
    session.add(AuditEntry(created_at=utcnow(), actor=name, action=action, project_id=project_id,
                           details=details[:MAX_DETAILS]))


def record_now(db: Database, actor: Actor, action: AuditAction, details: str = "", project_id: int | None = None) -> None:
    """For actions that write nothing else (an export): a short transaction of its own."""
    with db.write() as session:
        record(session, actor, action, details, project_id)


def audit_log(db: Database, actor: Actor, *, limit: int = 200, offset: int = 0,
              action: AuditAction | None = None) -> tuple[list[AuditRow], int]:
    """The newest entries first, and how many there are in all."""
    require(actor, Permission.read_audit_log)
    with db.read() as session:
        where = [] if action is None else [AuditEntry.action == action]
        total = session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0
        rows = session.execute(
            select(AuditEntry, Project.name)
            .outerjoin(Project, Project.id == AuditEntry.project_id)
            .where(*where)
            .order_by(AuditEntry.id.desc())
            .offset(offset)
            .limit(limit)
        ).all()
    return [AuditRow(e.id, e.created_at, e.actor, e.action, name or "", e.details) for e, name in rows], total
