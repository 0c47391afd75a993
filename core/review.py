"""Review: predictions with filters (paged in SQL), evaluation against current labels, confusion cells,
misclassifications, the binary operating point and run comparison."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import and_, case, func, literal, select, update
from sqlalchemy.orm import aliased

from core.audit import record
from core.errors import EvaluationUnavailable, InvalidInput, NotFound
from core.assignments import pending_for
from core.evaluation import Interval, Reliability, accuracy_difference, compute_metrics, reliability
from core.labeling import write_labels
from core.permissions import Actor, Permission, require
from db.engine import Database
from db.portable import json_number
from db.models import AnnotationSource, AuditAction, Prediction, Project, RunStatus, Sentence, Split, TrainingRun

AGREEMENT = ("any", "agrees", "disagrees", "unlabelled")
SORTS = {"least sure first": "asc", "most sure first": "desc", "document order": "doc"}


@dataclass(frozen=True)
class PredictionFilter:
    predicted: int | None = None
    human: int | None = None
    agreement: str = "any"
    min_confidence: float = 0.0
    max_confidence: float = 1.0
    search: str = ""
    split: str | None = None
    # The person looking: their pending blind doubles (core/assignments.py) are left out, since each
    # row shows the sentence's current label, a colleague's there.
    viewer: str | None = None

    def __post_init__(self) -> None:
        if self.agreement not in AGREEMENT:
            raise InvalidInput(f"Agreement must be one of {AGREEMENT}.")
        if not 0.0 <= self.min_confidence <= self.max_confidence <= 1.0:
            raise InvalidInput("The confidence range must lie within 0..1, low end first.")


def _succeeded_run(session, run_id: int) -> TrainingRun:
    run = session.get(TrainingRun, run_id)
    if run is None:
        raise NotFound(f"No training run {run_id}.")
    if run.status != RunStatus.succeeded:
        raise EvaluationUnavailable(f"Version {run.version} did not succeed ({run.status.value}); it has no predictions.")
    return run


def _filtered(run_id: int, f: PredictionFilter, columns):
    stmt = select(*columns).select_from(Prediction).join(Sentence, Sentence.id == Prediction.sentence_id).where(
        Prediction.run_id == run_id
    )
    if f.predicted is not None:
        stmt = stmt.where(Prediction.label == f.predicted)
    if f.human is not None:
        stmt = stmt.where(Sentence.label == f.human)
    if f.agreement == "agrees":
        stmt = stmt.where(Sentence.label == Prediction.label)
    elif f.agreement == "disagrees":
        stmt = stmt.where(Sentence.label.is_not(None), Sentence.label != Prediction.label)
    elif f.agreement == "unlabelled":
        stmt = stmt.where(Sentence.label.is_(None))
    if f.min_confidence > 0.0:
        stmt = stmt.where(Prediction.confidence >= f.min_confidence)
    if f.max_confidence < 1.0:
        stmt = stmt.where(Prediction.confidence <= f.max_confidence)
    if f.search.strip():
        stmt = stmt.where(Sentence.text.icontains(f.search.strip(), autoescape=True))
    if f.split:
        stmt = stmt.where(Sentence.split == Split(f.split))
    if f.viewer is not None:
        stmt = stmt.where(~pending_for(f.viewer))
    return stmt


PREDICTION_COLUMNS = ["id", "text", "predicted", "confidence", "label", "split", "probs"]


def prediction_rows(
    db: Database, run_id: int, f: PredictionFilter = PredictionFilter(), sort: str = "least sure first",
    offset: int = 0, limit: int = 50,
) -> tuple[pd.DataFrame, int]:
    """One page of predictions and the number matching; filtering, sorting and paging happen in SQL."""
    if sort not in SORTS:
        raise InvalidInput(f"Sort must be one of {list(SORTS)}.")
    columns = [Sentence.id, Sentence.text, Prediction.label, Prediction.confidence, Sentence.label, Sentence.split,
               Prediction.probs_json]
    stmt = _filtered(run_id, f, columns)
    order = {"asc": (Prediction.confidence.asc(), Sentence.id), "desc": (Prediction.confidence.desc(), Sentence.id),
             "doc": (Sentence.doc_id, Sentence.position, Sentence.id)}[SORTS[sort]]
    with db.read() as session:
        _succeeded_run(session, run_id)
        total = int(session.scalar(_filtered(run_id, f, [func.count()])) or 0)
        rows = session.execute(stmt.order_by(*order).offset(offset).limit(limit)).all()
    frame = pd.DataFrame(
        [(r[0], r[1], r[2], r[3], r[4], r[5].value, json.loads(r[6])) for r in rows], columns=PREDICTION_COLUMNS
    )
    frame["label"] = frame["label"].astype("Int64")
    return frame, total


def count_bulk_accept(db: Database, run_id: int, f: PredictionFilter, min_confidence: float) -> int:
    g = PredictionFilter(f.predicted, f.human, "unlabelled", max(min_confidence, f.min_confidence),
                         f.max_confidence, f.search, f.split)
    with db.read() as session:
        return int(session.scalar(_filtered(run_id, g, [func.count()])) or 0)


def bulk_accept(db: Database, actor: Actor, run_id: int, f: PredictionFilter, min_confidence: float) -> int:
    """Accept the model's label for every *unlabelled* sentence in the filtered set above a confidence,
    recorded under the actor's name. Admins only: it labels many sentences without reading them."""
    require(actor, Permission.bulk_accept)
    g = PredictionFilter(f.predicted, f.human, "unlabelled", max(min_confidence, f.min_confidence),
                         f.max_confidence, f.search, f.split)
    with db.write() as session:
        run = _succeeded_run(session, run_id)
        rows = session.execute(_filtered(run_id, g, [Sentence.id, Prediction.label])).all()
        saved = write_labels(session, run.project_id, {sid: label for sid, label in rows}, actor.name,
                             AnnotationSource.bulk_accept)
        record(session, actor, AuditAction.bulk_accepted,
               f"{saved} sentences labelled as version {run.version} predicted, confidence at least "
               f"{g.min_confidence:.2f}", run.project_id)
        return saved


