"""Labelling: saving labels as annotation history, undo, the labelling queue and sentence context."""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from core.assignments import assigned_to_anyone, pending_for
from core.errors import InvalidInput, NotFound
from core.estimate import batch_position, pending_batch, sampled_among
from core.permissions import Actor, Permission, require
from db.engine import Database
from db.models import Annotation, AnnotationSource, Label, Sentence, Split, Suggestion, utcnow

QUEUE_ORDERS = ("document", "shuffled", "useful")


@dataclass(frozen=True)
class SentenceView:
    id: int
    project_id: int
    text: str
    doc_id: str
    position: int
    split: str
    label: int | None
    unsure: bool
    labelled_by: str | None
    note: str
    before: tuple[str, ...]  # neighbours in the same document, nearest last
    after: tuple[str, ...]  # neighbours in the same document, nearest first


@dataclass(frozen=True)
class AnnotationView:
    id: int
    label: int | None
    annotator: str
    created_at: datetime
    note: str
    unsure: bool
    source: AnnotationSource


@dataclass(frozen=True)
class QueueFilter:
    """Which sentences the queue serves. The default is the plain "unlabelled first" queue."""

    unlabelled_only: bool = True
    label: int | None = None  # revisit sentences currently labelled with this value
    search: str = ""
    unsure_only: bool = False
    evaluation_batch: bool = False  # the latest estimate's sampled sentences nobody has labelled yet


def _check_label(session, project_id: int, label: int) -> None:
    exists = session.scalar(select(Label.id).where(Label.project_id == project_id, Label.value == label))
    if exists is None:
        values = list(session.scalars(select(Label.value).where(Label.project_id == project_id).order_by(Label.value)))
        raise InvalidInput(f"Label {label} is not one of this project's labels {values}.")


def save_label(
    db: Database,
    actor: Actor,
    sentence_id: int,
    label: int,
    *,
    note: str = "",
    unsure: bool = False,
    source: AnnotationSource = AnnotationSource.ui,
) -> None:
    """Record a label by `actor`. Two people labelling the same sentence both land in history; the latest is current."""
    require(actor, Permission.label)
    sentence_id, label = int(sentence_id), int(label)  # numpy integers from DataFrames do not bind
    with db.write() as session:
        sentence = session.get(Sentence, sentence_id)
        if sentence is None:
            raise NotFound(f"Sentence {sentence_id} no longer exists (it may have been deleted).")
        _check_label(session, sentence.project_id, label)
        now = utcnow()
        session.add(
            Annotation(sentence_id=sentence_id, label=label, annotator=actor.name, note=note.strip(),
                       unsure=unsure, source=source, created_at=now)
        )
        sentence.label = label
        sentence.unsure = unsure
        sentence.labelled_by = actor.name
        sentence.labelled_at = now
        if source != AnnotationSource.bulk_accept:
            _sampled_to_test(session, [sentence])


def _sampled_to_test(session: Session, sentences: list[Sentence]) -> None:
    """A sentence drawn for an estimate on the stream is measured, never trained on: its label goes
    to the test split, so the next version's estimate can reuse it honestly (core/estimate.py)."""
    drawn = sampled_among(session, [s.id for s in sentences])
    for sentence in sentences:
        if sentence.id in drawn:
            sentence.split, sentence.split_explicit = Split.test, True


def write_labels(session: Session, project_id: int, changes: dict[int, int], annotator: str,
                 source: AnnotationSource) -> int:
    """Several labels inside the caller's transaction; every sentence must belong to `project_id`
    (ids from a table in the browser are checked against the project on screen)."""
    changes = {int(k): int(v) for k, v in changes.items()}
    if not changes:
        return 0
    sentences = session.scalars(select(Sentence).where(Sentence.id.in_(changes),
                                                       Sentence.project_id == project_id)).all()
    if len(sentences) != len(changes):
        raise NotFound("Some of these sentences are not in this project (any more); reload the table.")
    now = utcnow()
    changed = 0
    for sentence in sentences:
        label = changes[sentence.id]
        if sentence.label == label and not is_pending_for(session, sentence.id, annotator):
            continue  # a blind double's label is the moderator's own judgement even when it matches
        _check_label(session, project_id, label)
        session.add(Annotation(sentence_id=sentence.id, label=label, annotator=annotator, source=source, created_at=now))
        sentence.label, sentence.unsure, sentence.labelled_by, sentence.labelled_at = label, False, annotator, now
        changed += 1
    if source != AnnotationSource.bulk_accept:
        _sampled_to_test(session, [s for s in sentences if s.label == changes[s.id]])
    return changed


