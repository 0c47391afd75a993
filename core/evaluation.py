"""Metrics from labels and predictions, with 95% intervals: pure functions, no model and no database.

Point estimates are scikit-learn's (`confusion_matrix`, `precision_recall_fscore_support`,
`accuracy_score`). Intervals: Wilson score intervals for proportions (accuracy, precision, recall;
SciPy's `binomtest(...).proportion_ci(method="wilson")`, Wilson 1927), and a percentile bootstrap over
sentences for F1 and for the difference between two versions on the same sentences (SciPy's
`bootstrap`, paired, 1,000 resamples, seeded, Efron & Tibshirani 1993). The web process imports this
module: scikit-learn and SciPy, never torch.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest, bootstrap
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from core.errors import EvaluationUnavailable

CONFIDENCE = 0.95
RESAMPLES = 1000


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return f"[{self.low:.2f}, {self.high:.2f}]"


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE) -> Interval | None:
    """The Wilson score interval of a proportion successes / trials (SciPy); None when trials is 0."""
    if trials <= 0:
        return None
    ci = binomtest(int(successes), int(trials)).proportion_ci(confidence_level=confidence, method="wilson")
    return Interval(float(ci.low), float(ci.high))


def _f1_of(label: int):
    """F1 of one label as a statistic over the last axis of (y_true, y_pred) arrays, as scikit-learn
    defines it (0 where the label is neither given nor predicted); vectorised for the bootstrap."""
    def statistic(y_true: np.ndarray, y_pred: np.ndarray, axis: int = -1) -> np.ndarray:
        tp = ((y_true == label) & (y_pred == label)).sum(axis=axis)
        fp = ((y_true != label) & (y_pred == label)).sum(axis=axis)
        fn = ((y_true == label) & (y_pred != label)).sum(axis=axis)
        denominator = 2 * tp + fp + fn
        return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)
    return statistic


def _bootstrap(data: tuple[np.ndarray, ...], statistic, seed: int) -> Interval | None:
    if len(data[0]) < 2:
        return None
    result = bootstrap(data, statistic, paired=True, vectorized=True, n_resamples=RESAMPLES,
                       confidence_level=CONFIDENCE, method="percentile", random_state=seed)
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if np.isnan(low) or np.isnan(high):
        return None
    return Interval(low, high)


def f1_interval(y_true: Sequence[int], y_pred: Sequence[int], label: int, seed: int = 0) -> Interval | None:
    """95% percentile-bootstrap interval of one label's F1, resampling sentences; None under 2 sentences."""
    return _bootstrap((np.asarray(y_true), np.asarray(y_pred)), _f1_of(label), seed)


def accuracy_difference(y_true: Sequence[int], pred_a: Sequence[int], pred_b: Sequence[int],
                        seed: int = 0) -> tuple[float, Interval | None]:
    """Accuracy of B minus accuracy of A on the same sentences, with a paired bootstrap interval.
    An interval that holds 0 means this test split cannot tell the two versions apart."""
    t, a, b = np.asarray(y_true), np.asarray(pred_a), np.asarray(pred_b)
    if len(t) == 0:
        return 0.0, None

    def statistic(t: np.ndarray, a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return (b == t).mean(axis=axis) - (a == t).mean(axis=axis)

    return float(statistic(t, a, b)), _bootstrap((t, a, b), statistic, seed)


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[int]) -> list[list[int]]:
    """Rows are true labels, columns predicted labels, both in `labels` order (scikit-learn)."""
    if not len(y_true):
        return [[0] * len(labels) for _ in labels]
    return sk_confusion_matrix(list(y_true), list(y_pred), labels=list(labels)).tolist()


def compute_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[int], seed: int = 0) -> dict:
    """Accuracy, per-label precision/recall/F1/support and the confusion matrix, with 95% intervals
    under "intervals": {"accuracy": [low, high], "per_label": {"<label>": {"precision"|"recall"|"f1": [low, high] or None}}}.

    A label never predicted gets precision 0 (not NaN) so tables stay readable (its interval is None:
    nothing was predicted); an empty test set is an error with a message, not a division by zero.
    """
    if len(y_true) != len(y_pred):
        raise ValueError("y_true and y_pred differ in length")
    if not len(y_true):
        raise EvaluationUnavailable(
            "The test split has no labelled sentences, so there is nothing to measure. "
            "Label some sentences of the test split (the Table page can filter by split)."
        )
    labels = list(labels)
    matrix = confusion_matrix(y_true, y_pred, labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        list(y_true), list(y_pred), labels=labels, zero_division=0)
    per_label, intervals = {}, {}
    for i, label in enumerate(labels):
        tp, predicted, given = matrix[i][i], sum(row[i] for row in matrix), sum(matrix[i])
        per_label[str(label)] = {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                                 "support": int(support[i])}
        intervals[str(label)] = {
            "precision": _pair(wilson_interval(tp, predicted)),
            "recall": _pair(wilson_interval(tp, given)),
            "f1": _pair(f1_interval(y_true, y_pred, label, seed)),
        }
    correct = sum(matrix[i][i] for i in range(len(labels)))
    return {
        "accuracy": float(accuracy_score(list(y_true), list(y_pred))),
        "n_test": len(y_true),
        "labels": labels,
        "per_label": per_label,
        "confusion": matrix,
        "intervals": {"accuracy": _pair(wilson_interval(correct, len(y_true))), "per_label": intervals},
    }


def _pair(interval: Interval | None) -> list[float] | None:
    return None if interval is None else [interval.low, interval.high]


@dataclass(frozen=True)
class Reliability:
    """How far confidence means what it says, on the test split: per confidence bin, the mean
    confidence, the share right and the number of sentences; and the expected calibration error
    (Naeini et al. 2015; Guo et al. 2017): the bins' |accuracy - confidence|, weighted by their size."""

    bins: tuple[tuple[float, float, int], ...]  # (mean confidence, accuracy, sentences), non-empty bins only
    ece: float
    mean_confidence_right: float | None
    mean_confidence_wrong: float | None


def reliability(confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> Reliability | None:
    """Reliability diagram data from each test sentence's top-label confidence and whether the top label
    was right (bins from scikit-learn's `calibration_curve`, equal width on [0, 1]); None without sentences."""
    from sklearn.calibration import calibration_curve

    conf = np.asarray(confidences, dtype=float)
    right = np.asarray(correct, dtype=bool)
    if conf.size == 0:
        return None
    accuracy, mean_conf = calibration_curve(right.astype(int), conf, n_bins=n_bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    counts = np.bincount(np.clip(np.searchsorted(edges[1:-1], conf), 0, n_bins - 1), minlength=n_bins)
    counts = counts[counts > 0]  # calibration_curve bins the same way (searchsorted, left) and drops empty bins
    ece = float(np.sum(counts / conf.size * np.abs(accuracy - mean_conf)))
    return Reliability(
        bins=tuple((float(c), float(a), int(n)) for c, a, n in zip(mean_conf, accuracy, counts)),
        ece=ece,
        mean_confidence_right=float(conf[right].mean()) if right.any() else None,
        mean_confidence_wrong=float(conf[~right].mean()) if (~right).any() else None,
    )
