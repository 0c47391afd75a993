"""Cohen's kappa and Krippendorff's alpha against values computed by hand, and their intervals."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from core.agreement import (
    alpha_estimate,
    cohen_kappa,
    kappa_estimate,
    krippendorff_alpha,
    resampled_kappas,
)

# 10 sentences, two moderators: they agree on 8 (po 0.8); each used each label 5 times (pe 0.5).
A = [0, 0, 1, 1, 0, 1, 0, 0, 1, 1]
B = [0, 1, 1, 1, 0, 1, 0, 0, 0, 1]


def test_kappa_by_hand():
    assert cohen_kappa(A, B) == pytest.approx((0.8 - 0.5) / (1 - 0.5))  # 0.6


def test_alpha_by_hand_two_raters():
    # Coincidences: o00 = o11 = 8, o01 = o10 = 2, n = 20; Do = 4/20, De = 2*10*10/(20*19).
    assert krippendorff_alpha(np.array([A, B], dtype=float)) == pytest.approx(1 - (4 / 20) / (200 / 380))


def test_alpha_by_hand_three_raters_with_a_missing_label():
    nan = np.nan
    matrix = np.array([[0, 0, 1, 1], [0, 1, 1, 0], [0, nan, 1, 1]], dtype=float)
    # o00 = 3, o11 = 4, o01 = o10 = 2, n = 11: Do = 4/11, De = 2*5*6/(11*10) = 6/11, alpha = 1 - 2/3.
    assert krippendorff_alpha(matrix) == pytest.approx(1 / 3)


def test_undefined_values_say_so_instead_of_nan():
    assert cohen_kappa([1, 1, 1], [1, 1, 1]) is None
    assert kappa_estimate([], []).why == "no sentence labelled by both"
    assert kappa_estimate([1, 1], [1, 1]).why == "both used a single label throughout"
    assert krippendorff_alpha(np.array([[1.0, 1.0], [1.0, 1.0]])) is None
    assert str(kappa_estimate([1, 1], [1, 1])) == "—"


def test_the_vectorised_bootstrap_kappa_is_scikit_learns():
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 3, 40), rng.integers(0, 3, 40)
    indices = rng.integers(0, 40, (50, 40))
    ours = resampled_kappas(a, b, indices)
    theirs = [cohen_kappa_score(a[i], b[i]) for i in indices]
    assert np.allclose(ours, theirs)


def test_intervals_hold_the_estimate_are_seeded_and_narrow_with_more_sentences():
    small = kappa_estimate(A, B, seed=1)
    assert small.low <= small.value <= small.high
    assert kappa_estimate(A, B, seed=1) == small
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 400)
    noisy = np.where(rng.random(400) < 0.1, 1 - truth, truth)
    large = kappa_estimate(truth.tolist(), noisy.tolist())
    assert (large.high - large.low) < (small.high - small.low)
    alpha = alpha_estimate(np.array([truth, noisy], dtype=float))
    assert alpha.low <= alpha.value <= alpha.high and alpha.high - alpha.low < 0.15
