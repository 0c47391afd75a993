"""Live suggestions, the "Most useful first" queue, suspected label errors, contradicting pairs and the
check queue.

The worker computes (core/worker.py calls `refresh_suggestions`, `find_suspects` and `prepare_suggestions`);
pages only read precomputed rows, so serving the useful queue costs the same as the plain one. Contradicting
pairs are computed when asked, from embeddings the worker has cached (never encoded here: the web process
never loads a model).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from core.active import contradicting_pairs, out_of_fold_probs, rank_useful, suspect_labels
from core.classifier import align_proba, head_classes
from core.errors import InvalidInput
from core.assignments import pending_for
from core.labeling import conflicted_sentence_ids, save_label
from core.permissions import Actor, Permission, require
from core.learning_curve import learning_curve_points  # noqa: F401  (pages/train.py reads it from here)
from db.engine import Database
from db.portable import upsert
from db.models import (
    Annotation,
    AnnotationSource,
    Embedding,
    Project,
    Sentence,
    Suggestion,
    SuggestionState,
    Suspect,
    utcnow,
)

REFRESH_EVERY = 4  # new labels between head refits: often enough to feel live, cheap enough to ignore
EMBED_BATCH = 256

Encoder = Callable[[Sequence[str]], np.ndarray]


def model_key_for(run_id: int | None) -> str:
    return "base" if run_id is None else f"run-{run_id}"


# -- embeddings cache ------------------------------------------------------------------------------

def cached_embeddings(db: Database, model_key: str, hashes: Sequence[str], texts: Sequence[str], encode: Encoder) -> np.ndarray:
    """Embeddings for the texts, encoding only those not cached under (model key, text hash)."""
    found: dict[str, np.ndarray] = {}
    unique = list(dict.fromkeys(hashes))
    with db.read() as session:
        for start in range(0, len(unique), 900):  # SQLite's bound-parameter limit
            chunk = unique[start:start + 900]
            for h, blob in session.execute(
                select(Embedding.text_hash, Embedding.vector).where(Embedding.model_key == model_key, Embedding.text_hash.in_(chunk))
            ):
                found[h] = np.frombuffer(blob, dtype=np.float32)
    missing = [(h, t) for h, t in dict(zip(hashes, texts)).items() if h not in found]
    for start in range(0, len(missing), EMBED_BATCH):
        batch = missing[start:start + EMBED_BATCH]
        vectors = np.asarray(encode([t for _, t in batch]), dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        with db.write() as session:
            upsert(session, Embedding, [
                {"model_key": model_key, "text_hash": h, "vector": v.tobytes()} for (h, _), v in zip(batch, vectors)
            ])
        for (h, _), v in zip(batch, vectors):
            found[h] = v
    return np.stack([found[h] for h in hashes]) if hashes else np.zeros((0, 0), dtype=np.float32)


@dataclass(frozen=True)
class ProjectSentences:
    ids: list[int]
    hashes: list[str]
    texts: list[str]
    labels: list[int | None]
    names: list[str]


def project_sentences(db: Database, project_id: int) -> ProjectSentences:
    with db.read() as session:
        rows = session.execute(
            select(Sentence.id, Sentence.text_hash, Sentence.text, Sentence.label)
            .where(Sentence.project_id == project_id).order_by(Sentence.id)
        ).all()
        names = [label.name for label in session.get(Project, project_id).labels]
    return ProjectSentences([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows], names)


# -- suggestions and the useful queue --------------------------------------------------------------

@dataclass(frozen=True)
class SuggestionBatch:
    """A project's suggestions and useful-queue ranks, computed and ready to be written."""

    project_id: int
    rows: list[dict]
    labelled: int
    model_key: str
    seconds: float


def prepare_suggestions(project_id: int, ids: Sequence[int], probs: np.ndarray, embeddings: np.ndarray | None,
                        labels: Sequence[int | None], names: Sequence[str], model_key: str, seconds: float) -> SuggestionBatch:
    """Suggestions from probabilities with one column per project label (core.classifier.align_proba),
    and the unlabelled sentences ranked for "most useful first"."""
    if probs.shape != (len(ids), len(names)):
        raise ValueError(f"suggestions need one probability per sentence and project label: got {probs.shape} "
                         f"for {len(ids)} sentences and {len(names)} labels")
    unlabelled = [i for i, label in enumerate(labels) if label is None]
    counts = np.bincount(np.array([label for label in labels if label is not None], dtype=int), minlength=len(names))
    ranked = rank_useful([ids[i] for i in unlabelled], probs[unlabelled],
                         None if embeddings is None else embeddings[unlabelled], names, seed=project_id,
                         labelled_counts=counts.tolist())
    rank_of = {pick.sentence_id: (r, pick.reason) for r, pick in enumerate(ranked)}
    rows = [
        {"project_id": project_id, "sentence_id": sid, "label": int(p.argmax()),
         "probs_json": json.dumps([round(float(x), 4) for x in p]),
         "rank": rank_of.get(sid, (None, ""))[0], "reason": rank_of.get(sid, (None, ""))[1]}
        for sid, p in zip(ids, probs)
    ]
    return SuggestionBatch(project_id, rows, sum(1 for label in labels if label is not None), model_key, seconds)


