"""Label or correct many sentences at once in a table, with search and paging done in SQL."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import AppError
from core.labeling import save_labels, sentence_table
from ui.auth import require_actor
from ui.common import get_db, label_options, require_project, show_error

project = require_project()
actor = require_actor()
db = get_db()
options = label_options(project)
PAGE_SIZE = 50

col_search, col_label, col_split = st.columns([3, 2, 1])
search = col_search.text_input("Search text", key="table_search")
label_filter = col_label.selectbox(
    "Rows", ["all", "unlabelled"] + list(options), key="table_label",
    format_func=lambda o: {"all": "All sentences", "unlabelled": "Unlabelled only"}.get(o, f"Labelled {options.get(o, o)}"),
)
split = col_split.selectbox("Split", ["any", "train", "test"], key="table_split")

page_number = st.session_state.get("table_page", 0)
frame, total = sentence_table(
    db, project.id, search=search,
    label=label_filter if isinstance(label_filter, int) else None,
    unlabelled_only=label_filter == "unlabelled",
    split=None if split == "any" else split,
    offset=page_number * PAGE_SIZE, limit=PAGE_SIZE,
    viewer=actor.name,  # their pending blind doubles show no colleague's label
)
pages = max(1, -(-total // PAGE_SIZE))
page_number = min(page_number, pages - 1)
frame["label"] = [None if pd.isna(v) else options.get(int(v)) for v in frame["label"]]

edited = st.data_editor(
    frame,
    key=f"table-editor-{page_number}-{search}-{label_filter}-{split}",
    hide_index=True,
    disabled=["id", "text", "split", "document", "labelled_by"],
    column_config={
        "id": None,
        "text": st.column_config.TextColumn("Sentence", width="large"),
        "label": st.column_config.SelectboxColumn("Label", options=list(options.values()), width="small"),
        "labelled_by": st.column_config.TextColumn("By"),
    },
    width="stretch",
)

reverse = {text: value for value, text in options.items()}
changes = {
    int(row.id): reverse[row.label]
    for row, before in zip(edited.itertuples(), frame.itertuples())
    if isinstance(row.label, str) and row.label != before.label
}

nav_prev, nav_info, nav_next, save_col = st.columns([1, 2, 1, 2])
if nav_prev.button("Previous", disabled=page_number == 0, key="table_prev", icon=":material/chevron_left:"):
    st.session_state["table_page"] = page_number - 1
    st.rerun()
nav_info.caption(f"Page {page_number + 1} of {pages} · {total} sentences")
if nav_next.button("Next", disabled=page_number >= pages - 1, key="table_next", icon=":material/chevron_right:"):
    st.session_state["table_page"] = page_number + 1
    st.rerun()
if save_col.button(f"Save {len(changes)} change(s)", type="primary", disabled=not changes, key="table_save"):
    try:
        saved = save_labels(db, actor, project.id, changes)
    except AppError as error:
        show_error(error)
    else:
        st.toast(f"Saved {saved} label(s).")
        st.rerun()
