"""Check labels that look wrong (after each run), sentences two moderators labelled differently, and
near-duplicate sentences that carry different labels."""
from __future__ import annotations

import streamlit as st

from core.errors import AppError
from core.labeling import get_sentence
from core.permissions import Permission
from core.suggestions import (DISAGREE, PAIR_SIMILARITY, check_queue, keep_pair_apart, label_pair_alike, label_pairs,
                              resolve_check)
from core.care import preferences
from ui.auth import require_actor
from ui.common import get_db, require_project, safe_text, sentence_card, show_error
from ui.label_check import cross_check_panel
from ui.pairs import pair_card

project = require_project()
actor = require_actor()
db = get_db()
names = {label.value: label.name for label in project.labels}

adjudicates = actor.may(Permission.adjudicate)
items = check_queue(db, project.id, actor)
pairs = label_pairs(db, project.id, actor)
LABELS, PAIRS = "labels", "pairs"
# Sent again on every run: the options' labels carry counts, and when a count changes the browser kept the
# old label as its choice and showed neither option selected (seen after a check found suspects).
st.session_state["check-view"] = st.session_state.get("check-view", LABELS)
shown = st.radio("Check", [LABELS, PAIRS], horizontal=True, key="check-view", label_visibility="collapsed",
                 format_func={LABELS: f"Labels to check ({len(items)})",
                              PAIRS: f"Contradicting pairs ({len(pairs)})"}.get)


def _pairs() -> None:
    st.caption(f"Two labelled sentences that read almost the same (their embeddings' cosine is at least "
               f"{PAIR_SIMILARITY}) but carry different labels; the words that differ are in bold. Give both one label, or keep both "
               "if they really differ. Keys: `1`..`9` label both, `D` they differ.")
    skipped_pairs = st.session_state.setdefault("pair_skipped", [])
    waiting = [p for p in pairs if (p.first.sentence_id, p.second.sentence_id) not in skipped_pairs]
    if not waiting:
        st.success("No contradicting pairs right now.", icon=":material/task_alt:")
        if skipped_pairs and st.button("Show skipped pairs again", key="pair-reset"):
            st.session_state["pair_skipped"] = []
            st.rerun()
        return
    pair = waiting[0]
    ids = (pair.first.sentence_id, pair.second.sentence_id)

    def _settle(label: int | None) -> None:
        try:
            if label is None:
                keep_pair_apart(db, actor, *ids)
            else:
                label_pair_alike(db, actor, *ids, label)
        except AppError as error:
            st.session_state["check_error"] = str(error)

    if message := st.session_state.pop("check_error", None):
        show_error(message)
    st.caption(f"{len(waiting)} {'pair' if len(waiting) == 1 else 'pairs'} · cosine {pair.similarity:.2f}")
    pair_card(pair, names, blur=preferences(db, actor).blur_sentences)
    with st.container(horizontal=True, key="pair-buttons"):
        for value, name in names.items():
            st.button(safe_text(f"Both: {name}"), key=f"pair-label-{value}", shortcut=str(value + 1),
                      on_click=_settle, args=(value,))
        st.button("They differ: keep both", key="pair-keep", shortcut="D", type="primary", on_click=_settle,
                  args=(None,))
        if st.button("Skip", key="pair-skip", shortcut="S"):
            skipped_pairs.append(ids)
            st.rerun()


if shown == PAIRS:
    _pairs()
    st.stop()

st.caption("Each sentence here looks mislabelled to the model (out-of-fold: a head that never saw it gives "
           "another label; most likely wrong first)" + (" or was labelled differently by two moderators: your decision is the label training "
                             "uses (a blind double in dispute stays out of training until you decide)" if adjudicates else "")
           + ". Keys: `K` keep the label, `1`..`9` change it.")

cross_check_panel(db, actor, project.id)

skipped = st.session_state.setdefault("check_skipped", [])
pending = [item for item in items if item.sentence_id not in skipped]
st.progress(0.0 if not items else 1 - len(pending) / len(items), text=f"{len(pending)} to check")
if not pending:
    st.success("Nothing to check right now. Suspects are recomputed after every training run and by the "
               "cross-fitted check.",
               icon=":material/task_alt:")
    if skipped and st.button("Show skipped ones again", key="check-reset"):
        st.session_state["check_skipped"] = []
        st.rerun()
    st.stop()

item = pending[0]
view = get_sentence(db, item.sentence_id, viewer=actor.name)
disputed = item.reason == DISAGREE


def _resolve(label: int) -> None:
    try:
        resolve_check(db, actor, item.sentence_id, label)
    except AppError as error:
        st.session_state["check_error"] = str(error)


if message := st.session_state.pop("check_error", None):
    show_error(message)
with st.container(border=True, key="check-card"):
    sentence_card(view, blur=preferences(db, actor).blur_sentences)
    if disputed:
        st.markdown("**Why:** moderators disagree. Pick the label that is right: it becomes the adjudicated label.")
        st.caption("Their labels: " + safe_text(" · ".join(f"{who}: {names.get(v, v)}" for who, v in item.votes)))
    else:
        st.markdown(f"**Why:** {item.reason}. Current label: **{safe_text(names.get(item.current_label, '—'))}**")
        if item.votes:  # also a disagreement: an admin's choice here adjudicates it
            st.caption("Moderators disagree too: " + safe_text(" · ".join(f"{who}: {names.get(v, v)}" for who, v in item.votes)))
    if item.probs:
        st.caption("Model (out-of-fold): " + safe_text(" · ".join(f"{names[i]} {p:.2f}" for i, p in enumerate(item.probs))))

with st.container(horizontal=True, key="check-buttons"):
    if disputed:
        for value, name in names.items():
            st.button(safe_text(f"Decide: {name}"), key=f"check-label-{value}", shortcut=str(value + 1),
                      on_click=_resolve, args=(value,))
    else:
        if item.current_label is not None:
            st.button(safe_text(f"Keep {names[item.current_label]}"), key="check-keep", shortcut="K", type="primary",
                      on_click=_resolve, args=(item.current_label,))
        for value, name in names.items():
            if value != item.current_label:
                st.button(safe_text(f"Change to {name}"), key=f"check-label-{value}", shortcut=str(value + 1),
                          on_click=_resolve, args=(value,))
    if st.button("Skip", key="check-skip", shortcut="S"):
        skipped.append(item.sentence_id)
        st.rerun()