def write_suggestions(session: Session, batch: SuggestionBatch) -> None:
    """Replace the project's suggestions, inside the caller's transaction."""
    project_id = batch.project_id
    session.execute(delete(Suggestion).where(Suggestion.project_id == project_id))
    for start in range(0, len(batch.rows), 5000):
        session.execute(insert(Suggestion), batch.rows[start:start + 5000])
    newest = session.scalar(select(func.max(Annotation.id)).join(Sentence).where(Sentence.project_id == project_id)) or 0
    state = session.get(SuggestionState, project_id)
    if state is None:
        session.add(SuggestionState(project_id=project_id, model_key=batch.model_key, labelled_count=batch.labelled,
                                    annotation_id=newest, seconds=batch.seconds))
    else:
        state.model_key, state.labelled_count, state.annotation_id = batch.model_key, batch.labelled, newest
        state.refreshed_at, state.seconds = utcnow(), batch.seconds


def store_suggestions(db: Database, project_id: int, ids: Sequence[int], probs: np.ndarray, embeddings: np.ndarray | None,
                      labels: Sequence[int | None], names: Sequence[str], model_key: str, seconds: float) -> None:
    """Replace the project's suggestions and re-rank the unlabelled sentences."""
    batch = prepare_suggestions(project_id, ids, probs, embeddings, labels, names, model_key, seconds)
    with db.write() as session:
        write_suggestions(session, batch)


def refresh_due(db: Database, project_id: int) -> str | None:
    """The model key to refresh suggestions with, or None when they are fresh enough."""
    with db.read() as session:
        project = session.get(Project, project_id)
        key = model_key_for(project.active_run_id)
        state = session.get(SuggestionState, project_id)
        labelled = session.scalar(select(func.count()).where(Sentence.project_id == project_id, Sentence.label.is_not(None))) or 0
        in_use = session.scalar(select(func.count(func.distinct(Sentence.label))).where(
            Sentence.project_id == project_id, Sentence.label.is_not(None))) or 0
        newest = session.scalar(select(func.max(Annotation.id)).join(Sentence).where(Sentence.project_id == project_id)) or 0
    if in_use < 2:
        return None
    if state is None or state.model_key != key:
        return key
    new_acts = 0
    if newest > state.annotation_id:
        with db.read() as session:
            new_acts = session.scalar(select(func.count()).select_from(Annotation).join(Sentence).where(
                Sentence.project_id == project_id, Annotation.id > state.annotation_id)) or 0
    return key if new_acts >= REFRESH_EVERY or abs(labelled - state.labelled_count) >= REFRESH_EVERY else None


def refresh_suggestions(db: Database, project_id: int, model_key: str, encode: Encoder) -> float:
    """Refit only a logistic head on cached embeddings of the labelled sentences (about a second) and
    store its suggestions; the versioned model stays the SetFit run's. Returns the seconds it took."""
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    data = project_sentences(db, project_id)
    emb = cached_embeddings(db, model_key, data.hashes, data.texts, encode)
    labelled = [i for i, label in enumerate(data.labels) if label is not None]
    y = np.array([data.labels[i] for i in labelled])
    head = LogisticRegression(max_iter=1000)
    head.fit(emb[labelled], y)
    probs = align_proba(head.predict_proba(emb), head_classes(head), len(data.names))
    seconds = time.perf_counter() - started
    store_suggestions(db, project_id, data.ids, probs, emb, data.labels, data.names, model_key, seconds)
    return seconds


@dataclass(frozen=True)
class SuggestionView:
    label: int
    probs: list[float]
    reason: str


def suggestion_for(db: Database, sentence_id: int) -> SuggestionView | None:
    with db.read() as session:
        row = session.execute(
            select(Suggestion.label, Suggestion.probs_json, Suggestion.reason).where(Suggestion.sentence_id == sentence_id)
        ).first()
    return None if row is None else SuggestionView(row[0], json.loads(row[1]), row[2])


