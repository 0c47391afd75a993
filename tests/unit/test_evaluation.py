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


def test_wilson_interval_by_hand():
    from core.evaluation import wilson_interval

    # p = 0.7, n = 10, z = 1.96: centre (0.7 + z²/20) / (1 + z²/10), half-width
    # z * sqrt(0.7 * 0.3 / 10 + z² / 400) / (1 + z²/10).
    z = 1.959963984540054
    centre = (0.7 + z * z / 20) / (1 + z * z / 10)
    half = z * (0.7 * 0.3 / 10 + z * z / 400) ** 0.5 / (1 + z * z / 10)
    interval = wilson_interval(7, 10)
    assert (interval.low, interval.high) == (pytest.approx(centre - half), pytest.approx(centre + half))
    assert wilson_interval(0, 0) is None
    assert wilson_interval(14, 14).high == pytest.approx(1.0) and wilson_interval(14, 14).low < 0.8  # n = 14: wide


def test_metrics_carry_intervals_around_their_values():
    m = compute_metrics([0, 0, 0, 1, 1] * 4, [0, 1, 0, 1, 0] * 4, [0, 1])
    low, high = m["intervals"]["accuracy"]
    assert low < m["accuracy"] < high
    for label in ("0", "1"):
        for key in ("precision", "recall", "f1"):
            low, high = m["intervals"]["per_label"][label][key]
            assert low <= m["per_label"][label][key] <= high
    never = compute_metrics([0, 1, 1], [0, 0, 0], [0, 1])
    assert never["intervals"]["per_label"]["1"]["precision"] is None  # nothing predicted: no interval


def test_the_vectorised_bootstrap_f1_is_scikit_learns():
    import numpy as np
    from sklearn.metrics import f1_score

    from core.evaluation import _f1_of

    rng = np.random.default_rng(1)
    t, p = rng.integers(0, 3, 30), rng.integers(0, 3, 30)
    idx = rng.integers(0, 30, (40, 30))
    ours = _f1_of(2)(t[idx], p[idx])
    theirs = [f1_score(t[i], p[i], labels=[2], average=None, zero_division=0)[0] for i in idx]
    assert np.allclose(ours, theirs)


def test_a_difference_between_versions_says_when_the_split_cannot_tell_them_apart():
    from core.evaluation import accuracy_difference

    truth = [0, 1] * 10
    a = list(truth)
    a[0] = 1  # A gets 19 of 20
    b = list(truth)
    b[1] = 0
    b[2] = 1  # B gets 18 of 20
    delta, interval = accuracy_difference(truth, a, b)
    assert delta == pytest.approx(-0.05) and interval.contains(0.0)  # 20 sentences cannot tell
    much_better = [0] * 200
    delta, interval = accuracy_difference([0] * 200, [1] * 100 + [0] * 100, much_better)
    assert delta == pytest.approx(0.5) and not interval.contains(0.0)


def test_reliability_and_expected_calibration_error_by_hand():
    from core.evaluation import reliability

    # bin 0.6-0.7: 4 sentences at 0.65, 2 right (accuracy 0.5); bin 0.9-1.0: 6 at 0.95, all right.
    result = reliability([0.65] * 4 + [0.95] * 6, [True, True, False, False] + [True] * 6)
    assert [(round(c, 2), round(a, 2), n) for c, a, n in result.bins] == [(0.65, 0.5, 4), (0.95, 1.0, 6)]
    assert result.ece == pytest.approx(0.4 * 0.15 + 0.6 * 0.05)
    assert result.mean_confidence_wrong == pytest.approx(0.65)
    assert result.mean_confidence_right == pytest.approx((0.65 * 2 + 0.95 * 6) / 8)
    assert reliability([], []) is None
