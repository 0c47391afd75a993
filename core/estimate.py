"""Estimate on the stream: precision, recall and prevalence of the active version on a random sample.

Why: the test split holds whichever sentences moderators chose to label, and once they label from
"Most useful first" it is full of hard and rare cases, so its accuracy says little about the posts the
model will see. Label Sleuth estimates precision on a fresh random sample of the latest model's positive
predictions for the same reason (`label_sleuth/app.py: get_elements_for_precision_evaluation`,
`orchestrator_api.py: estimate_precision`): cross-validation on actively chosen labels is biased.
This module extends that to every label, to recall and prevalence, by stratifying on the prediction.

The sample (`request_estimate`):

* **Stream**: the sentences the active version scored that no moderator chose to label: no label, or
  only a label accepted in bulk from a model (not a person's reading), or drawn by an earlier sample.
* **Strata**: the version's predicted label at its threshold, so that a rarely predicted label still
  gets enough sentences to measure its precision (Cochran, *Sampling Techniques*, 1977, ch. 5).
* **Size per stratum**: the smallest n whose Wilson interval at p = 0.5 is at most the target
  half-width (0.1: 93 sentences), capped at 100 and at the stratum's size.
* **Selection**: permanent random numbers (Ohlsson, "Sequential Poisson sampling", 1998; the
  coordination of samples in official statistics): each sentence has a seeded uniform key and a
  stratum's sample is its n smallest keys. That is a simple random sample within the stratum, and the
  samples of two versions overlap as far as their strata allow, so a new version reuses the labels
  given for the last one and asks only for the sentences its strata lack.
* **Order of the batch**: strata interleaved by rank, so any prefix of the batch is a random sample of
  every stratum (an estimate from half a batch is still unbiased, only wider).

Labels given to sampled sentences go to the test split (core/labeling.py asks `sampled_among`), so no
later version trains on them and its own estimate stays honest.

The estimate (`estimate`, `stream_figures`), for stratum h of size N_h (N = sum N_h) whose labelled
sample holds a share s_hj of label j (Horvitz & Thompson 1952; stratified estimation, Cochran 5.3):

* prevalence_j = sum_h N_h / N * s_hj
* precision_j  = s_jj (the stratum the version calls j is exactly its predicted positives), with a
  Wilson interval (core.evaluation.wilson_interval, SciPy)
* recall_j     = N_j s_jj / sum_h N_h s_hj

Intervals of the reweighted figures (prevalence, recall) are percentiles of draws from each stratum's
Dirichlet posterior of label shares (`scipy.stats.dirichlet`, prior 1/J per label: Jeffreys' for two
labels, Perks' beyond), pushed through the formulas above. Measured before choosing it, on the
simulated stream of tests/integration/test_estimate_simulation.py (2,000 sentences, 10% positives,
80% of them found, 5% false alarms, 300 draws): the within-stratum percentile bootstrap
(`scipy.stats.bootstrap`, unpaired samples) covered prevalence 0.89 and recall 0.78 of the time, BCa
0.87 / 0.77, because the "predicted other" stratum holds 2 positives in 93; the posterior draws
covered 0.985 / 0.99, and 0.94-0.98 at 30% and 50% prevalence and with 3 and 5 labels.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy.stats import dirichlet
from sqlalchemy import String, and_, delete, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from core.audit import record
from core.errors import EvaluationUnavailable, InvalidInput, NotFound
from core.evaluation import CONFIDENCE, Interval, wilson_interval
from core.permissions import Actor, Permission, require
from db.engine import Database
from db.models import (
    Annotation,
    AnnotationSource,
    AuditAction,
    EstimateSample,
    Prediction,
    Project,
    Sentence,
    TrainingRun,
)

DEFAULT_HALF_WIDTH = 0.1
MAX_PER_STRATUM = 100
POSTERIOR_DRAWS = 20_000  # Monte Carlo error of a 95% bound within 0.01 (tests/unit/test_estimate.py)


# -- which sentences count as labelled by a person ---------------------------------------------------

def _latest_source():
    return type_coerce(
        select(Annotation.source).where(Annotation.sentence_id == Sentence.id)
        .order_by(Annotation.id.desc()).limit(1).correlate(Sentence).scalar_subquery(), String)


def human_labelled():
    """A WHERE clause on Sentence: it has a label a person gave. A label accepted in bulk is the model's
    own answer; counted as a sampled sentence's true label it would flatter the very model it measures."""
    return and_(Sentence.label.is_not(None),
                func.coalesce(_latest_source(), "") != AnnotationSource.bulk_accept.value)


