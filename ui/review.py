"""Relabel-in-place tables shared by the review pages."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import AppError
from core.labeling import save_label
from core.projects import ProjectInfo
from core.permissions import Actor
from ui.common import get_db, safe_text


def relabel_list(frame: pd.DataFrame, project: ProjectInfo, actor: Actor, key: str,
                 extra_columns: dict[str, str] | None = None, limit: int = 30) -> None:
    """Sentences one per row, each with one button per other label: a click saves the fix at once
    (as a "review" annotation by `actor`) and feeds the next retrain."""
    if frame.empty:
        st.caption("No sentences here.")
        return
    names = {label.value: label.name for label in project.labels}
    for row in frame.head(limit).itertuples():
        with st.container(border=True, key=f"{key}-row-{row.id}"):
            text_col, action_col = st.columns([3, 2], vertical_alignment="center")
            text_col.markdown(safe_text(row.text))
            label = None if pd.isna(row.label) else int(row.label)
            details = [f"label: {names.get(label, '—')}"]
            for column, title in (extra_columns or {}).items():
                value = getattr(row, column)
                details.append(f"{title}: {value:.2f}" if isinstance(value, float) else f"{title}: {value}")
            text_col.caption(safe_text(" · ".join(details)))
            with action_col.container(horizontal=True):
                for value, name in names.items():
                    if value != label:
                        st.button(f"→ {safe_text(name)}", key=f"{key}-{row.id}-{value}", on_click=_save_review,
                                  args=(actor, int(row.id), value))
    if len(frame) > limit:
        st.caption(f"Showing {limit} of {len(frame)}; fix these and the next ones move up.")


def _save_review(actor: Actor, sentence_id: int, label: int) -> None:
    try:
        save_label(get_db(), actor, sentence_id, label, source="review")
    except AppError as error:
        st.session_state["review_error"] = str(error)
    else:
        st.toast("Saved; it feeds the next retrain.")


def show_review_error() -> None:
    if message := st.session_state.pop("review_error", None):
        st.error(safe_text(message))


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
