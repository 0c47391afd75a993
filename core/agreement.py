"""Inter-annotator agreement and per-moderator figures for a project.

Agreement is measured on the sentences at least two people labelled (the blind doubles of
core/assignments.py, or any sentence several people labelled): each person's latest label of each
sentence, undone labels and adjudications left out, bulk-accepted model labels too (not a person's
judgement).

* Cohen's kappa per pair of annotators, on the sentences both labelled: scikit-learn's
  `cohen_kappa_score` (Cohen 1960).
* Krippendorff's alpha for the whole project, any number of annotators, missing labels allowed,
  nominal level: the `krippendorff` package (Krippendorff 2011, "Computing Krippendorff's alpha-reliability").
* 95% intervals: percentile bootstrap over sentences (Efron & Tibshirani 1993), 1,000 resamples with a
  fixed seed, so the same labels always give the same interval. (Hayes & Krippendorff 2007 bootstrap
  alpha differently, over pairable values; resampling sentences is the common, simpler choice.)
"""
from __future__ import annotations

import math
import statistics
import warnings
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

import krippendorff
import numpy as np
from sklearn.metrics import cohen_kappa_score
from sqlalchemy import select

from core.permissions import Actor, Permission, require
from db.engine import Database
from db.models import Annotation, AnnotationSource, Sentence

BOOTSTRAP_RESAMPLES = 1000
BREAK_SECONDS = 600  # a gap longer than this between two labels is a break, not labelling time
# Judgements of a person; adjudications are scored separately, undo rows clear, bulk-accepts are the model's.
RATER_SOURCES = (AnnotationSource.ui, AnnotationSource.table, AnnotationSource.imported, AnnotationSource.review,
                 AnnotationSource.check, AnnotationSource.undo)


@dataclass(frozen=True)
class Estimate:
    """A statistic with its 95% bootstrap interval; value None where it is undefined (see `why`)."""

    value: float | None
    low: float | None = None
    high: float | None = None
    why: str = ""  # why value is None, in words

    def __str__(self) -> str:
        if self.value is None:
            return "—"
        if self.low is None or self.high is None:
            return f"{self.value:.2f}"
        return f"{self.value:.2f} [{self.low:.2f}, {self.high:.2f}]"


@dataclass(frozen=True)
class PairAgreement:
    a: str
    b: str
    n_items: int  # sentences both labelled
    n_agree: int
    kappa: Estimate

    @property
    def observed(self) -> float | None:
        return self.n_agree / self.n_items if self.n_items else None


@dataclass(frozen=True)
class ProjectAgreement:
    n_items: int  # sentences with labels from at least two annotators
    annotators: tuple[str, ...]
    alpha: Estimate
    pairs: tuple[PairAgreement, ...]
    n_disagree: int  # of those sentences, how many got different labels


@dataclass(frozen=True)
class ModeratorStats:
    annotator: str
    labels: int  # labelling acts that stand (not undone); adjudications not counted
    seconds_per_label: float | None  # median gap between consecutive labels, breaks left out
    unsure_share: float | None  # of the sentences whose latest label is theirs, marked "not sure"
    adjudicated: int  # of their labels, how many sentences an admin has adjudicated
    agree_with_adjudicated: float | None  # share of those where their label is the admin's decision


def cohen_kappa(a: list[int], b: list[int]) -> float | None:
    """Cohen's kappa of two equally long label lists (scikit-learn); None where it is undefined:
    both annotators used one and the same label throughout (expected agreement 1)."""
    if not a:
        return None
    if len(set(a) | set(b)) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = float(cohen_kappa_score(a, b))
    return None if math.isnan(value) else value


def krippendorff_alpha(matrix: np.ndarray) -> float | None:
    """Nominal Krippendorff's alpha of a (annotators x sentences) float matrix with NaN for missing labels
    (the `krippendorff` package); None where undefined (fewer than two distinct labels in all)."""
    values = matrix[~np.isnan(matrix)]
    if matrix.shape[1] == 0 or len(np.unique(values)) < 2:
        return None
    value = float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))
    return None if math.isnan(value) else value