@dataclass(frozen=True)
class Evaluation:
    run_id: int
    version: int
    labels: list[int]
    metrics: dict
    trained_metrics: dict  # as measured when the run finished (labels at queue time)
    reliability: Reliability | None = None  # confidence against accuracy on the same test sentences


def _test_pairs(session, run_id: int) -> list[tuple[int, int, int, float]]:
    """(sentence id, current human label, predicted label, confidence) on the labelled test split."""
    return [
        tuple(r)
        for r in session.execute(
            select(Sentence.id, Sentence.label, Prediction.label, Prediction.confidence)
            .join(Prediction, Prediction.sentence_id == Sentence.id)
            .where(Prediction.run_id == run_id, Sentence.split == Split.test, Sentence.label.is_not(None))
        )
    ]


def evaluate_run(db: Database, run_id: int) -> Evaluation:
    """Metrics of a run's predictions against the *current* labels of the test split, so a fixed
    label shows at once; the metrics frozen at training time are returned beside them."""
    with db.read() as session:
        run = _succeeded_run(session, run_id)
        labels = [label.value for label in session.get(Project, run.project_id).labels]
        pairs = _test_pairs(session, run_id)
        version, trained = run.version, json.loads(run.metrics_json or "{}")
    metrics = compute_metrics([p[1] for p in pairs], [p[2] for p in pairs], labels)
    calibration = reliability([p[3] for p in pairs], [p[1] == p[2] for p in pairs])
    return Evaluation(run_id, version, labels, metrics, trained, calibration)


def cell_sentences(db: Database, run_id: int, true_label: int, predicted: int, viewer: str | None = None) -> pd.DataFrame:
    """The test sentences in one confusion-matrix cell (without the viewer's pending blind doubles)."""
    f = PredictionFilter(predicted=predicted, human=true_label, split="test", viewer=viewer)
    frame, _ = prediction_rows(db, run_id, f, sort="most sure first", limit=10_000)
    return frame


def misclassified(db: Database, run_id: int, limit: int = 500, viewer: str | None = None) -> pd.DataFrame:
    """Test sentences the model gets wrong, most confident mistakes first (often the label is wrong)."""
    f = PredictionFilter(agreement="disagrees", split="test", viewer=viewer)
    frame, _ = prediction_rows(db, run_id, f, sort="most sure first", limit=limit)
    return frame


# -- binary operating point -----------------------------------------------------------------------

def precision_recall_curve(y_true: list[int], p_positive: list[float]) -> pd.DataFrame:
    """Precision and recall of label 1 at every distinct threshold (predict 1 when p ≥ threshold)."""
    if not y_true:
        raise EvaluationUnavailable("No labelled test sentences: the operating point needs some.")
    positives = sum(y_true)
    rows = []
    for threshold in sorted(set(p_positive) | {0.5}):
        predicted = [int(p >= threshold) for p in p_positive]
        tp = sum(1 for t, p in zip(y_true, predicted) if t == 1 and p == 1)
        fp = sum(1 for t, p in zip(y_true, predicted) if t == 0 and p == 1)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / positives if positives else 0.0
        rows.append({"threshold": threshold, "precision": precision, "recall": recall})
    return pd.DataFrame(rows)


