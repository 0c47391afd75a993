"""Ranking and suspicion logic on constructed probabilities and embeddings."""
from __future__ import annotations

import numpy as np
import pytest

from core.active import contradicting_pairs, margins, out_of_fold_probs, random_order, rank_useful, suspect_labels
from core.errors import InvalidInput

NAMES = ["other", "violence"]


def _unit(v):
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_uncertainty_order_least_margin_first():
    probs = np.array([[0.9, 0.1], [0.52, 0.48], [0.7, 0.3], [0.45, 0.55]])
    assert margins(probs).round(2).tolist() == [0.8, 0.04, 0.4, 0.1]
    picks = rank_useful([10, 11, 12, 13], probs, None, NAMES, random_share=0.0)
    assert [p.sentence_id for p in picks] == [11, 13, 12, 10]
    assert picks[0].reason == "model unsure: other 0.52 vs violence 0.48"


def test_near_duplicates_are_not_served_in_a_row():
    probs = np.array([[0.5, 0.5], [0.51, 0.49], [0.52, 0.48], [0.6, 0.4]])
    emb = _unit([[1, 0, 0], [1, 0.01, 0], [1, 0.02, 0], [0, 1, 0]])  # first three near-identical
    picks = [p.sentence_id for p in rank_useful([0, 1, 2, 3], probs, emb, NAMES, random_share=0.0, window=1)]
    assert picks[:2] == [0, 3]  # the duplicate 1 waits until something different was served
    assert sorted(picks) == [0, 1, 2, 3]


def test_random_share_fills_every_nth_slot_and_covers_everything():
    rng = np.random.default_rng(1)
    p1 = rng.random(100)
    probs = np.stack([1 - p1, p1], axis=1)
    picks = rank_useful(list(range(100)), probs, None, NAMES, random_share=0.1, seed=3)
    assert sorted(p.sentence_id for p in picks) == list(range(100))
    random_slots = [i for i, p in enumerate(picks) if p.reason.startswith("random")]
    assert random_slots == list(range(9, 100, 10))
    again = rank_useful(list(range(100)), probs, None, NAMES, random_share=0.1, seed=3)
    assert picks == again  # seeded: stable across reruns


def test_bad_inputs_are_refused():
    with pytest.raises(InvalidInput):
        rank_useful([1, 2], np.array([[0.5, 0.5]]), None, NAMES)
    with pytest.raises(InvalidInput):
        rank_useful([1], np.array([[0.5, 0.5]]), None, NAMES, random_share=1.0)


def test_out_of_fold_suspicion_finds_flipped_labels():
    rng = np.random.default_rng(0)
    centers = np.array([[3.0, 0, 0, 0], [0, 3.0, 0, 0]])
    truth = np.array([0] * 40 + [1] * 40)
    emb = centers[truth] + rng.normal(0, 0.6, (80, 4))
    given = truth.copy()
    flipped = [3, 17, 45, 70]
    given[flipped] = 1 - given[flipped]
    oof = out_of_fold_probs(emb, given, 2, folds=5)
    suspects = suspect_labels(oof, given)
    found = [s.index for s in suspects]
    assert set(flipped) <= set(found[:8])
    assert all(s.suggested == truth[s.index] for s in suspects if s.index in flipped)


def test_suspects_in_well_separated_clusters_are_exactly_the_flipped_labels_most_sure_first():
    rng = np.random.default_rng(1)
    centers = np.array([[4.0, 0, 0, 0], [0, 4.0, 0, 0], [0, 0, 4.0, 0]])
    truth = np.repeat([0, 1, 2], 30)
    emb = centers[truth] + rng.normal(0, 0.3, (90, 4))
    given = truth.copy()
    flipped = {5: 1, 33: 2, 61: 0, 62: 1}
    for i, label in flipped.items():
        given[i] = label
    suspects = suspect_labels(out_of_fold_probs(emb, given, 3), given)
    assert sorted(s.index for s in suspects) == sorted(flipped)
    assert all((s.given, s.suggested) == (given[s.index], truth[s.index]) for s in suspects)
    scores = [s.score for s in suspects]
    assert scores == sorted(scores, reverse=True) and all(0.5 < x <= 1.0 for x in scores)


def test_suspects_rank_by_the_probability_of_the_given_label():
    oof = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.05, 0.95], [0.7, 0.3], [0.1, 0.9]])
    given = np.array([0, 0, 0, 0, 1, 1])
    suspects = suspect_labels(oof, given)
    assert [s.index for s in suspects] == [3, 2, 4, 1]  # p(given) 0.05, 0.2, 0.3, 0.4; rows 0 and 5 agree
    assert [round(s.score, 2) for s in suspects] == [0.95, 0.8, 0.7, 0.6]
    assert suspect_labels(np.zeros((0, 2)), np.array([], dtype=int)) == []


def test_suspects_need_one_row_per_label():
    with pytest.raises(InvalidInput):
        suspect_labels(np.array([[0.5, 0.5]]), np.array([0, 1]))