def _bootstrap(n_items: int, statistic, seed: int, resamples: int) -> tuple[float | None, float | None]:
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        value = statistic(rng.integers(0, n_items, n_items))
        if value is not None:
            values.append(value)
    if len(values) < resamples // 2:  # mostly undefined: an interval would mislead
        return None, None
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def resampled_kappas(a: np.ndarray, b: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Cohen's kappa of each row of `indices` (resamples x n) into the label arrays a and b, all at once;
    NaN where undefined. The same formula as scikit-learn's (tests check they agree); a loop of 1,000
    `cohen_kappa_score` calls takes a second per pair."""
    xa, xb = a[indices], b[indices]
    observed = (xa == xb).mean(axis=1)
    expected = np.zeros(len(indices))
    for label in np.union1d(a, b):
        expected += (xa == label).mean(axis=1) * (xb == label).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(expected < 1.0, (observed - expected) / (1.0 - expected), np.nan)


def kappa_estimate(a: list[int], b: list[int], seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> Estimate:
    value = cohen_kappa(a, b)
    if value is None:
        why = "no sentence labelled by both" if not a else "both used a single label throughout"
        return Estimate(None, why=why)
    rng = np.random.default_rng(seed)
    kappas = resampled_kappas(np.asarray(a), np.asarray(b), rng.integers(0, len(a), (resamples, len(a))))
    kappas = kappas[~np.isnan(kappas)]
    if len(kappas) < resamples // 2:  # mostly undefined: an interval would mislead
        return Estimate(value)
    low, high = np.percentile(kappas, [2.5, 97.5])
    return Estimate(value, float(low), float(high))


def alpha_estimate(matrix: np.ndarray, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> Estimate:
    value = krippendorff_alpha(matrix)
    if value is None:
        why = "no sentence labelled by two people" if matrix.shape[1] == 0 else "a single label used throughout"
        return Estimate(None, why=why)
    low, high = _bootstrap(matrix.shape[1], lambda idx: krippendorff_alpha(matrix[:, idx]), seed, resamples)
    return Estimate(value, low, high)


def _latest_labels(session, project_id: int) -> dict[int, dict[str, tuple[int, bool]]]:
    """sentence id -> annotator -> (label, unsure): each annotator's latest judgement that stands.

    An undo row takes back the act it names (its own label is the sentence's previous one, perhaps a
    colleague's, so it is nobody's judgement); the annotator's earlier label, if any, stands again."""
    rows = session.execute(
        select(Annotation.id, Annotation.sentence_id, Annotation.annotator, Annotation.label, Annotation.unsure,
               Annotation.source, Annotation.reverts_id)
        .join(Sentence, Sentence.id == Annotation.sentence_id)
        .where(Sentence.project_id == project_id, Annotation.source.in_(RATER_SOURCES))
        .order_by(Annotation.id)
    ).all()
    acts: dict[tuple[int, str], list] = defaultdict(list)
    for r in rows:
        key = (r.sentence_id, r.annotator)
        if r.source == AnnotationSource.undo:
            acts[key] = [a for a in acts[key] if a.id != r.reverts_id]
        elif r.label is not None:
            acts[key].append(r)
    latest: dict[int, dict[str, tuple[int, bool]]] = defaultdict(dict)
    for (sid, annotator), stack in acts.items():
        if stack:
            latest[sid][annotator] = (int(stack[-1].label), bool(stack[-1].unsure))
    return dict(latest)


def project_agreement(db: Database, actor: Actor, project_id: int, seed: int = 0,
                      resamples: int = BOOTSTRAP_RESAMPLES) -> ProjectAgreement:
    """Krippendorff's alpha over everyone and Cohen's kappa per pair, with 95% bootstrap intervals.
    Raises PermissionDenied for a moderator (it names colleagues and their agreement)."""
    require(actor, Permission.read_team_stats)
    with db.read() as session:
        latest = _latest_labels(session, project_id)
    shared = {sid: by for sid, by in latest.items() if len(by) >= 2}
    annotators = tuple(sorted({a for by in shared.values() for a in by}))
    items = sorted(shared)
    matrix = np.full((len(annotators), len(items)), np.nan)
    for j, sid in enumerate(items):
        for a, (label, _) in shared[sid].items():
            matrix[annotators.index(a), j] = label
    pairs = []
    for a, b in combinations(annotators, 2):
        both = [sid for sid in items if a in shared[sid] and b in shared[sid]]
        if not both:
            continue
        la = [shared[sid][a][0] for sid in both]
        lb = [shared[sid][b][0] for sid in both]
        pairs.append(PairAgreement(a, b, len(both), sum(x == y for x, y in zip(la, lb)),
                                   kappa_estimate(la, lb, seed, resamples)))
    n_disagree = sum(1 for sid in items if len({label for label, _ in shared[sid].values()}) > 1)
    return ProjectAgreement(len(items), annotators, alpha_estimate(matrix, seed, resamples), tuple(pairs), n_disagree)


def moderator_stats(db: Database, actor: Actor, project_id: int) -> list[ModeratorStats]:
    """Per person who labelled in the project: labels, speed, "not sure" share, agreement with adjudications."""
    require(actor, Permission.read_team_stats)
    with db.read() as session:
        acts = session.execute(
            select(Annotation.id, Annotation.sentence_id, Annotation.annotator, Annotation.label, Annotation.source,
                   Annotation.reverts_id, Annotation.created_at)
            .join(Sentence, Sentence.id == Annotation.sentence_id)
            .where(Sentence.project_id == project_id)
            .order_by(Annotation.id)
        ).all()
        latest = _latest_labels(session, project_id)
    reverted = {r.reverts_id for r in acts if r.reverts_id is not None}
    adjudicated: dict[int, int] = {}
    for r in acts:
        if r.source == AnnotationSource.adjudication and r.label is not None:
            adjudicated[r.sentence_id] = int(r.label)
    times: dict[str, list] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for r in acts:
        if r.label is None or r.id in reverted or r.source not in (AnnotationSource.ui, AnnotationSource.table,
                                                                   AnnotationSource.review, AnnotationSource.check):
            continue
        counts[r.annotator] += 1
        times[r.annotator].append(r.created_at)
    stats = []
    for annotator in sorted(counts):
        stamps = sorted(times[annotator])
        gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:])]
        gaps = [g for g in gaps if 0 < g <= BREAK_SECONDS]
        own = {sid: by[annotator] for sid, by in latest.items() if annotator in by}
        unsure = [u for _, u in own.values()]
        judged = [sid for sid in own if sid in adjudicated]
        agree = sum(1 for sid in judged if own[sid][0] == adjudicated[sid])
        stats.append(ModeratorStats(
            annotator=annotator, labels=counts[annotator],
            seconds_per_label=statistics.median(gaps) if gaps else None,
            unsure_share=sum(unsure) / len(unsure) if unsure else None,
            adjudicated=len(judged), agree_with_adjudicated=agree / len(judged) if judged else None,
        ))
    return stats
