"""Every sentence with the model's prediction: filter, pick one, accept or correct it in place."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import AppError
from core.labeling import get_sentence, save_label
from core.care import preferences
from core.permissions import Permission
from core.review import AGREEMENT, SORTS, PredictionFilter, bulk_accept, count_bulk_accept, prediction_rows
from ui.auth import require_actor
from ui.common import get_db, label_options, require_project, safe_text, sentence_card, show_error
from ui.review import choose_run

project = require_project()
actor = require_actor()
db = get_db()
options = label_options(project)
PAGE_SIZE = 50

st.caption("Every sentence with the model's label and confidence. Filter, pick a row, and accept (`A`) or correct it (`1`..`9`).")
run = choose_run(project, key="pred_run")
c1, c2, c3, c4 = st.columns(4)
predicted = c1.selectbox("Predicted", [None, *options], format_func=lambda v: "any" if v is None else options[v], key="pred_pred")
human = c2.selectbox("Human label", [None, *options], format_func=lambda v: "any" if v is None else options[v], key="pred_human")
agreement = c3.selectbox("Agreement", AGREEMENT, key="pred_agree")
sort = c4.selectbox("Sort", list(SORTS), key="pred_sort")
c5, c6, c7 = st.columns([2, 2, 1])
low, high = c5.slider("Confidence", 0.0, 1.0, (0.0, 1.0), 0.01, key="pred_conf")
search = c6.text_input("Search text", key="pred_search")
split = c7.selectbox("Split", [None, "train", "test"], format_func=lambda v: v or "any", key="pred_split")

try:
    filters = PredictionFilter(predicted, human, agreement, low, high, search, split, viewer=actor.name)
except AppError as error:
    show_error(error)
    st.stop()

page_key = ("pred_page", run.id, filters, sort)
if st.session_state.get("pred_page_key") != page_key:
    st.session_state.update(pred_page_key=page_key, pred_page=0)
page = st.session_state["pred_page"]
frame, total = prediction_rows(db, run.id, filters, sort, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
pages = max(1, -(-total // PAGE_SIZE))

view = frame.assign(
    predicted=[project.label_name(int(v)) for v in frame["predicted"]],
    label=["—" if pd.isna(v) else project.label_name(int(v)) for v in frame["label"]],
)[["text", "predicted", "confidence", "label", "split"]]
event = st.dataframe(
    view, key=f"pred-table-{page}", on_select="rerun", selection_mode="single-row", hide_index=True, width="stretch",
    column_config={"text": st.column_config.TextColumn("Sentence", width="large"),
                   "confidence": st.column_config.ProgressColumn("Confidence", min_value=0.0, max_value=1.0, format="%.2f"),
                   "label": "Human label"},
)
nav = st.container(horizontal=True)
if nav.button("Previous", disabled=page == 0, key="pred_prev"):
    st.session_state["pred_page"] = page - 1
    st.rerun()
nav.caption(f"Page {page + 1} of {pages} · {total} sentences")
if nav.button("Next", disabled=page >= pages - 1, key="pred_next"):
    st.session_state["pred_page"] = page + 1
    st.rerun()

selected = event.selection.rows if event is not None else []
if selected:
    row = frame.iloc[selected[0]]
    view_sentence = get_sentence(db, int(row["id"]), viewer=actor.name)
    with st.container(border=True, key="pred-detail"):
        sentence_card(view_sentence, blur=preferences(db, actor).blur_sentences)
        st.caption("Model: " + safe_text(" · ".join(f"{options[i]}: {p:.2f}" for i, p in enumerate(row["probs"]))))
        buttons = st.container(horizontal=True)
        predicted_value = int(row["predicted"])

        def _save(value: int) -> None:
            try:
                save_label(db, actor, int(row["id"]), value, source="review")
            except AppError as error:
                st.session_state["pred_error"] = str(error)

        # Button labels are Markdown: label names go in escaped.
        buttons.button(f"Accept: {safe_text(project.label_name(predicted_value))}", key="pred-accept", shortcut="A",
                       type="primary", on_click=_save, args=(predicted_value,))
        for value, name in options.items():
            buttons.button(safe_text(name), key=f"pred-label-{value}", shortcut=str(value + 1), on_click=_save, args=(value,))
if message := st.session_state.pop("pred_error", None):
    show_error(message)



def bulk_accept_section() -> None:
    with st.expander("Bulk accept confident predictions"):
        threshold = st.slider("Accept unlabelled sentences in the filter above this confidence", 0.5, 1.0, 0.95, 0.01,
                              key="bulk_conf")
        n = count_bulk_accept(db, run.id, filters, threshold)
        if st.button(f"Accept {n} prediction(s)…", disabled=n == 0, key="bulk_start"):
            st.session_state["bulk_confirm"] = (run.id, filters, threshold, n)
        pending = st.session_state.get("bulk_confirm")
        if pending and pending[:3] == (run.id, filters, threshold):
            st.warning(f"This labels **{pending[3]}** sentences with the model's label, recorded under your name.")
            yes, no = st.columns(2)
            if yes.button("Yes, accept them", type="primary", key="bulk_yes"):
                try:
                    saved = bulk_accept(db, actor, run.id, filters, threshold)
                except AppError as error:
                    show_error(error)
                    return
                st.session_state.pop("bulk_confirm")
                st.toast(f"Accepted {saved} predictions.")
                st.rerun()
            if no.button("Cancel", key="bulk_no"):
                st.session_state.pop("bulk_confirm")
                st.rerun()


# Labelling many sentences unread is an admin's call (core refuses it to moderators too).
if actor.may(Permission.bulk_accept):
    bulk_accept_section()