def suggestion_status(db: Database, project_id: int) -> SuggestionState | None:
    with db.read() as session:
        state = session.get(SuggestionState, project_id)
        if state is not None:
            session.expunge(state)
        return state


# -- suspected label errors and the check queue ------------------------------------------------------

def find_suspects(project_id: int, run_id: int, ids: Sequence[int], embeddings: np.ndarray,
                  labels: Sequence[int | None], n_classes: int) -> list[dict] | None:
    """Out-of-fold probabilities of logistic heads on the given embeddings (one column per project label,
    0 for a label without examples), checked by cleanlab (core.active.suspect_labels); the Suspect rows
    to write, or None when there are too few labels to check (the earlier suspects then stay)."""
    labelled = [i for i, label in enumerate(labels) if label is not None]
    y = np.array([labels[i] for i in labelled], dtype=int)
    try:
        oof = out_of_fold_probs(embeddings[labelled], y, n_classes)
    except InvalidInput:
        return None
    return suspect_rows(project_id, run_id, [ids[i] for i in labelled], oof, y)


def suspect_rows(project_id: int, run_id: int, ids: Sequence[int], oof: np.ndarray,
                 given: Sequence[int]) -> list[dict]:
    """The Suspect rows to write for labelled sentences `ids` with out-of-fold probabilities `oof` (one row
    per id, one column per project label) and their given labels: cleanlab's suspects, most likely wrong
    first (core.active.suspect_labels)."""
    y = np.asarray(given, dtype=int)
    return [
        {"project_id": project_id, "sentence_id": ids[s.index], "run_id": run_id, "given_label": s.given,
         "suggested_label": s.suggested, "score": s.score,
         "probs_json": json.dumps([round(float(x), 4) for x in oof[s.index]])}
        for s in suspect_labels(oof, y)
    ]


def write_suspects(session: Session, project_id: int, rows: list[dict] | None) -> None:
    """Replace the project's suspects, inside the caller's transaction."""
    if rows is None:
        return
    session.execute(delete(Suspect).where(Suspect.project_id == project_id))
    if rows:
        session.execute(insert(Suspect), rows)


def store_suspects(db: Database, project_id: int, run_id: int, ids: Sequence[int], embeddings: np.ndarray,
                   labels: Sequence[int | None], n_classes: int) -> int:
    """Find and store suspected label errors from embeddings of the labelled sentences (the worker passes
    the new version's: they measured best, bench/bench_suspects.py)."""
    rows = find_suspects(project_id, run_id, ids, embeddings, labels, n_classes)
    if rows is None:
        return 0
    with db.write() as session:
        write_suspects(session, project_id, rows)
    return len(rows)


@dataclass(frozen=True)
class CheckItem:
    sentence_id: int
    text: str
    current_label: int | None
    suggested_label: int | None
    score: float
    probs: list[float]
    reason: str  # "suspected label error" or "moderators disagree"
    votes: tuple[tuple[str, int], ...] = ()  # for a disagreement: each moderator's latest label


DISAGREE = "moderators disagree"


def _votes(session, sentence_id: int) -> tuple[tuple[str, int], ...]:
    """Each annotator's latest label of a sentence (undone labels and adjudications left out)."""
    latest = (select(Annotation.annotator, func.max(Annotation.id).label("last_id"))
              .where(Annotation.sentence_id == sentence_id, Annotation.source != AnnotationSource.adjudication)
              .group_by(Annotation.annotator).subquery())
    rows = session.execute(select(latest.c.annotator, Annotation.label)
                           .join(Annotation, Annotation.id == latest.c.last_id)
                           .where(Annotation.label.is_not(None)).order_by(latest.c.annotator)).all()
    return tuple((annotator, int(label)) for annotator, label in rows)