def test_contradicting_pairs_are_near_duplicates_with_different_labels_most_similar_first():
    emb = _unit([[1, 0, 0], [1, 0.05, 0], [0, 1, 0], [0, 1, 0.2], [0, 0, 1], [0.02, 0, 1]])
    labels = np.array([0, 1, 0, 1, 1, 1])
    pairs = contradicting_pairs(emb, labels, 0.9)
    assert [(p.first, p.second) for p in pairs] == [(0, 1), (2, 3)]  # 4 and 5 agree: no contradiction
    assert pairs[0].similarity == pytest.approx(1 / np.sqrt(1.0025))
    assert pairs[1].similarity == pytest.approx(1 / np.sqrt(1.04))


def test_contradicting_pairs_threshold_is_inclusive_and_chunks_agree():
    emb = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])  # cosines: 0.6, 0.0 and 0.8, exact in binary
    labels = np.array([0, 1, 2])
    assert [(p.first, p.second) for p in contradicting_pairs(emb, labels, 0.8)] == [(1, 2)]
    assert [(p.first, p.second) for p in contradicting_pairs(emb, labels, 0.6)] == [(1, 2), (0, 1)]
    assert contradicting_pairs(emb, labels, 0.8000001) == []
    assert contradicting_pairs(emb, labels, 0.6, chunk=1) == contradicting_pairs(emb, labels, 0.6)
    with pytest.raises(InvalidInput):
        contradicting_pairs(emb, labels, 1.5)


def test_out_of_fold_needs_two_labels():
    with pytest.raises(InvalidInput):
        out_of_fold_probs(np.zeros((4, 2)), np.array([0, 0, 0, 0]), 2)


def test_max_steps_caps_one_pass_over_the_pairs():
    from core.params import FAST_PRESET, SEED_PRESET

    pytest.importorskip("setfit")
    from core.setfit_adapter import effective_max_steps

    assert effective_max_steps(SEED_PRESET, 78) == -1  # the seed card trains its full epoch (488 steps)
    assert effective_max_steps(FAST_PRESET, 78) == 88  # 780 pairs / 8 = 98 steps, capped at 88
    assert effective_max_steps(FAST_PRESET, 30) == 38  # the demo project: one pass, 300 pairs / 8


def test_clusters_spread_picks_over_kinds_of_sentences():
    rng = np.random.default_rng(0)
    a = _unit(rng.normal([5, 0, 0], 0.3, (20, 3)))
    b = _unit(rng.normal([0, 5, 0], 0.3, (20, 3)))
    emb = np.vstack([a, b])
    # Every sentence of kind A is less certain than any of kind B: margin order alone serves only A first.
    p1 = np.concatenate([np.linspace(0.50, 0.60, 20), np.linspace(0.80, 0.95, 20)])
    probs = np.stack([1 - p1, p1], axis=1)
    plain = [p.sentence_id for p in rank_useful(list(range(40)), probs, None, NAMES, random_share=0.0)]
    assert all(i < 20 for i in plain[:20])
    spread = [p.sentence_id for p in rank_useful(list(range(40)), probs, emb, NAMES, random_share=0.0, clusters=2)]
    assert {i < 20 for i in spread[:2]} == {True, False}  # one of each kind in the first two
    assert spread[0] == 0 and sorted(spread) == list(range(40))


def test_label_counts_send_uncertain_slots_to_the_label_with_fewer_labels():
    # Predicted "other" sentences are all less certain than predicted "violence" ones, so the plain
    # ranking serves only "other" first; with 10 "other" labels and 2 "violence" labels already given,
    # the queue serves the least sure predicted-violence sentences until the counts even out.
    p_violence = np.array([0.49, 0.48, 0.47, 0.46, 0.45, 0.60, 0.65, 0.70, 0.75, 0.80])
    probs = np.stack([1 - p_violence, p_violence], axis=1)
    ids = list(range(10))
    plain = [p.sentence_id for p in rank_useful(ids, probs, None, NAMES, random_share=0.0)]
    assert plain[:5] == [0, 1, 2, 3, 4]
    picks = rank_useful(ids, probs, None, NAMES, random_share=0.0, labelled_counts=[10, 0])
    assert [p.sentence_id for p in picks[:5]] == [5, 6, 7, 8, 9]  # every predicted-violence sentence first
    assert picks[0].reason == "model unsure: violence 0.60 vs other 0.40; few violence labels so far"
    assert sorted(p.sentence_id for p in picks) == ids


