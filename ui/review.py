"""Relabel-in-place tables shared by the review pages."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import AppError
from core.labeling import save_labels
from core.projects import ProjectInfo
from ui.common import current_user, get_db, label_options, show_error


def relabel_table(frame: pd.DataFrame, project: ProjectInfo, key: str, extra_columns: dict[str, str] | None = None) -> None:
    """An editable list of sentences: change the Label cell, press Save; saved as review annotations."""
    if frame.empty:
        st.caption("No sentences here.")
        return
    options = label_options(project)
    view = pd.DataFrame({"id": frame["id"], "text": frame["text"]})
    for column, title in (extra_columns or {}).items():
        view[title] = frame[column]
    view["label"] = [options.get(int(v)) if pd.notna(v) else None for v in frame["label"]]
    edited = st.data_editor(
        view, key=key, hide_index=True, width="stretch",
        disabled=[c for c in view.columns if c != "label"],
        column_config={"id": None, "text": st.column_config.TextColumn("Sentence", width="large"),
                       "label": st.column_config.SelectboxColumn("Label (edit to fix)", options=list(options.values()))},
    )
    reverse = {text: value for value, text in options.items()}
    changes = {int(i): reverse[new] for i, new, old in zip(view["id"], edited["label"], view["label"])
               if isinstance(new, str) and new != old}
    if st.button(f"Save {len(changes)} change(s)", key=f"{key}-save", disabled=not changes, type="primary"):
        user = current_user()
        try:
            saved = save_labels(get_db(), changes, user, source="review")
        except AppError as error:
            show_error(error)
        else:
            st.toast(f"Saved {saved} label(s); they feed the next retrain.")
            st.rerun()


def prediction_names(frame: pd.DataFrame, project: ProjectInfo, column: str = "predicted") -> list[str]:
    return [project.label_name(int(v)) for v in frame[column]]


def choose_run(project: ProjectInfo, key: str, label: str = "Model version", default_offset: int = 0):
    """A selectbox over the project's succeeded runs; defaults to the active one. Stops the page if none."""
    from core.runs import list_runs

    runs = [r for r in list_runs(get_db(), project.id) if r.status.value == "succeeded" and r.kind == "train"]
    if not runs:
        st.info("No trained model yet. Label some sentences, then press **Retrain** on the Train page.")
        st.stop()
    ids = [r.id for r in runs]
    active = next((i for i, r in enumerate(runs) if r.is_active), 0)
    index = min(active + default_offset, len(ids) - 1)
    chosen = st.selectbox(label, ids, index=index, key=key, format_func=lambda i: next(
        f"version {r.version}" + (" (active)" if r.is_active else "") +
        (f" · accuracy {r.accuracy:.3f}" if r.accuracy is not None else "") for r in runs if r.id == i))
    return next(r for r in runs if r.id == chosen)