def check_queue(db: Database, project_id: int, actor: Actor | None = None) -> list[CheckItem]:
    """Suspects (most likely wrong first) whose label has not changed since, then label conflicts.

    Conflicts are for whoever may adjudicate them (admins; `actor` None: the CLI), with each moderator's
    label (`votes`): a moderator would otherwise see a colleague's label on a sentence that may still
    wait in their own blind queue. A conflict that is also a suspect stays a suspect item."""
    items: list[CheckItem] = []
    with db.read() as session:
        rows = session.execute(
            select(Suspect.sentence_id, Sentence.text, Sentence.label, Suspect.suggested_label, Suspect.score, Suspect.probs_json)
            .join(Sentence, Sentence.id == Suspect.sentence_id)
            .where(Suspect.project_id == project_id, Sentence.label == Suspect.given_label)
            .order_by(Suspect.score.desc())
        ).all()
        conflicts = conflicted_sentence_ids(session, project_id)
        may_adjudicate = actor is None or actor.may(Permission.adjudicate)
        hidden: set[int] = set()
        if not may_adjudicate:
            # A disputed sentence is an admin's to decide; one still pending blind for this moderator
            # would show a colleague's label.
            hidden = set(conflicts) | set(session.scalars(select(Sentence.id).where(
                Sentence.project_id == project_id, pending_for(actor.name))))
        for sid, text, label, suggested, score, probs in rows:
            if sid in hidden:
                continue
            votes = _votes(session, sid) if sid in conflicts and may_adjudicate else ()
            items.append(CheckItem(sid, text, label, suggested, score, json.loads(probs), "suspected label error",
                                   votes))
        if not may_adjudicate:
            return items
        seen = {item.sentence_id for item in items}
        for sid in conflicts:
            if sid in seen:
                continue
            text, label = session.execute(select(Sentence.text, Sentence.label).where(Sentence.id == sid)).one()
            items.append(CheckItem(sid, text, label, None, 0.0, [], DISAGREE, _votes(session, sid)))
    return items


def resolve_check(db: Database, actor: Actor, sentence_id: int, label: int) -> None:
    """Keep or change a checked label (recorded under the actor's name); either way it leaves the check queue.

    On a disagreement between moderators this is an adjudication: admins only, recorded as such, and
    the label training uses from then on. Raises PermissionDenied, NotFound, InvalidInput."""
    with db.read() as session:
        sentence = session.get(Sentence, int(sentence_id))
        disputed = sentence is not None and int(sentence_id) in conflicted_sentence_ids(session, sentence.project_id)
    if disputed:
        require(actor, Permission.adjudicate)  # never a disputant deciding their own dispute
        save_label(db, actor, sentence_id, label, source=AnnotationSource.adjudication, note="adjudicated")
    else:
        require(actor, Permission.check)
        save_label(db, actor, sentence_id, label, source=AnnotationSource.check, note="checked")
    with db.write() as session:
        session.execute(delete(Suspect).where(Suspect.sentence_id == sentence_id))


# -- contradicting pairs -------------------------------------------------------------------------------

# Near-duplicates by the *base* body: a fine-tuned body pulls each sentence towards its label, so it
# pushes a near-duplicate labelled otherwise away, which is the very pair to find. The worker caches
# these vectors for every labelled sentence after each run (core/worker.py `_analyse`).
PAIR_MODEL_KEY = "base"
# bench/bench_pairs.py, SST-2, base body: at 0.9 a copy with one word replaced, added or dropped, or other
# punctuation, reaches it in 56%, 73%, 87% and 99% of 494 cases, and 4 of 4.5 million pairs of distinct
# sentences do (paraphrases: "horrible ." / "terrible ."). At 0.85 the list takes in different sentences
# on one topic ("a smart, sassy ... romantic comedy" / "a witty, low-key romantic comedy").
PAIR_SIMILARITY = 0.9


@dataclass(frozen=True)
class PairSide:
    sentence_id: int
    text: str
    label: int


@dataclass(frozen=True)
class LabelPair:
    """Two labelled sentences that read almost the same but carry different labels."""

    first: PairSide
    second: PairSide
    similarity: float


KEPT_APART = "kept apart from sentence "  # the note on each side, followed by the other side's id


@dataclass(frozen=True)
class Word:
    text: str
    differs: bool  # not in the other sentence at this place


def differing_words(first: str, second: str) -> tuple[list[Word], list[Word]]:
    """Both sentences split into words, each marked where it differs from the other sentence: the
    words outside the longest runs the two share, in order (difflib)."""
    a, b = first.split(), second.split()
    same_a, same_b = set(), set()
    for block in SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks():
        same_a.update(range(block.a, block.a + block.size))
        same_b.update(range(block.b, block.b + block.size))
    return ([Word(w, i not in same_a) for i, w in enumerate(a)], [Word(w, i not in same_b) for i, w in enumerate(b)])


