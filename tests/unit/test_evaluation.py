"""Metrics, confusion matrices and threshold selection against hand-computed expectations."""
from __future__ import annotations

import pytest

from core.errors import EvaluationUnavailable, InvalidInput
from core.evaluation import compute_metrics, confusion_matrix
from core.review import precision_recall_curve, threshold_for_recall


def test_confusion_matrix_rows_true_columns_predicted():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 1, 0, 1, 0, 2]
    assert confusion_matrix(y_true, y_pred, [0, 1, 2]) == [[2, 1, 0], [1, 1, 0], [0, 0, 1]]


def test_metrics_by_hand():
    # true 0 0 0 1 1 ; pred 0 1 0 1 0 -> label 1: tp=1 fp=1 fn=1 ; label 0: tp=2 fp=1 fn=1
    m = compute_metrics([0, 0, 0, 1, 1], [0, 1, 0, 1, 0], [0, 1])
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["per_label"]["1"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert m["per_label"]["0"]["precision"] == pytest.approx(2 / 3)
    assert m["per_label"]["0"]["recall"] == pytest.approx(2 / 3)
    assert m["confusion"] == [[2, 1], [1, 1]]


def test_label_never_predicted_gets_zero_precision_not_nan():
    m = compute_metrics([0, 1, 1], [0, 0, 0], [0, 1])
    assert m["per_label"]["1"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert m["per_label"]["0"]["precision"] == pytest.approx(1 / 3)
    assert m["confusion"] == [[1, 0], [2, 0]]


def test_empty_test_split_is_a_clear_error():
    with pytest.raises(EvaluationUnavailable, match="test split has no labelled sentences"):
        compute_metrics([], [], [0, 1])


def test_threshold_for_recall_target_on_constructed_example():
    y_true = [1, 1, 1, 1, 0, 0, 0, 0]
    p1 = [0.95, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1]
    curve = precision_recall_curve(y_true, p1)
    row = curve[curve["threshold"] == 0.6].iloc[0]
    assert row["recall"] == pytest.approx(0.75) and row["precision"] == pytest.approx(3 / 4)
    # Recall 1.0 needs every positive above the cut: the lowest positive has p=0.3.
    assert threshold_for_recall(curve, 1.0) == pytest.approx(0.3)
    assert threshold_for_recall(curve, 0.75) == pytest.approx(0.6)
    assert threshold_for_recall(curve, 0.5) == pytest.approx(0.8)
    with pytest.raises(InvalidInput):
        threshold_for_recall(curve, 0.0)