def test_uncertainty_only_serves_a_skewed_label_set():
    # Least-sure sentences taught SetFit less than random ones on a balanced pool (bench_active.py),
    # so an uncertain pick only goes to the scarce label while the labels are skewed (min < 0.5 * max),
    # counting the labels given plus each queued pick by its expected label.
    p_violence = np.random.default_rng(2).random(60)
    probs = np.stack([1 - p_violence, p_violence], axis=1)
    picks = rank_useful(list(range(60)), probs, None, NAMES, random_share=0.0, labelled_counts=[20, 20], seed=1)
    assert [p.reason for p in picks] == ["random (no label is scarce)"] * 60
    assert sorted(p.sentence_id for p in picks) == list(range(60))
    assert picks == rank_useful(list(range(60)), probs, None, NAMES, random_share=0.0, labelled_counts=[20, 20], seed=1)
    # [10, 2] is skewed (below 0.5 * 10 = 5), so "violence" is chased until it would have 0.8 of "other",
    # each chase pick counting as the model's probabilities: here 0.6 "violence", 0.4 "other", so after
    # k picks 2 + 0.6k >= 0.8 * (10 + 0.4k) from k = 22. Equal margins: in queue (index) order.
    p_violence = np.where(np.arange(60) % 2 == 0, 0.6, 0.2)
    probs = np.stack([1 - p_violence, p_violence], axis=1)
    skew = rank_useful(list(range(60)), probs, None, NAMES, random_share=0.0, labelled_counts=[10, 2])
    assert [p.sentence_id for p in skew[:22]] == list(range(0, 44, 2))
    assert all(p.reason.endswith("few violence labels so far") for p in skew[:22])
    assert [p.reason for p in skew[22:]] == ["random (no label is scarce)"] * 38


def test_queued_picks_count_by_expected_label_not_by_an_early_models_predictions():
    # A model trained on a few labels that calls every sentence "other" at 0.95 would, counted by its
    # predictions, make [10, 10] look skewed after three random picks and pull uncertain sentences in.
    # A random pick counts as the labels given so far are shared: the queue stays random.
    probs = np.tile([0.95, 0.05], (40, 1))
    picks = rank_useful(list(range(40)), probs, None, NAMES, random_share=0.0, labelled_counts=[10, 10])
    assert [p.reason for p in picks] == ["random (no label is scarce)"] * 40


def test_a_scarce_label_the_model_never_predicts_gets_its_likeliest_sentences():
    # A head trained on a skewed label set may call nothing the scarce label: the queue then serves
    # the sentences likeliest to be it, not a random sample.
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.95, 0.05]])
    picks = rank_useful([0, 1, 2, 3], probs, None, NAMES, random_share=0.0, labelled_counts=[10, 1])
    assert [p.sentence_id for p in picks] == [2, 1, 0, 3]
    assert picks[0].reason == "likeliest violence left (0.30); few violence labels so far"


def test_bad_label_counts_are_refused():
    probs = np.array([[0.5, 0.5]])
    with pytest.raises(InvalidInput):
        rank_useful([0], probs, None, NAMES, labelled_counts=[4])
    with pytest.raises(InvalidInput):
        rank_useful([0], probs, None, NAMES, labelled_counts=[4, 4], balanced_ratio=0.0)
    with pytest.raises(InvalidInput):
        rank_useful([0], probs, None, NAMES, labelled_counts=[4, 4], balanced_ratio=0.9, chase_to=0.8)



def test_a_label_short_of_half_is_chased_and_one_at_half_is_not():
    # 16 random picks from a balanced pool leave one label below 0.8 of the other about 45 times in 100,
    # and chasing it with the least sure sentences taught SetFit less than random picks (bench_active.py);
    # below half, as a rare label is, the queue chases it, on to 0.8.
    p_violence = np.where(np.arange(40) % 2 == 0, 0.6, 0.2)
    probs = np.stack([1 - p_violence, p_violence], axis=1)
    at_half = rank_useful(list(range(40)), probs, None, NAMES, random_share=0.0, labelled_counts=[10, 5])
    assert [p.reason for p in at_half] == ["random (no label is scarce)"] * 40
    # [10, 4]: 4 + 0.6k >= 0.8 * (10 + 0.4k) from k = 15 picks (each counted 0.6 / 0.4, not 1 / 0).
    short = rank_useful(list(range(40)), probs, None, NAMES, random_share=0.0, labelled_counts=[10, 4])
    assert all(p.reason.endswith("few violence labels so far") for p in short[:15])
    assert [p.reason for p in short[15:]] == ["random (no label is scarce)"] * 25
    # chase_to = balanced_ratio: chased only up to half, 4 + 0.6k >= 0.5 * (10 + 0.4k) from k = 3.
    halfway = rank_useful(list(range(40)), probs, None, NAMES, random_share=0.0, labelled_counts=[10, 4], chase_to=0.5)
    assert all(p.reason.endswith("few violence labels so far") for p in halfway[:3])
    assert [p.reason for p in halfway[3:]] == ["random (no label is scarce)"] * 37


def test_random_picks_follow_random_order_so_a_benchmark_can_pair_its_draws():
    # bench_active.py's random strategy takes random_order's first picks; while the labels are balanced
    # the queue must take exactly the same ones, the honesty slots included.
    p_violence = np.random.default_rng(6).random(50)
    probs = np.stack([1 - p_violence, p_violence], axis=1)
    ids = [100 + i for i in range(50)]
    picks = rank_useful(ids, probs, None, NAMES, labelled_counts=[8, 8], seed=11)
    assert [p.sentence_id for p in picks] == [ids[i] for i in random_order(50, 11)]
    assert random_order(50, 11) != random_order(50, 12)
    assert sorted(random_order(50, 11)) == list(range(50))