def save_labels(db: Database, actor: Actor, project_id: int, changes: dict[int, int],
                source: AnnotationSource = AnnotationSource.table) -> int:
    """Several labels of one project in one transaction (table mode); returns how many changed."""
    require(actor, Permission.label)
    if not changes:
        return 0
    with db.write() as session:
        return write_labels(session, project_id, changes, actor.name, source)


def undo_last(db: Database, actor: Actor, project_id: int) -> int | None:
    """Take back the actor's own latest labelling act in the project and return its sentence id.

    The history keeps both the act and an undo row that restores the label as it was before it,
    so a second undo reaches one act further back. Returns None when there is nothing to undo.
    """
    require(actor, Permission.label)
    annotator = actor.name
    with db.write() as session:
        reverted = select(Annotation.reverts_id).where(Annotation.reverts_id.is_not(None))
        act = session.scalar(
            select(Annotation)
            .join(Sentence, Sentence.id == Annotation.sentence_id)
            .where(
                Sentence.project_id == project_id,
                Annotation.annotator == annotator,
                Annotation.source != AnnotationSource.undo,
                Annotation.id.not_in(reverted),
            )
            .order_by(Annotation.id.desc())
            .limit(1)
        )
        if act is None:
            return None
        later_by_others = session.scalar(
            select(func.count()).where(
                Annotation.sentence_id == act.sentence_id, Annotation.id > act.id, Annotation.annotator != annotator
            )
        )
        if later_by_others:
            raise InvalidInput(
                "Someone else has labelled that sentence since; open it from the queue filter to change it."
            )
        before = session.scalar(
            select(Annotation)
            .where(Annotation.sentence_id == act.sentence_id, Annotation.id < act.id)
            .order_by(Annotation.id.desc())
            .limit(1)
        )
        now = utcnow()
        restored = before.label if before is not None else None
        session.add(
            Annotation(sentence_id=act.sentence_id, label=restored, annotator=annotator, source=AnnotationSource.undo,
                       reverts_id=act.id, note=before.note if before else "",
                       unsure=before.unsure if before else False, created_at=now)
        )
        sentence = session.get(Sentence, act.sentence_id)
        sentence.label = restored
        sentence.unsure = before.unsure if before is not None and restored is not None else False
        sentence.labelled_by = before.annotator if before is not None and restored is not None else None
        sentence.labelled_at = before.created_at if before is not None and restored is not None else None
        return act.sentence_id


def history(db: Database, sentence_id: int) -> list[AnnotationView]:
    with db.read() as session:
        rows = session.scalars(
            select(Annotation).where(Annotation.sentence_id == sentence_id).order_by(Annotation.id)
        ).all()
        return [AnnotationView(a.id, a.label, a.annotator, a.created_at, a.note, a.unsure, a.source) for a in rows]


def _apply_filter(stmt, project_id: int, queue_filter: QueueFilter):
    stmt = stmt.where(Sentence.project_id == project_id)
    if queue_filter.evaluation_batch:
        stmt = stmt.where(pending_batch(project_id))
    elif queue_filter.unlabelled_only:
        stmt = stmt.where(Sentence.label.is_(None))
    elif queue_filter.label is not None:
        stmt = stmt.where(Sentence.label == queue_filter.label)
    if queue_filter.unsure_only:
        stmt = stmt.where(Sentence.unsure.is_(True))
    if queue_filter.search.strip():
        stmt = stmt.where(Sentence.text.icontains(queue_filter.search.strip(), autoescape=True))
    return stmt