def threshold_for_recall(curve: pd.DataFrame, target_recall: float) -> float:
    """The highest threshold whose recall of label 1 still meets the target (best precision there)."""
    if not 0.0 < target_recall <= 1.0:
        raise InvalidInput("The recall target must be above 0 and at most 1.")
    meeting = curve[curve["recall"] >= target_recall]
    if meeting.empty:
        raise EvaluationUnavailable(f"No threshold reaches recall {target_recall:.2f} on the test split.")
    return float(meeting["threshold"].max())


def operating_curve(db: Database, run_id: int) -> pd.DataFrame:
    with db.read() as session:
        run = _succeeded_run(session, run_id)
        if len(session.get(Project, run.project_id).labels) != 2:
            raise EvaluationUnavailable("The operating point applies to two-label projects only.")
        rows = session.execute(
            select(Sentence.label, Prediction.probs_json)
            .join(Prediction, Prediction.sentence_id == Sentence.id)
            .where(Prediction.run_id == run_id, Sentence.split == Split.test, Sentence.label.is_not(None))
        ).all()
    return precision_recall_curve([r[0] for r in rows], [json.loads(r[1])[1] for r in rows])


def set_threshold(db: Database, actor: Actor, run_id: int, threshold: float | None) -> None:
    """Store the operating point on the model version and re-derive its stored predicted labels."""
    require(actor, Permission.set_threshold)
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise InvalidInput("The threshold must lie between 0 and 1.")
    p1 = json_number(Prediction.probs_json, 1)
    p0 = json_number(Prediction.probs_json, 0)
    with db.write() as session:
        run = _succeeded_run(session, run_id)
        if len(session.get(Project, run.project_id).labels) != 2:
            raise EvaluationUnavailable("The operating point applies to two-label projects only.")
        run.threshold = threshold
        cut = 0.5 if threshold is None else threshold
        is_one = p1 >= literal(cut) if threshold is not None else p1 > p0
        session.execute(
            update(Prediction)
            .where(Prediction.run_id == run_id)
            .values(label=case((is_one, 1), else_=0), confidence=case((is_one, p1), else_=p0))
        )
        record(session, actor, AuditAction.threshold_set,
               f"version {run.version}: {'argmax' if threshold is None else f'{threshold:.3f}'}", run.project_id)


# -- comparing two runs ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Comparison:
    a: Evaluation
    b: Evaluation
    deltas: dict[str, float]
    flipped: pd.DataFrame
    # Accuracy of B minus A on the test sentences both scored, with a paired bootstrap interval;
    # an interval holding 0 means this test split cannot tell the two versions apart.
    n_shared: int = 0
    shared_delta: float = 0.0
    shared_interval: Interval | None = None

    @property
    def tells_apart(self) -> bool:
        return self.shared_interval is not None and not self.shared_interval.contains(0.0)


def compare_runs(db: Database, run_a: int, run_b: int, viewer: str | None = None) -> Comparison:
    a, b = evaluate_run(db, run_a), evaluate_run(db, run_b)
    deltas = {"accuracy": b.metrics["accuracy"] - a.metrics["accuracy"]}
    for label in map(str, a.labels):
        for key in ("precision", "recall", "f1"):
            deltas[f"{key} {label}"] = b.metrics["per_label"][label][key] - a.metrics["per_label"][label][key]
    pa, pb = aliased(Prediction), aliased(Prediction)
    with db.read() as session:
        rows = session.execute(
            select(Sentence.id, Sentence.text, pa.label, pa.confidence, pb.label, pb.confidence, Sentence.label,
                   Sentence.split)
            .join(pa, and_(pa.sentence_id == Sentence.id, pa.run_id == run_a))
            .join(pb, and_(pb.sentence_id == Sentence.id, pb.run_id == run_b))
            .where(pa.label != pb.label, *([~pending_for(viewer)] if viewer is not None else []))
            .order_by(Sentence.doc_id, Sentence.position)
        ).all()
    flipped = pd.DataFrame(
        [(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7].value) for r in rows],
        columns=["id", "text", "predicted_a", "confidence_a", "predicted_b", "confidence_b", "label", "split"],
    )
    flipped["label"] = flipped["label"].astype("Int64")
    with db.read() as session:
        shared = session.execute(
            select(Sentence.label, pa.label, pb.label)
            .join(pa, and_(pa.sentence_id == Sentence.id, pa.run_id == run_a))
            .join(pb, and_(pb.sentence_id == Sentence.id, pb.run_id == run_b))
            .where(Sentence.split == Split.test, Sentence.label.is_not(None))
        ).all()
    delta, interval = accuracy_difference([r[0] for r in shared], [r[1] for r in shared], [r[2] for r in shared])
    return Comparison(a, b, deltas, flipped, len(shared), delta, interval)
