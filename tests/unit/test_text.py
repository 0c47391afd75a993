"""Text identity: what counts as the same sentence, which split it lands in, where sentences end."""
from __future__ import annotations

import random
import string

import pytest

from core.text import clean_text, normalize_text, shuffle_key, split_for_hash, split_sentences, text_hash


@pytest.mark.parametrize(
    "variant",
    [
        "He hit me.",
        "he hit me.",
        "HE HIT ME.",
        "  He   hit\tme.\n",
        "He\u00a0hit\u2003me.",  # no-break space, em space
        "Ｈｅ ｈｉｔ ｍｅ．",  # fullwidth forms fold under NFKC
    ],
)
def test_variants_of_one_sentence_share_a_hash(variant: str) -> None:
    assert normalize_text(variant) == "he hit me."
    assert text_hash(variant) == text_hash("He hit me.")


def test_composed_and_decomposed_accents_share_a_hash() -> None:
    composed = "Caf\u00e9 fight"
    decomposed = "Cafe\u0301 fight"
    assert composed != decomposed
    assert text_hash(composed) == text_hash(decomposed)


def test_different_sentences_have_different_hashes() -> None:
    assert text_hash("He hit me.") != text_hash("He hit me!")
    assert text_hash("He hit me.") != text_hash("She hit me.")


def test_clean_text_keeps_case_and_folds_whitespace() -> None:
    assert clean_text("  He   HIT\n me. ") == "He HIT me."


def test_split_is_a_function_of_the_sentence_alone() -> None:
    rng = random.Random(7)
    sentences = ["".join(rng.choices(string.ascii_letters + " ", k=30)) for _ in range(500)]
    alone = {s: split_for_hash(text_hash(s), 0.25) for s in sentences}
    # Imported again among other sentences, in another order, each keeps its split.
    mixed = sentences[::-1] + ["".join(rng.choices(string.ascii_letters, k=20)) for _ in range(500)]
    rng.shuffle(mixed)
    for s in mixed:
        if s in alone:
            assert split_for_hash(text_hash(s), 0.25) == alone[s]
    # And a whitespace/case variant is the same sentence, so the same split.
    for s in sentences[:50]:
        assert split_for_hash(text_hash(f"  {s.upper()}  "), 0.25) == alone[s]


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_test_share_over_many_sentences_is_near_the_fraction(fraction: float) -> None:
    rng = random.Random(11)
    sentences = {"".join(rng.choices(string.printable, k=rng.randint(5, 60))) for _ in range(10_000)}
    test_share = sum(split_for_hash(text_hash(s), fraction) == "test" for s in sentences) / len(sentences)
    # Binomial standard deviation at n=10,000 is at most 0.005; 0.02 is four of them.
    assert abs(test_share - fraction) < 0.02


def test_split_edges() -> None:
    digest = text_hash("anything")
    assert split_for_hash(digest, 0.0) == "train"
    assert split_for_hash("0" * 64, 0.01) == "test"
    assert split_for_hash("f" * 64, 0.99) == "train"


def test_shuffle_key_is_stable_fits_sqlite_and_depends_on_the_seed() -> None:
    digest = text_hash("He hit me.")
    assert shuffle_key(digest, 42) == shuffle_key(digest, 42)
    assert shuffle_key(digest, 42) != shuffle_key(digest, 43)
    assert 0 <= shuffle_key(digest, 42) < 2**63


def test_abbreviations_do_not_end_a_sentence() -> None:
    assert split_sentences("Dr. Smith came at 5 p.m. on Monday. Then he left.") == [
        "Dr. Smith came at 5 p.m. on Monday.",
        "Then he left.",
    ]


def test_question_and_exclamation_marks_end_sentences() -> None:
    assert split_sentences("Did he hit you? Yes! He did.") == ["Did he hit you?", "Yes!", "He did."]


def test_ellipsis_before_a_new_sentence_ends_it() -> None:
    assert split_sentences("I waited... Then he came back.") == ["I waited...", "Then he came back."]


def test_ellipsis_mid_sentence_does_not_split() -> None:
    assert split_sentences("Well... maybe not.") == ["Well... maybe not."]


def test_paragraphs_split_even_without_final_punctuation() -> None:
    document = "First paragraph without a stop\n\n  \nSecond paragraph. It has two sentences."
    assert split_sentences(document) == [
        "First paragraph without a stop",
        "Second paragraph.",
        "It has two sentences.",
    ]


def test_sentences_are_cleaned_and_blank_documents_give_nothing() -> None:
    assert split_sentences("He   hit\tme.") == ["He hit me."]
    assert split_sentences("   \n\n  ") == []