def _latest_request(project_id: int):
    """SELECT the run of the project's latest estimate request (no row without one)."""
    return (select(EstimateSample.run_id).where(EstimateSample.project_id == project_id)
            .order_by(EstimateSample.created_at.desc(), EstimateSample.run_id.desc()).limit(1))


def _latest_request_run(project_id: int):
    return _latest_request(project_id).scalar_subquery()


def pending_batch(project_id: int):
    """A WHERE clause on Sentence: in the latest estimate batch of the project, not labelled by a person yet."""
    batch = select(EstimateSample.sentence_id).where(EstimateSample.run_id == _latest_request_run(project_id))
    return and_(Sentence.id.in_(batch), ~human_labelled())


def batch_position(project_id: int):
    """An ORDER BY expression on Sentence: its place in the latest batch (strata interleaved, random within)."""
    return (select(EstimateSample.position)
            .where(EstimateSample.run_id == _latest_request_run(project_id), EstimateSample.sentence_id == Sentence.id)
            .correlate(Sentence).scalar_subquery())


def sampled_among(session: Session, sentence_ids: Iterable[int]) -> set[int]:
    """Those of `sentence_ids` that any estimate has drawn: their labels belong in the test split."""
    ids = [int(i) for i in sentence_ids]
    if not ids:
        return set()
    return set(session.scalars(select(EstimateSample.sentence_id).where(EstimateSample.sentence_id.in_(ids))))


# -- drawing the sample ---------------------------------------------------------------------------

