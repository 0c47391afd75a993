"""Metrics from labels and predictions: pure functions, no model and no database."""
from __future__ import annotations

from collections.abc import Sequence

from core.errors import EvaluationUnavailable


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[int]) -> list[list[int]]:
    """Rows are true labels, columns predicted labels, both in `labels` order."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(y_true, y_pred):
        if t in index and p in index:
            matrix[index[t]][index[p]] += 1
    return matrix


def compute_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[int]) -> dict:
    """Accuracy, per-label precision/recall/F1/support and the confusion matrix.

    A label never predicted gets precision 0 (not NaN) so tables stay readable; an empty test set
    is an error with a message, not a division by zero.
    """
    if len(y_true) != len(y_pred):
        raise ValueError("y_true and y_pred differ in length")
    if not y_true:
        raise EvaluationUnavailable(
            "The test split has no labelled sentences, so there is nothing to measure. "
            "Label some sentences of the test split (the Table page can filter by split)."
        )
    matrix = confusion_matrix(y_true, y_pred, labels)
    per_label = {}
    for i, label in enumerate(labels):
        tp = matrix[i][i]
        predicted = sum(row[i] for row in matrix)
        support = sum(matrix[i])
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[str(label)] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    correct = sum(int(t == p) for t, p in zip(y_true, y_pred))
    return {
        "accuracy": correct / len(y_true),
        "n_test": len(y_true),
        "labels": list(labels),
        "per_label": per_label,
        "confusion": matrix,
    }