def _cached_vectors(session: Session, model_key: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    unique = list(dict.fromkeys(hashes))
    for start in range(0, len(unique), 900):  # SQLite's bound-parameter limit
        for h, blob in session.execute(select(Embedding.text_hash, Embedding.vector).where(
                Embedding.model_key == model_key, Embedding.text_hash.in_(unique[start:start + 900]))):
            found[h] = np.frombuffer(blob, dtype=np.float32)
    return found


def label_pairs(db: Database, project_id: int, actor: Actor | None = None,
                threshold: float = PAIR_SIMILARITY) -> list[LabelPair]:
    """Labelled sentences whose base-model embeddings have a cosine of at least `threshold` and whose
    labels differ, most similar first, until they are settled (the same label on both, or kept apart
    with `keep_pair_apart`). Left out: sentences without a cached embedding yet (the next run caches
    them), those moderators disagree on (an admin decides them first), and, for an `actor`, those
    still waiting blind in their own queue."""
    with db.read() as session:
        rows = session.execute(select(Sentence.id, Sentence.text_hash, Sentence.text, Sentence.label)
                               .where(Sentence.project_id == project_id, Sentence.label.is_not(None))
                               .order_by(Sentence.id)).all()
        left_out = set(conflicted_sentence_ids(session, project_id))
        if actor is not None:
            left_out |= set(session.scalars(select(Sentence.id).where(Sentence.project_id == project_id,
                                                                       pending_for(actor.name))))
        vectors = _cached_vectors(session, PAIR_MODEL_KEY, [h for _, h, _, _ in rows])
    rows = [r for r in rows if r[0] not in left_out and r[1] in vectors]
    if len(rows) < 2:
        return []
    found = contradicting_pairs(np.stack([vectors[r[1]] for r in rows]), np.array([r[3] for r in rows]), threshold)
    pairs = [LabelPair(PairSide(rows[p.first][0], rows[p.first][2], rows[p.first][3]),
                       PairSide(rows[p.second][0], rows[p.second][2], rows[p.second][3]), p.similarity)
             for p in found]
    kept = _kept_apart(db, {s for p in pairs for s in (p.first.sentence_id, p.second.sentence_id)})
    return [p for p in pairs if (p.first.sentence_id, p.second.sentence_id) not in kept]


def _kept_apart(db: Database, sentence_ids: set[int]) -> set[tuple[int, int]]:
    """Pairs (smaller id first) kept apart on both sides, with no label change on either side since."""
    if not sentence_ids:
        return set()
    acts: dict[int, list[tuple[int | None, str]]] = {}
    with db.read() as session:
        ids = sorted(sentence_ids)
        for start in range(0, len(ids), 900):
            for sid, label, note in session.execute(
                    select(Annotation.sentence_id, Annotation.label, Annotation.note)
                    .where(Annotation.sentence_id.in_(ids[start:start + 900])).order_by(Annotation.id)):
                acts.setdefault(sid, []).append((label, note))
    kept_by: dict[int, set[int]] = {}
    for sid, history_ in acts.items():
        current = history_[-1][0]
        # The acts since the label last changed: a kept-apart note older than a change no longer holds.
        since = len(history_)
        while since > 0 and history_[since - 1][0] == current:
            since -= 1
        kept_by[sid] = {int(note.removeprefix(KEPT_APART)) for _, note in history_[since:]
                        if note.startswith(KEPT_APART) and note.removeprefix(KEPT_APART).isdigit()}
    return {(a, b) for a in sentence_ids for b in kept_by.get(a, ())
            if a < b and a in kept_by.get(b, set())}


def keep_pair_apart(db: Database, actor: Actor, first_id: int, second_id: int) -> None:
    """"They differ: keep both": each sentence keeps its label, recorded as checked against the other,
    which keeps the pair off the list until either label changes. Raises PermissionDenied, NotFound."""
    require(actor, Permission.check)
    first_id, second_id = int(first_id), int(second_id)
    with db.read() as session:
        labels = dict(session.execute(select(Sentence.id, Sentence.label)
                                      .where(Sentence.id.in_([first_id, second_id]))).all())
    if len(labels) != 2 or None in labels.values():
        raise NotFound("One of these two sentences is gone or no longer labelled; reload the page.")
    for sid, other in ((first_id, second_id), (second_id, first_id)):
        save_label(db, actor, sid, labels[sid], source=AnnotationSource.check, note=f"{KEPT_APART}{other}")


def label_pair_alike(db: Database, actor: Actor, first_id: int, second_id: int, label: int) -> None:
    """Both sentences take `label`: whichever side has another label changes, as a checked label
    (resolve_check, which also clears a suspect on it). Raises PermissionDenied, NotFound, InvalidInput."""
    with db.read() as session:
        labels = dict(session.execute(select(Sentence.id, Sentence.label)
                                      .where(Sentence.id.in_([int(first_id), int(second_id)]))).all())
    if len(labels) != 2:
        raise NotFound("One of these two sentences no longer exists; reload the page.")
    for sid in (int(first_id), int(second_id)):
        if labels[sid] != int(label):
            resolve_check(db, actor, sid, int(label))
