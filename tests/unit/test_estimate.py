"""The estimate on the stream without a database: sample sizes, the stratified draw, and the stratified
estimators against values worked out by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core.errors import InvalidInput
from core.estimate import StratumSample, draw_stratified, permanent_random_numbers, sample_size_for, stream_figures


def _wilson_by_hand(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson (1927), written out here only to check the library's interval against it."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_sample_size_is_the_smallest_n_whose_wilson_half_width_at_one_half_meets_the_target():
    assert sample_size_for(0.1) == 93
    low, high = _wilson_by_hand(46, 93)
    assert (high - low) / 2 <= 0.1
    low, high = _wilson_by_hand(46, 92)
    assert (high - low) / 2 > 0.1
    assert sample_size_for(0.2) == 21
    assert sample_size_for(0.05) == 100  # 385 would be needed: the cap
    with pytest.raises(InvalidInput, match="between 0 and 0.5"):
        sample_size_for(0.0)


def test_the_draw_takes_min_of_size_and_stratum_from_each_predicted_label_and_is_seeded():
    ids = list(range(1, 301))
    predicted = [1 if i % 10 == 0 else 0 for i in ids]  # 30 predicted 1, 270 predicted 0
    draws = draw_stratified(ids, predicted, per_stratum=21, seed=0)
    per_stratum = {h: [d for d in draws if d.stratum == h] for h in (0, 1)}
    assert {h: len(v) for h, v in per_stratum.items()} == {0: 21, 1: 21}
    assert {d.stratum_size for d in per_stratum[0]} == {270} and {d.stratum_size for d in per_stratum[1]} == {30}
    assert all(d.sentence_id % 10 == 0 for d in per_stratum[1])
    assert [d.position for d in draws] == list(range(42))
    # The same seed draws the same sentences; another seed others.
    assert draws == draw_stratified(ids, predicted, per_stratum=21, seed=0)
    other = {d.sentence_id for d in draw_stratified(ids, predicted, per_stratum=21, seed=1)}
    assert other != {d.sentence_id for d in draws}
    # A stratum smaller than the size is taken whole.
    small = draw_stratified(ids, predicted, per_stratum=50, seed=0)
    assert sum(d.stratum == 1 for d in small) == 30 and sum(d.stratum == 0 for d in small) == 50


def test_the_draw_takes_the_smallest_permanent_numbers_and_interleaves_the_strata():
    ids = list(range(1, 101))
    predicted = [int(i > 80) for i in ids]
    keys = dict(zip(ids, permanent_random_numbers(ids, 7)))
    draws = draw_stratified(ids, predicted, per_stratum=10, seed=7)
    expected_0 = sorted((i for i in ids if i <= 80), key=keys.get)[:10]
    assert sorted(d.sentence_id for d in draws if d.stratum == 0) == sorted(expected_0)
    # Any prefix of the batch holds both strata about equally: first ranks first.
    assert sorted(d.stratum for d in draws[:2]) == [0, 1]
    assert sum(d.stratum for d in draws[:10]) == 5


# A tiny stream worked by hand: 90 sentences predicted 0, of which 10 drawn (9 labelled 0, 1 labelled 1);
# 10 predicted 1, all drawn (6 labelled 1, 4 labelled 0).
#   prevalence(1) = 0.9 * 1/10 + 0.1 * 6/10 = 0.15; prevalence(0) = 0.85
#   precision(1) = 6/10; precision(0) = 9/10
#   recall(1) = 10 * 0.6 / (100 * 0.15) = 0.4; recall(0) = 90 * 0.9 / 85 = 81/85
TINY = [StratumSample(0, 90, 10, (0,) * 9 + (1,)), StratumSample(1, 10, 10, (1,) * 6 + (0,) * 4)]


def test_stratified_estimates_match_the_hand_computed_values():
    zero, one = stream_figures([0, 1], TINY)
    assert one.prevalence == pytest.approx(0.15) and zero.prevalence == pytest.approx(0.85)
    assert one.precision == pytest.approx(0.6) and zero.precision == pytest.approx(0.9)
    assert one.recall == pytest.approx(0.4) and zero.recall == pytest.approx(81 / 85)
    assert (one.predicted, one.sampled, one.labelled) == (10, 10, 10)
    assert (zero.predicted, zero.sampled, zero.labelled) == (90, 10, 10)
    low, high = _wilson_by_hand(6, 10)
    assert (one.precision_interval.low, one.precision_interval.high) == (pytest.approx(low), pytest.approx(high))
    low, high = _wilson_by_hand(9, 10)
    assert (zero.precision_interval.low, zero.precision_interval.high) == (pytest.approx(low), pytest.approx(high))


def test_reweighted_intervals_are_the_posterior_percentiles_of_the_same_formulas():
    """An independent Monte Carlo with numpy's Dirichlet (prior 1/2 per label) gives the same interval."""
    zero, one = stream_figures([0, 1], TINY, seed=3)
    rng = np.random.default_rng(11)
    s0 = rng.dirichlet([9.5, 1.5], size=200_000)
    s1 = rng.dirichlet([4.5, 6.5], size=200_000)
    prevalence = 0.9 * s0[:, 1] + 0.1 * s1[:, 1]
    recall = 0.1 * s1[:, 1] / prevalence
    for got, sample in ((one.prevalence_interval, prevalence), (one.recall_interval, recall)):
        low, high = np.percentile(sample, [2.5, 97.5])
        assert got.low == pytest.approx(low, abs=0.01) and got.high == pytest.approx(high, abs=0.01)
    assert stream_figures([0, 1], TINY, seed=3) == (zero, one)  # seeded


def test_figures_wait_for_a_label_in_every_stratum_and_say_why():
    half = [StratumSample(0, 90, 10, (0, 0, 1)), StratumSample(1, 10, 10, ())]
    zero, one = stream_figures([0, 1], half)
    assert zero.precision == pytest.approx(2 / 3) and one.precision is None and one.precision_interval is None
    assert zero.prevalence is None and one.recall is None
    assert one.why == "recall and prevalence wait for a label in every predicted label's sample"
    # A label the version never predicts: recall 0, no precision.
    never = stream_figures([0, 1, 2], [StratumSample(0, 50, 4, (0, 2, 0, 0)), StratumSample(1, 50, 4, (1, 1, 1, 0))])
    assert never[2].recall == 0.0 and never[2].precision is None and never[2].prevalence == pytest.approx(0.125)
    assert never[2].why == "the version gives this label to no sentence of the stream"
    # A label nobody has given: prevalence 0, recall unknown.
    assert never[2].predicted == 0
    unseen = stream_figures([0, 1], [StratumSample(0, 50, 2, (0, 0)), StratumSample(1, 5, 2, (0, 0))])[1]
    assert unseen.prevalence == 0.0 and unseen.recall is None and unseen.precision == 0.0
    assert unseen.why == "no sampled sentence has this label yet, so its recall is unknown"
