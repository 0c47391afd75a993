"""A contradicting pair side by side, the words that differ in bold (pages/check.py)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import streamlit as st

from core.suggestions import LabelPair, Word, differing_words
from ui.common import safe_text

# Blurred until revealed, as the sentence card does for a moderator who asked for it (core/care.py).
_BLUR_STYLE = """<style>
.st-key-pair-blurred p { filter: blur(7px); user-select: none; }
</style>"""
REVEALED_PAIRS_KEY = "revealed_pairs"  # this tab's revealed pairs: view state


def highlighted(words: Sequence[Word]) -> str:
    """Markdown for a sentence: every word escaped on its own (safe_text), and only the bold markers
    around the differing words are the app's, so a sentence's own `**` or `<b>` shows as typed."""
    return " ".join(f"**{safe_text(w.text)}**" if w.differs else safe_text(w.text) for w in words)


def _reveal(key: tuple[int, int]) -> None:
    st.session_state.setdefault(REVEALED_PAIRS_KEY, set()).add(key)


def pair_card(pair: LabelPair, names: Mapping[int, str], blur: bool = False) -> None:
    key = (pair.first.sentence_id, pair.second.sentence_id)
    hidden = blur and key not in st.session_state.get(REVEALED_PAIRS_KEY, set())
    if hidden:
        st.html(_BLUR_STYLE)  # app-defined CSS only; no user text
    words = differing_words(pair.first.text, pair.second.text)
    with st.container(key="pair-blurred" if hidden else "pair-shown"):
        columns = st.columns(2)
        for column, side, sentence_words, slot in ((columns[0], pair.first, words[0], "first"),
                                                   (columns[1], pair.second, words[1], "second")):
            with column, st.container(border=True, key=f"pair-{slot}"):
                st.markdown(highlighted(sentence_words))
                st.caption(safe_text(f"Labelled {names.get(side.label, side.label)} · sentence {side.sentence_id}"))
    if hidden:
        st.button("Reveal", key="pair-reveal", shortcut="V", icon=":material/visibility:", on_click=_reveal,
                  args=(key,), help="Blurred because you chose so in the sidebar.")
