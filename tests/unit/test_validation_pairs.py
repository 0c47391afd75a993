"""The card's Validation Loss is computed on a bounded sample of test pairs, drawn with the run's seed."""
from __future__ import annotations

import pytest

pytest.importorskip("setfit")

from setfit.sampler import ContrastiveDataset  # noqa: E402

from core.setfit_adapter import validation_pairs  # noqa: E402

TEXTS = [f"test sentence {i}" for i in range(300)]
LABELS = [i % 2 for i in range(300)]


def _pairs(dataset) -> list[tuple[str, str, float]]:
    return list(zip(dataset["sentence_1"], dataset["sentence_2"], dataset["label"]))


def test_300_test_sentences_give_64_pairs_half_of_them_same_label():
    pairs = _pairs(validation_pairs(TEXTS, LABELS, 64, seed=42))
    assert len(pairs) == 64 and len(set(pairs)) == 64
    assert [label for _, _, label in pairs].count(1.0) == 32


def test_setfits_own_builder_would_repeat_the_capped_pairs_to_3000():
    # Why the adapter builds them itself: eval_max_steps caps the distinct pairs, num_iterations the count.
    setfit_pairs = ContrastiveDataset(TEXTS, LABELS, None, num_iterations=5, max_pairs=64)
    assert len(setfit_pairs) == 3000 and len({tuple(p.values()) for p in setfit_pairs}) == 64


def test_the_same_seed_draws_the_same_pairs_and_another_seed_others():
    assert _pairs(validation_pairs(TEXTS, LABELS, 64, seed=42)) == _pairs(validation_pairs(TEXTS, LABELS, 64, seed=42))
    assert set(_pairs(validation_pairs(TEXTS, LABELS, 64, seed=7))) != set(_pairs(validation_pairs(TEXTS, LABELS, 64, seed=42)))


def test_a_small_test_split_gives_all_its_distinct_pairs():
    texts, labels = ["a1", "a2", "a3", "b1", "b2", "b3"], [0, 0, 0, 1, 1, 1]
    pairs = _pairs(validation_pairs(texts, labels, 64, seed=42))
    assert len(pairs) == 21  # 6 sentences: 21 pairs counting each with itself, 12 same-label and 9 not
    assert [label for _, _, label in pairs].count(1.0) == 12
