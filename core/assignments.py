"""Assignments: which moderator labels which sentence, and blind double labelling.

An admin assigns a project's unlabelled, not yet assigned sentences to a set of moderators. A share of
them (the project's overlap share) goes to two moderators, the rest to one, spreading the work evenly.
Each of the two labels a double blind: until they have labelled it, their queue and table show the
sentence without anybody else's label or note (core/labeling.py asks `pending_for`). Their two labels
are what core/agreement.py measures; where they differ, the sentence waits in Check labels for an
admin's decision (core/suggestions.py), and training leaves it out until then (core/runs.py).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import and_, func, select

from core.audit import record
from core.errors import InvalidInput, NotFound
from core.permissions import Actor, Permission, require
from db.engine import Database
from db.models import Annotation, AnnotationSource, Assignment, AuditAction, Project, Sentence, User, utcnow


@dataclass(frozen=True)
class AssignmentSummary:
    assigned: int  # sentences newly assigned
    doubled: int  # of which to two moderators
    per_moderator: dict[str, int]  # new assignments per moderator


@dataclass(frozen=True)
class ModeratorWork:
    annotator: str
    assigned: int
    done: int  # assigned sentences the moderator has labelled (their latest act is a label, not an undo)

    @property
    def pending(self) -> int:
        return self.assigned - self.done


def labelled_by(annotator: str):
    """A WHERE clause on Sentence: `annotator` has a label of it that stands (an undo row restores the
    sentence's previous label, someone else's perhaps, so it is not theirs; an undone act does not count)."""
    undone = select(Annotation.reverts_id).where(Annotation.reverts_id.is_not(None))
    return select(Annotation.id).where(
        Annotation.sentence_id == Sentence.id, Annotation.annotator == annotator, Annotation.label.is_not(None),
        Annotation.source != AnnotationSource.undo, Annotation.id.not_in(undone)).exists()


def pending_for(annotator: str):
    """A WHERE clause on Sentence: assigned to `annotator` and not labelled by them yet."""
    assigned = select(Assignment.sentence_id).where(Assignment.annotator == annotator)
    return and_(Sentence.id.in_(assigned), ~labelled_by(annotator))


def assigned_to_anyone():
    """A WHERE clause on Sentence: assigned to an enabled account (a disabled moderator's assignments go
    back to the shared queue and can be assigned again)."""
    enabled = select(Assignment.sentence_id).join(User, User.name == Assignment.annotator).where(
        User.disabled.is_(False))
    return Sentence.id.in_(enabled)


def assign_work(db: Database, actor: Actor, project_id: int, moderators: Sequence[str], overlap_share: float,
                seed: int = 0) -> AssignmentSummary:
    """Assign every unlabelled sentence of the project that nobody has yet: round(overlap_share x n) of them
    to two moderators (blind), the rest to one, each sentence to the moderators with the least work so far.

    `overlap_share` is a fraction in [0, 1]; with a share above 0 at least two moderators are needed.
    Sentences already assigned keep their moderators; run it again after an import to assign the new ones.
    Raises PermissionDenied (not an admin), InvalidInput (share, unknown or disabled moderator), NotFound.
    """
    require(actor, Permission.assign_work)
    names = list(dict.fromkeys(name.strip() for name in moderators if name.strip()))
    if not 0.0 <= overlap_share <= 1.0:
        raise InvalidInput(f"The overlap share must be between 0 and 1 (0% to 100%); got {overlap_share!r}.")
    if not names:
        raise InvalidInput("Choose at least one moderator to assign sentences to.")
    if overlap_share > 0 and len(names) < 2:
        raise InvalidInput("An overlap share needs at least two moderators: a double goes to two different people.")
    with db.write() as session:
        project = session.get(Project, project_id)
        if project is None:
            raise NotFound(f"Project {project_id} no longer exists.")
        known = {u.name: u for u in session.scalars(select(User).where(User.name.in_(names)))}
        unknown = [n for n in names if n not in known]
        disabled = [n for n in names if n in known and known[n].disabled]
        if unknown or disabled:
            problems = ([f"no account named {', '.join(map(repr, unknown))}"] if unknown else []) + (
                [f"{', '.join(map(repr, disabled))} is disabled"] if disabled else [])
            raise InvalidInput("Cannot assign: " + "; ".join(problems) + ". Check the names on the Users page.")
        candidates = list(session.scalars(
            select(Sentence.id).where(Sentence.project_id == project_id, Sentence.label.is_(None),
                                      ~assigned_to_anyone()).order_by(Sentence.id)))
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(candidates))
        n_double = int(round(overlap_share * len(candidates)))
        load = {name: int(session.scalar(select(func.count()).where(
            Assignment.project_id == project_id, Assignment.annotator == name)) or 0) for name in names}
        rank = {name: i for i, name in enumerate(rng.permutation(names).tolist())}  # ties, fairly
        now = utcnow()
        added = {name: 0 for name in names}
        for position, index in enumerate(order):
            width = 2 if position < n_double else 1
            chosen = sorted(names, key=lambda n: (load[n], rank[n]))[:width]
            for name in chosen:
                session.add(Assignment(sentence_id=candidates[index], annotator=name, project_id=project_id,
                                       created_at=now))
                load[name] += 1
                added[name] += 1
        project.overlap_share = float(overlap_share)
        record(session, actor, AuditAction.work_assigned,
               f"{len(candidates)} sentences to {', '.join(names)}; {n_double} of them to two moderators "
               f"(overlap {overlap_share:.0%})", project_id)
    return AssignmentSummary(assigned=len(candidates), doubled=n_double, per_moderator=added)


def moderator_work(db: Database, project_id: int, annotator: str | None = None) -> list[ModeratorWork]:
    """Per moderator with assignments in the project (or only `annotator`): assigned, labelled, pending."""
    with db.read() as session:
        stmt = select(Assignment.annotator, func.count()).where(Assignment.project_id == project_id)
        if annotator is not None:
            stmt = stmt.where(Assignment.annotator == annotator)
        rows = session.execute(stmt.group_by(Assignment.annotator).order_by(Assignment.annotator)).all()
        work = []
        for annotator, assigned in rows:
            pending = session.scalar(select(func.count()).select_from(Sentence).where(
                Sentence.project_id == project_id, pending_for(annotator))) or 0
            work.append(ModeratorWork(annotator, int(assigned), int(assigned) - int(pending)))
    return work


def overlap_share(db: Database, project_id: int) -> float:
    with db.read() as session:
        return float(session.scalar(select(Project.overlap_share).where(Project.id == project_id)) or 0.0)
