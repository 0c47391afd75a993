"""The words that differ between the two sentences of a contradicting pair (core/suggestions.py)."""
from __future__ import annotations

from core.suggestions import differing_words


def _marked(words) -> list[str]:
    return [w.text for w in words if w.differs]


def test_a_replaced_word_is_marked_on_both_sides():
    first, second = differing_words("the film was good , really", "the film was bad , really")
    assert (_marked(first), _marked(second)) == (["good"], ["bad"])
    assert [w.text for w in first] == ["the", "film", "was", "good", ",", "really"]


def test_an_added_word_is_marked_only_where_it_is():
    first, second = differing_words("it is one of the worst films", "it is n't quite one of the worst films")
    assert (_marked(first), _marked(second)) == ([], ["n't", "quite"])


def test_identical_sentences_have_nothing_marked_and_markup_is_just_words():
    first, second = differing_words("**x** <b>y</b>", "**x** <b>y</b>")
    assert _marked(first) == _marked(second) == []
    assert [w.text for w in first] == ["**x**", "<b>y</b>"]
