"""Which sentence to label next, and which labels look wrong: small interchangeable pure functions.

Inputs are plain arrays (probabilities, L2-normalized embeddings); nothing here touches a model or the
database, so the ranking is tested on constructed numbers and reused by the worker and benchmarks.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.classifier import align_proba, head_classes
from core.errors import InvalidInput


@dataclass(frozen=True)
class Pick:
    sentence_id: int
    reason: str


def margins(probs: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability: 0 = the model cannot decide, 1 = certain."""
    if probs.shape[1] < 2:
        raise InvalidInput("Uncertainty needs at least two labels.")
    top = np.sort(probs, axis=1)
    return top[:, -1] - top[:, -2]


def _unsure_reason(p: np.ndarray, names: Sequence[str]) -> str:
    order = np.argsort(-p)
    a, b = order[0], order[1]
    return f"model unsure: {names[a]} {p[a]:.2f} vs {names[b]} {p[b]:.2f}"


def random_order(n: int, seed: int) -> list[int]:
    """The order in which random picks are taken from n sentences: a permutation of range(n), seeded.
    rank_useful's random slots follow it, and bench/bench_active.py's random strategy too, so that in a
    benchmark both draw the same sentences and their curves differ only where the queue chose otherwise."""
    return [int(i) for i in np.random.default_rng(seed).permutation(n)]


