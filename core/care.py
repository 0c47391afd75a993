"""Care for the people labelling: moderators read violent text all day.

Three things, each small: a per-account choice to see sentences blurred until revealed, a reminder
to take a break after BREAK_REMINDER_MINUTES of labelling, and a project's content note, shown before
labelling starts (core/projects.py keeps the note itself).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from core.accounts import name_key
from core.errors import NotFound
from core.permissions import Actor
from core.projects import ProjectInfo
from db.engine import Database
from db.models import ContentNoteAck, User, utcnow


@dataclass(frozen=True)
class CarePreferences:
    blur_sentences: bool = False


def preferences(db: Database, actor: Actor) -> CarePreferences:
    """The actor's own choices; defaults for an actor without an account (the CLI)."""
    with db.read() as session:
        blur = session.scalar(select(User.blur_sentences).where(User.name_key == name_key(actor.name)))
    return CarePreferences(blur_sentences=bool(blur))


def set_blur_sentences(db: Database, actor: Actor, blur: bool) -> CarePreferences:
    """Anyone may choose this for themselves, and only for themselves."""
    with db.write() as session:
        user = session.scalar(select(User).where(User.name_key == name_key(actor.name)))
        if user is None:
            raise NotFound(f"No account named {actor.name!r} to keep this choice on.")
        user.blur_sentences = bool(blur)
    return CarePreferences(blur_sentences=bool(blur))


def break_due(labelling_since: datetime | None, now: datetime, every_minutes: int) -> bool:
    """True once someone has labelled for `every_minutes` since they started or last took a break."""
    if not every_minutes or labelling_since is None:
        return False
    return now - labelling_since >= timedelta(minutes=every_minutes)


def _note_hash(note: str) -> str:
    return hashlib.sha256(note.encode("utf-8")).hexdigest()


def content_note_to_show(db: Database, actor: Actor, project: ProjectInfo) -> str | None:
    """The project's content note, until this account has read it as it reads now."""
    if not project.content_note:
        return None
    with db.read() as session:
        seen = session.scalar(
            select(ContentNoteAck.note_hash)
            .join(User, User.id == ContentNoteAck.user_id)
            .where(User.name_key == name_key(actor.name), ContentNoteAck.project_id == project.id)
        )
    return None if seen == _note_hash(project.content_note) else project.content_note


def acknowledge_content_note(db: Database, actor: Actor, project: ProjectInfo) -> None:
    with db.write() as session:
        user_id = session.scalar(select(User.id).where(User.name_key == name_key(actor.name)))
        if user_id is None:
            raise NotFound(f"No account named {actor.name!r} to remember this on.")
        ack = session.get(ContentNoteAck, (user_id, project.id))
        if ack is None:
            ack = ContentNoteAck(user_id=user_id, project_id=project.id)
            session.add(ack)
        ack.note_hash, ack.acknowledged_at = _note_hash(project.content_note), utcnow()