def _queues(project_id: int, queue_filter: QueueFilter, annotator: str | None) -> list:
    """The WHERE clauses of the queue, in the order they are served.

    With an `annotator`, the unlabelled queue serves their own pending assignments first (labelled by
    someone else or not: a double is labelled blind), then unlabelled sentences nobody is assigned;
    sentences assigned to others are theirs. Other views leave out the annotator's pending assignments,
    whose labels (someone else's) they must not see yet."""
    plain = _apply_filter(select(Sentence.id), project_id, queue_filter).whereclause
    if annotator is None or queue_filter.evaluation_batch:
        return [plain]  # a batch sentence has no person's label yet: nothing to hide, and it is everyone's
    if queue_filter.unlabelled_only:
        own = _apply_filter(select(Sentence.id), project_id,
                            QueueFilter(unlabelled_only=False, search=queue_filter.search)).whereclause
        return [and_(own, pending_for(annotator)), and_(plain, ~assigned_to_anyone())]
    return [and_(plain, ~pending_for(annotator))]


def next_sentence(
    db: Database,
    project_id: int,
    *,
    order: str = "document",
    queue_filter: QueueFilter = QueueFilter(),
    exclude_ids: Collection[int] = (),
    annotator: str | None = None,
) -> SentenceView | None:
    """The next sentence the queue serves, or None when the queue is empty. With `annotator` (the person
    labelling), their assignments come first and what they see of a pending assignment is blind."""
    if order not in QUEUE_ORDERS:
        raise InvalidInput(f"Unknown queue order {order!r}; use one of {QUEUE_ORDERS}.")
    with db.read() as session:
        sentence_id = None
        for where in _queues(project_id, queue_filter, annotator):
            stmt = select(Sentence.id).where(where)
            if exclude_ids:
                stmt = stmt.where(Sentence.id.not_in(list(exclude_ids)))
            if queue_filter.evaluation_batch:
                # The batch's own random order, whatever the chosen one: any part of it is a random sample.
                stmt = stmt.order_by(batch_position(project_id), Sentence.id)
            elif order == "document":
                stmt = stmt.order_by(Sentence.doc_id, Sentence.position, Sentence.id)
            elif order == "shuffled":
                stmt = stmt.order_by(Sentence.shuffle_key, Sentence.id)
            else:
                # Precomputed by the worker (core/suggestions.py); sentences it has not ranked yet come last.
                # The project in the join lets SQLite use the suggestions key (project_id, sentence_id); on
                # sentence_id alone it scanned the table per sentence (120 s calls in bench/bench_load.py).
                stmt = stmt.outerjoin(Suggestion, and_(Suggestion.project_id == Sentence.project_id,
                                                       Suggestion.sentence_id == Sentence.id)).order_by(
                    Suggestion.rank.is_(None), Suggestion.rank, Sentence.shuffle_key, Sentence.id)
            sentence_id = session.scalar(stmt.limit(1))
            if sentence_id is not None:
                break
    return None if sentence_id is None else get_sentence(db, sentence_id, viewer=annotator)


def count_queue(db: Database, project_id: int, queue_filter: QueueFilter, exclude_ids: Collection[int] = (),
                annotator: str | None = None) -> int:
    total = 0
    with db.read() as session:
        for where in _queues(project_id, queue_filter, annotator):
            stmt = select(func.count()).select_from(Sentence).where(where)
            if exclude_ids:
                stmt = stmt.where(Sentence.id.not_in(list(exclude_ids)))
            total += int(session.scalar(stmt) or 0)
    return total


def is_pending_for(session, sentence_id: int, annotator: str | None) -> bool:
    if annotator is None:
        return False
    return session.scalar(select(Sentence.id).where(Sentence.id == sentence_id, pending_for(annotator))) is not None


def get_sentence(db: Database, sentence_id: int, context: int = 2, viewer: str | None = None) -> SentenceView:
    """A sentence with up to `context` neighbours either side from the same document. Seen by a `viewer`
    it is assigned to and who has not labelled it yet, it is blind: no label, labeller or note."""
    sentence_id = int(sentence_id)
    with db.read() as session:
        s = session.get(Sentence, sentence_id)
        if s is None:
            raise NotFound(f"Sentence {sentence_id} no longer exists.")
        blind = is_pending_for(session, s.id, viewer)
        before: list[str] = []
        after: list[str] = []
        if s.doc_id:
            same_doc = and_(Sentence.project_id == s.project_id, Sentence.doc_id == s.doc_id)
            before = list(
                session.scalars(
                    select(Sentence.text).where(same_doc, Sentence.position < s.position)
                    .order_by(Sentence.position.desc()).limit(context)
                )
            )[::-1]
            after = list(
                session.scalars(
                    select(Sentence.text).where(same_doc, Sentence.position > s.position)
                    .order_by(Sentence.position).limit(context)
                )
            )
        note = session.scalar(
            select(Annotation.note).where(Annotation.sentence_id == s.id).order_by(Annotation.id.desc()).limit(1)
        )
        if blind:
            return SentenceView(
                id=s.id, project_id=s.project_id, text=s.text, doc_id=s.doc_id, position=s.position,
                split=s.split.value, label=None, unsure=False, labelled_by=None, note="",
                before=tuple(before), after=tuple(after),
            )
        return SentenceView(
            id=s.id, project_id=s.project_id, text=s.text, doc_id=s.doc_id, position=s.position,
            split=s.split.value, label=s.label, unsure=s.unsure, labelled_by=s.labelled_by,
            note=note or "", before=tuple(before), after=tuple(after),
        )