def sample_size_for(target_half_width: float, cap: int = MAX_PER_STRATUM) -> int:
    """The smallest n (at most `cap`) whose 95% Wilson interval at p = 0.5 has at most the target
    half-width: 0.1 gives 93, 0.05 gives the cap. Raises InvalidInput outside 0 < target < 0.5."""
    if not 0.0 < target_half_width < 0.5:
        raise InvalidInput("The target half-width must lie between 0 and 0.5 (0.1 means ±0.1).")
    for n in range(1, cap + 1):
        interval = wilson_interval(n // 2, n)
        if (interval.high - interval.low) / 2 <= target_half_width:
            return n
    return cap


def permanent_random_numbers(sentence_ids: Sequence[int], seed: int) -> np.ndarray:
    """One uniform number in [0, 1) per sentence id, fixed by (seed, id) alone: the same sentence gets
    the same number in every request with this seed, whatever else the stream holds. Shape (len(ids),)."""
    return np.array([int.from_bytes(hashlib.blake2b(f"{seed}:{int(i)}".encode(), digest_size=8).digest(), "big")
                     for i in sentence_ids], dtype=np.float64) / 2.0 ** 64


@dataclass(frozen=True)
class Draw:
    sentence_id: int
    stratum: int
    stratum_size: int
    position: int


def draw_stratified(sentence_ids: Sequence[int], predicted: Sequence[int], per_stratum: int, seed: int) -> list[Draw]:
    """A simple random sample of min(per_stratum, N_h) sentences from each predicted-label stratum h
    (the smallest permanent random numbers), in batch order: by rank within the stratum relative to
    its sample size, so the strata interleave. Both sequences have one entry per stream sentence."""
    ids = np.asarray(sentence_ids, dtype=np.int64)
    strata = np.asarray(predicted, dtype=np.int64)
    keys = permanent_random_numbers(ids, seed)
    picks: list[tuple[float, int, float, int, int]] = []
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        members = members[np.argsort(keys[members], kind="stable")]
        n = min(per_stratum, len(members))
        for rank, index in enumerate(members[:n]):
            picks.append(((rank + 0.5) / n, int(stratum), float(keys[index]), int(ids[index]), len(members)))
    picks.sort()
    return [Draw(sentence_id, stratum, size, position)
            for position, (_, stratum, _, sentence_id, size) in enumerate(picks)]


@dataclass(frozen=True)
class EstimateRequest:
    run_id: int
    version: int
    per_stratum: int  # the size asked of each stratum (fewer where a stratum is smaller)
    sampled: int  # sentences in the sample
    reused: int  # of which already labelled by a person (an earlier estimate's labels that still fit)
    to_label: int  # of which the batch asks the moderators to label
    strata: dict[int, tuple[int, int]]  # predicted label -> (sentences in the stream, sampled)


def request_estimate(db: Database, actor: Actor, project_id: int, target_half_width: float = DEFAULT_HALF_WIDTH,
                     seed: int = 0) -> EstimateRequest:
    """Draw (or draw again) the stratified sample of the project's active version and store it as the
    evaluation batch. Asking again for the same version replaces its sample; keep `seed` to keep the
    labels already given (a new seed draws other sentences).

    Raises PermissionDenied (admins only), NotFound (no such project), InvalidInput (target),
    EvaluationUnavailable (no active version, still scoring, or nothing unlabelled to sample).
    """
    require(actor, Permission.request_estimate)
    per_stratum = sample_size_for(target_half_width)
    with db.write() as session:
        project = session.get(Project, project_id)
        if project is None:
            raise NotFound(f"No project {project_id}.")
        run = session.get(TrainingRun, project.active_run_id) if project.active_run_id else None
        if run is None:
            raise EvaluationUnavailable("No model version is active yet: train one on the Train page, "
                                        "then ask for an estimate of it.")
        if run.scored < run.score_total:
            raise EvaluationUnavailable(f"Version {run.version} is still scoring sentences ({run.scored:,} of "
                                        f"{run.score_total:,}); ask for an estimate when it has finished.")
        drawn_before = select(EstimateSample.sentence_id).where(EstimateSample.project_id == project_id)
        stream = session.execute(
            select(Sentence.id, Prediction.label)
            .join(Prediction, and_(Prediction.sentence_id == Sentence.id, Prediction.run_id == run.id))
            .where(Sentence.project_id == project_id, or_(~human_labelled(), Sentence.id.in_(drawn_before)))
            .order_by(Sentence.id)
        ).all()
        if not stream:
            raise EvaluationUnavailable(f"Every sentence version {run.version} scored has a label already: "
                                        "there is no unlabelled stream left to sample. Import more sentences.")
        draws = draw_stratified([r[0] for r in stream], [r[1] for r in stream], per_stratum, seed)
        session.execute(delete(EstimateSample).where(EstimateSample.run_id == run.id))
        session.flush()
        session.add_all(EstimateSample(run_id=run.id, sentence_id=d.sentence_id, project_id=project_id,
                                       stratum=d.stratum, stratum_size=d.stratum_size, position=d.position)
                        for d in draws)
        drawn = [d.sentence_id for d in draws]
        reused = 0
        for start in range(0, len(drawn), 500):  # stay under the database's bound-parameter limit
            reused += int(session.scalar(select(func.count()).select_from(Sentence).where(
                Sentence.id.in_(drawn[start:start + 500]), human_labelled())) or 0)
        strata: dict[int, tuple[int, int]] = {}
        for d in draws:
            size, n = strata.get(d.stratum, (d.stratum_size, 0))
            strata[d.stratum] = (size, n + 1)
        record(session, actor, AuditAction.estimate_requested,
               f"version {run.version}: {len(draws)} sentences in {len(strata)} strata, {reused} already labelled, "
               f"target ±{target_half_width:.2f}, seed {seed}", project_id)
        return EstimateRequest(run.id, run.version, per_stratum, len(draws), reused, len(draws) - reused,
                               dict(sorted(strata.items())))


# -- the estimate ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class StratumSample:
    """The sentences the version gave one predicted label: how many in the stream, how many drawn, and
    the labels people have given to those drawn so far."""

    predicted: int
    size: int
    sampled: int
    labels: tuple[int, ...]


@dataclass(frozen=True)
class LabelFigures:
    """One label's estimates on the stream; a figure is None until the sample can say it (see `why`)."""

    label: int
    prevalence: float | None
    prevalence_interval: Interval | None
    precision: float | None
    precision_interval: Interval | None
    recall: float | None
    recall_interval: Interval | None
    predicted: int  # sentences of the stream the version gives this label
    sampled: int  # of which drawn
    labelled: int  # of which labelled by a person so far
    why: str = ""  # why a figure is missing


def _interval(draws: np.ndarray, point: float) -> Interval:
    tail = (1.0 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    # The prior keeps draws off exact 0 and 1; an interval always holds its own estimate.
    return Interval(float(min(low, point)), float(max(high, point)))


def stream_figures(labels: Sequence[int], strata: Sequence[StratumSample], seed: int = 0,
                   draws: int = POSTERIOR_DRAWS) -> tuple[LabelFigures, ...]:
    """Per label (in `labels` order): prevalence, precision and recall on the stream with 95% intervals,
    from a stratified sample (module docstring: formulas and sources). Prevalence and recall need a
    label from every non-empty stratum; precision of label j needs one from stratum j. Pure: no database.
    Raises InvalidInput for a stratum of a label outside `labels`."""
    labels = [int(v) for v in labels]
    column = {value: j for j, value in enumerate(labels)}
    strata = [s for s in strata if s.size > 0]
    if any(s.predicted not in column for s in strata):
        raise InvalidInput("A stratum's predicted label is not one of the project's labels.")
    total = sum(s.size for s in strata)
    counts = np.array([[sum(1 for y in s.labels if y == value) for value in labels] for s in strata], dtype=float)
    n = counts.sum(axis=1)  # labelled per stratum, shape (K,)
    weights = np.array([s.size for s in strata], dtype=float) / max(total, 1)  # (K,)
    row = {s.predicted: k for k, s in enumerate(strata)}
    complete = len(strata) > 0 and bool(np.all(n > 0))
    prevalence = recall_draws = prevalence_draws = None
    if complete:
        shares = counts / n[:, None]  # (K, J)
        prevalence = weights @ shares  # (J,)
        rng = np.random.default_rng(seed)
        posterior = np.stack([dirichlet.rvs(c + 1.0 / len(labels), size=draws, random_state=rng) for c in counts],
                             axis=1)  # (draws, K, J)
        prevalence_draws = np.einsum("k,dkj->dj", weights, posterior)  # (draws, J)
        recall_draws = np.zeros_like(prevalence_draws)
        for value, k in row.items():
            j = column[value]
            recall_draws[:, j] = weights[k] * posterior[:, k, j] / prevalence_draws[:, j]
    figures = []
    for value in labels:
        j = column[value]
        k = row.get(value)
        stratum = strata[k] if k is not None else None
        labelled = int(n[k]) if k is not None else 0
        hits = int(counts[k, j]) if k is not None else 0
        precision = hits / labelled if labelled else None
        why = ""
        prev = prev_iv = rec = rec_iv = None
        if complete:
            prev = float(prevalence[j])
            prev_iv = _interval(prevalence_draws[:, j], prev)
            if prev > 0:
                rec = float(weights[k] * counts[k, j] / n[k] / prev) if k is not None else 0.0
                rec_iv = _interval(recall_draws[:, j], rec)
            else:
                why = "no sampled sentence has this label yet, so its recall is unknown"
        else:
            why = "recall and prevalence wait for a label in every predicted label's sample"
        if stratum is None:
            why = "the version gives this label to no sentence of the stream"
        figures.append(LabelFigures(
            label=value, prevalence=prev, prevalence_interval=prev_iv, precision=precision,
            precision_interval=wilson_interval(hits, labelled), recall=rec, recall_interval=rec_iv,
            predicted=stratum.size if stratum else 0, sampled=stratum.sampled if stratum else 0,
            labelled=labelled, why=why))
    return tuple(figures)


@dataclass(frozen=True)
class StreamEstimate:
    project_id: int
    run_id: int
    version: int
    threshold: float | None  # the version's stored threshold (None: argmax) its strata were drawn at
    requested_at: datetime
    stream_size: int  # sentences the sample was drawn from (nobody had chosen to label them)
    project_size: int  # all sentences of the project
    requested: int  # sentences in the batch
    labelled: int  # of which labelled by a person
    per_label: tuple[LabelFigures, ...]
    stale: bool  # another version is active, or this version's threshold moved since the draw
    stale_reason: str

    @property
    def to_go(self) -> int:
        return self.requested - self.labelled


def estimate(db: Database, project_id: int, seed: int = 0) -> StreamEstimate | None:
    """The estimate from the project's latest sample (None before any was asked for), with the labels
    people have given its sentences so far. Raises nothing for a half-labelled batch: figures it cannot
    give yet are None with a reason."""
    with db.read() as session:
        run_id = session.scalar(_latest_request(project_id))
        if run_id is None:
            return None
        project = session.get(Project, project_id)
        run = session.get(TrainingRun, run_id)
        labels = [label.value for label in project.labels]
        rows = session.execute(
            select(EstimateSample.stratum, EstimateSample.stratum_size, EstimateSample.created_at,
                   Sentence.label, human_labelled(), Prediction.label)
            .join(Sentence, Sentence.id == EstimateSample.sentence_id)
            .outerjoin(Prediction, and_(Prediction.run_id == run_id, Prediction.sentence_id == Sentence.id))
            .where(EstimateSample.run_id == run_id)
        ).all()
        project_size = int(session.scalar(select(func.count()).select_from(Sentence)
                                          .where(Sentence.project_id == project_id)) or 0)
        active = session.get(TrainingRun, project.active_run_id) if project.active_run_id else None
    sizes: dict[int, int] = {}
    sampled: dict[int, int] = {}
    given: dict[int, list[int]] = {}
    moved = False
    for stratum, size, _, label, by_person, predicted_now in rows:
        sizes[stratum] = size
        sampled[stratum] = sampled.get(stratum, 0) + 1
        if by_person:
            given.setdefault(stratum, []).append(label)
        moved = moved or (predicted_now is not None and predicted_now != stratum)
    strata = [StratumSample(h, sizes[h], sampled[h], tuple(given.get(h, ()))) for h in sorted(sizes)]
    if active is None:
        reason = f"No version is active now; this estimate is of version {run.version}."
    elif active.id != run.id:
        reason = (f"Version {active.version} is active now; this estimate is of version {run.version}. "
                  "Ask for a new estimate: labels given so far are reused where they still fit.")
    elif moved:
        reason = (f"Version {run.version}'s threshold changed since this sample was drawn; ask for a new "
                  "estimate to measure it at the new threshold.")
    else:
        reason = ""
    return StreamEstimate(
        project_id=project_id, run_id=run.id, version=run.version, threshold=run.threshold,
        requested_at=min(r[2] for r in rows), stream_size=sum(sizes.values()), project_size=project_size,
        requested=len(rows), labelled=sum(len(v) for v in given.values()),
        per_label=stream_figures(labels, strata, seed), stale=bool(reason), stale_reason=reason)


@dataclass(frozen=True)
class BatchProgress:
    run_id: int
    version: int
    requested: int
    labelled: int
    is_active_version: bool

    @property
    def to_go(self) -> int:
        return self.requested - self.labelled


def batch_progress(db: Database, project_id: int) -> BatchProgress | None:
    """How far the latest evaluation batch is labelled; None when no estimate was asked for."""
    with db.read() as session:
        run_id = session.scalar(_latest_request(project_id))
        if run_id is None:
            return None
        requested = int(session.scalar(select(func.count()).select_from(EstimateSample)
                                       .where(EstimateSample.run_id == run_id)) or 0)
        labelled = int(session.scalar(
            select(func.count()).select_from(EstimateSample).join(Sentence, Sentence.id == EstimateSample.sentence_id)
            .where(EstimateSample.run_id == run_id, human_labelled())) or 0)
        version = session.scalar(select(TrainingRun.version).where(TrainingRun.id == run_id))
        active = session.scalar(select(Project.active_run_id).where(Project.id == project_id))
    return BatchProgress(run_id, int(version), requested, labelled, active == run_id)