def rank_useful(
    ids: Sequence[int],
    probs: np.ndarray,
    embeddings: np.ndarray | None,
    names: Sequence[str],
    *,
    random_share: float = 0.1,
    similarity_cutoff: float = 0.9,
    window: int = 10,
    seed: int = 0,
    clusters: int = 0,
    labelled_counts: Sequence[int] | None = None,
    balanced_ratio: float = 0.5,
    chase_to: float = 0.8,
) -> list[Pick]:
    """Most useful first: least-margin first, never a near-duplicate (cosine above the cutoff) of one
    of the last `window` picks, and every 1/random_share-th slot a uniformly random sentence so the
    sample stays honest. Returns every id exactly once.

    With `labelled_counts` (labels already given, per label; the app always passes them), uncertainty
    serves the label set's balance: when the labels given have one label below `balanced_ratio` times
    the most common one (default: half), slots take the least sure sentences the model predicts as
    that scarce label (or, when none is left, the ones likeliest to be it) until it would have
    `chase_to` of them (default 0.8); otherwise a slot takes a random sentence, in `random_order`.
    "Would have" counts the picks queued before a slot: a chase pick by the model's probabilities for
    it; a random pick as the labels given so far are shared, so it leaves the balance as it was. Whether
    a chase starts depends on the labels moderators gave alone: counting random picks by an early
    model's predictions, a 16-label model that calls most sentences one label made a balanced pool look
    skewed after a few picks.

    Why, as measured on SST-2 (bench/bench_active.py): on a pool where the label a team looks for is
    rare, this labels about twice as many of it and needs a fraction of random picking's labels. On a
    balanced pool, the least sure sentences taught the model less than random ones (ambiguous
    sentences make poor SetFit pairs), and so did chasing a label that was short of 0.8 of the other:
    16 random picks from a balanced pool fall below 0.8 after 8 + 8 labels about 45 times in 100, and
    the least sure sentences the model called the scarce label were about half the other label (on one
    seed, chasing "negative" added 11 positives of 16). Below half happens about once in 240, so a
    balanced pool gets random picks. On the rare pool, a chase that counted each pick as wholly the
    scarce label stopped after a few picks, the next batch was random and left the label below half
    again, and accuracy dipped every other round (3 seeds: 0.545 at 64 labels, below 48's 0.633).
    Returns every id exactly once, as (id, reason) in queue order.
    Raises InvalidInput for rows that do not match, a random_share outside [0, 1), label counts of the
    wrong length, or ratios outside 0 < balanced_ratio <= chase_to <= 1."""
    n = len(ids)
    if probs.shape[0] != n or (embeddings is not None and embeddings.shape[0] != n):
        raise InvalidInput("ids, probabilities and embeddings must have one row per sentence.")
    if not 0.0 <= random_share < 1.0:
        raise InvalidInput("random_share must be at least 0 and below 1.")
    if labelled_counts is not None and len(labelled_counts) != probs.shape[1]:
        raise InvalidInput("labelled_counts needs one count per label.")
    if not 0.0 < balanced_ratio <= chase_to <= 1.0:
        raise InvalidInput("balanced_ratio must be above 0 and at most chase_to, and chase_to at most 1.")
    if n == 0:
        return []
    by_margin = list(np.argsort(margins(probs), kind="stable"))
    if embeddings is not None and clusters and n > clusters:
        by_margin = _round_robin_over_clusters(by_margin, embeddings, clusters, seed)
    predicted = probs.argmax(axis=1)
    # Without label counts, one queue: least margin first. With them, one queue per label: the
    # sentences the model calls that label, least sure first, then all others, likeliest of that
    # label first (a model trained on a skewed label set may call nothing the scarce label).
    queues: dict[int, list[int]] = {-1: by_margin}
    if labelled_counts is not None:
        queues = {}
        for c in range(probs.shape[1]):
            others = np.flatnonzero(predicted != c)
            queues[c] = [i for i in by_margin if predicted[i] == c] + list(others[np.argsort(-probs[others, c], kind="stable")])
    positions = {}
    for key, queue in queues.items():
        positions[key] = np.empty(n, dtype=int)
        positions[key][queue] = np.arange(n)
    cursors = dict.fromkeys(queues, 0)
    counts = np.array(labelled_counts if labelled_counts is not None else [0] * probs.shape[1], dtype=float)
    random_picks = random_order(n, seed)[::-1]  # popped from the end: first pick first
    every = int(round(1 / random_share)) if random_share > 0 else 0
    chasing = False
    taken = np.zeros(n, dtype=bool)
    picks: list[Pick] = []
    recent: list[int] = []
    deferred: list[int] = []

    def take(i: int, reason: str, expected: np.ndarray) -> None:
        taken[i] = True
        picks.append(Pick(int(ids[i]), reason))
        counts[:] += expected  # in place: counts is the enclosing function's
        recent.append(i)
        del recent[:-window]

    relaxed: set[int] = set()

    def next_from(key: int) -> int | None:
        """The queue's next sentence that is not a near-duplicate of a recent pick. Once only such
        near-duplicates remain, they are served in queue order without the rule (sorted once: a
        queue holds every sentence, so what is left then is exactly the deferred ones)."""
        while True:
            queue = queues[key]
            while cursors[key] < len(queue):
                i = queue[cursors[key]]
                cursors[key] += 1
                if taken[i]:
                    continue
                if (key not in relaxed and embeddings is not None and recent
                        and float(np.max(embeddings[recent] @ embeddings[i])) > similarity_cutoff):
                    deferred.append(i)
                    continue
                return i
            if key in relaxed:
                return None
            relaxed.add(key)
            queues[key] = sorted({i for i in deferred if not taken[i]}, key=positions[key].__getitem__)
            cursors[key] = 0

    def take_random(reason: str) -> None:
        while taken[random_picks[-1]]:
            random_picks.pop()
        # A random pick is expected to follow the labels given so far: it leaves the balance as it is.
        total = counts.sum()
        take(random_picks.pop(), reason, counts / total if total else np.zeros_like(counts))

    while len(picks) < n:
        if every and (len(picks) + 1) % every == 0:
            take_random("random (keeps the sample honest)")
            continue
        key = -1
        if labelled_counts is not None:
            key = int(np.argmin(counts))
            # A label below balanced_ratio of another starts a chase, which goes on until it would have
            # chase_to of it. The tolerance: random picks keep the ratio, but in floating point only to
            # the last bit.
            chasing = counts[key] < (chase_to if chasing else balanced_ratio) * counts.max() - 1e-9
            if not chasing:
                take_random("random (no label is scarce)")
                continue
        chosen = next_from(key)
        if chosen is None:
            break  # every sentence is served
        if key < 0:
            reason = _unsure_reason(probs[chosen], names)
        elif predicted[chosen] == key:
            reason = f"{_unsure_reason(probs[chosen], names)}; few {names[key]} labels so far"
        else:
            reason = f"likeliest {names[key]} left ({probs[chosen, key]:.2f}); few {names[key]} labels so far"
        # A chase pick counts as the model's probabilities for it: the least sure sentences are about
        # half the other label, and counted as wholly the scarce label a chase stopped after a few
        # picks; the next batch, random, left a rare label below half again (bench_active.py).
        take(chosen, reason, probs[chosen].astype(float) if key >= 0 else np.zeros_like(counts))
    return picks


