"""Check labels that look wrong (after each run) and sentences two moderators labelled differently."""
from __future__ import annotations

import streamlit as st

from core.errors import AppError
from core.labeling import get_sentence
from core.permissions import Permission
from core.suggestions import DISAGREE, check_queue, resolve_check
from core.care import preferences
from ui.auth import require_actor
from ui.common import get_db, require_project, safe_text, sentence_card, show_error

project = require_project()
actor = require_actor()
db = get_db()
names = {label.value: label.name for label in project.labels}

adjudicates = actor.may(Permission.adjudicate)
st.caption("Each sentence here looks mislabelled to the model (out-of-fold: a head that never saw it disagrees "
           "confidently)" + (" or was labelled differently by two moderators: your decision is the label training "
                             "uses (a blind double in dispute stays out of training until you decide)" if adjudicates else "")
           + ". Keys: `K` keep the label, `1`..`9` change it.")

items = check_queue(db, project.id, actor)
skipped = st.session_state.setdefault("check_skipped", [])
pending = [item for item in items if item.sentence_id not in skipped]
st.progress(0.0 if not items else 1 - len(pending) / len(items), text=f"{len(pending)} to check")
if not pending:
    st.success("Nothing to check right now. Suspects are recomputed after every training run.",
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