def sentence_table(
    db: Database,
    project_id: int,
    *,
    search: str = "",
    label: int | None = None,
    unlabelled_only: bool = False,
    split: str | None = None,
    offset: int = 0,
    limit: int = 100,
    viewer: str | None = None,
) -> tuple[pd.DataFrame, int]:
    """One page of sentences for table mode, filtered and paged in SQL; returns (page, total matching).

    For a `viewer`, their pending assignments show no label (a double is labelled blind) and do not match
    a label filter."""
    queue_filter = QueueFilter(unlabelled_only=unlabelled_only, label=label, search=search)
    base = _apply_filter(select(Sentence), project_id, queue_filter)
    count_stmt = _apply_filter(select(func.count()).select_from(Sentence), project_id, queue_filter)
    if viewer is not None and label is not None:
        base = base.where(~pending_for(viewer))
        count_stmt = count_stmt.where(~pending_for(viewer))
    if split:
        base = base.where(Sentence.split == Split(split))
        count_stmt = count_stmt.where(Sentence.split == Split(split))
    with db.read() as session:
        total = int(session.scalar(count_stmt) or 0)
        rows = session.scalars(
            base.order_by(Sentence.doc_id, Sentence.position, Sentence.id).offset(offset).limit(limit)
        ).all()
        blind: set[int] = set()
        if viewer is not None and rows:
            blind = set(session.scalars(select(Sentence.id).where(Sentence.id.in_([s.id for s in rows]),
                                                                  pending_for(viewer))))
        frame = pd.DataFrame(
            [
                {"id": s.id, "text": s.text, "label": None if s.id in blind else s.label, "split": s.split.value,
                 "document": s.doc_id, "labelled_by": "" if s.id in blind else (s.labelled_by or "")}
                for s in rows
            ],
            columns=["id", "text", "label", "split", "document", "labelled_by"],
        )
    return frame, total


def conflicted_sentence_ids(session: Session, project_id: int) -> list[int]:
    """Sentences whose annotators' latest labels disagree (two moderators, two answers), until an admin
    adjudicates (or, before adjudication existed, someone settled it from the check queue)."""
    latest = (
        select(Annotation.sentence_id, Annotation.annotator, func.max(Annotation.id).label("last_id"))
        .join(Sentence, Sentence.id == Annotation.sentence_id)
        .where(Sentence.project_id == project_id, Annotation.source != AnnotationSource.adjudication)
        .group_by(Annotation.sentence_id, Annotation.annotator)
        .subquery()
    )
    newest = (
        select(Annotation.sentence_id, func.max(Annotation.id).label("newest_id"))
        .group_by(Annotation.sentence_id)
        .subquery()
    )
    settled = select(newest.c.sentence_id).join(Annotation, Annotation.id == newest.c.newest_id).where(
        Annotation.source.in_([AnnotationSource.check, AnnotationSource.adjudication])
    )
    stmt = (
        select(latest.c.sentence_id)
        .join(Annotation, Annotation.id == latest.c.last_id)
        .where(Annotation.label.is_not(None), latest.c.sentence_id.not_in(settled))
        .group_by(latest.c.sentence_id)
        .having(func.count(func.distinct(Annotation.label)) > 1)
        .order_by(latest.c.sentence_id)
    )
    return list(session.scalars(stmt))


def label_conflicts(db: Database, project_id: int) -> list[int]:
    """Sentences whose moderators disagree and no admin has adjudicated yet (see conflicted_sentence_ids)."""
    with db.read() as session:
        return conflicted_sentence_ids(session, project_id)