def _round_robin_over_clusters(order: list[int], embeddings: np.ndarray, clusters: int, seed: int) -> list[int]:
    """Spread picks over the pool: k-means on the embeddings, then the least-margin sentence of each
    cluster in turn, so a batch covers the kinds of sentences there are instead of one ambiguous kind."""
    from sklearn.cluster import KMeans

    assignment = KMeans(n_clusters=clusters, n_init=3, random_state=seed).fit_predict(embeddings)
    queues: dict[int, list[int]] = {}
    for i in order:
        queues.setdefault(int(assignment[i]), []).append(i)
    cluster_order = sorted(queues, key=lambda c: order.index(queues[c][0]))
    merged: list[int] = []
    depth = 0
    while len(merged) < len(order):
        for c in cluster_order:
            if depth < len(queues[c]):
                merged.append(queues[c][depth])
        depth += 1
    return merged


def out_of_fold_probs(embeddings: np.ndarray, labels: np.ndarray, n_classes: int, folds: int = 5, seed: int = 0,
                      c: float = 1.0) -> np.ndarray:
    """Each labelled sentence's probabilities from a logistic head (inverse regularization `c`) that
    never saw it (k-fold). C from 0.1 to 100 ranked suspects within noise of each other on
    bench/bench_suspects.py, so the head keeps scikit-learn's default."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(labels, minlength=n_classes)
    k = int(min(folds, counts[counts > 0].min())) if (counts > 0).sum() >= 2 else 0
    if k < 2:
        raise InvalidInput("Out-of-fold checks need at least two examples of at least two labels.")
    oof = np.zeros((len(labels), n_classes))
    for train, held in StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(embeddings, labels):
        head = LogisticRegression(C=c, max_iter=1000)
        head.fit(embeddings[train], labels[train])
        oof[held] = align_proba(head.predict_proba(embeddings[held]), head_classes(head), n_classes)
    return oof


@dataclass(frozen=True)
class SuspectLabel:
    index: int
    given: int
    suggested: int
    score: float  # 1 - out-of-fold probability of the given label: higher = more likely wrong


def suspect_labels(oof: np.ndarray, given: np.ndarray) -> list[SuspectLabel]:
    """Labels that look wrong, most likely wrong first: cleanlab's `find_label_issues` on out-of-fold
    probabilities, ranked by self-confidence (the probability of the given label, lowest first).

    It flags every label the out-of-fold head would not give (filter_by="predicted_neq_given"): on
    fine-tuned embeddings cleanlab's default filter (prune_by_noise_rate) estimated so few errors that
    it flagged 15 of 200 labels and found a third of the flipped ones, where this finds over half with
    the same precision in the top 20 (bench/bench_suspects.py)."""
    from cleanlab.filter import find_label_issues

    if oof.shape[0] != len(given):
        raise InvalidInput("Suspects need one row of probabilities per given label.")
    if len(given) == 0:
        return []
    ranked = find_label_issues(np.asarray(given, dtype=int), oof, filter_by="predicted_neq_given",
                               return_indices_ranked_by="self_confidence", n_jobs=1)
    return [SuspectLabel(int(i), int(given[i]), int(oof[i].argmax()), float(1.0 - oof[i, given[i]])) for i in ranked]


@dataclass(frozen=True)
class ContradictingPair:
    first: int  # row index, first < second
    second: int
    similarity: float  # cosine of the two embeddings


def contradicting_pairs(embeddings: np.ndarray, labels: np.ndarray, threshold: float,
                        chunk: int = 2048) -> list[ContradictingPair]:
    """Near-duplicates with different labels: every pair of rows whose L2-normalized embeddings have a
    cosine of at least `threshold` and whose labels differ, most similar first. Compared `chunk` rows
    at a time, so thousands of labels never build the whole similarity matrix."""
    n = len(labels)
    if embeddings.shape[0] != n:
        raise InvalidInput("Pairs need one embedding per label.")
    if not -1.0 <= threshold <= 1.0:
        raise InvalidInput("A cosine threshold lies between -1 and 1.")
    labels = np.asarray(labels)
    pairs: list[ContradictingPair] = []
    for start in range(0, n, chunk):
        block = embeddings[start:start + chunk] @ embeddings.T
        rows, cols = np.nonzero(block >= threshold)
        for r, c in zip(rows, cols):
            i = start + int(r)
            if i < c and labels[i] != labels[c]:
                pairs.append(ContradictingPair(i, int(c), float(block[r, c])))
    return sorted(pairs, key=lambda p: (-p.similarity, p.first, p.second))
