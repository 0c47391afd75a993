"""Where the Check page's suspects came from, and the button for the cross-fitted check (core/label_check.py)."""
from __future__ import annotations

import streamlit as st

from core.errors import AppError
from core.label_check import CHECK_FOLDS, LastCheck, label_check_history, suspect_source
from core.params import PRESETS
from core.permissions import Actor, Permission
from core.runs import active_run, cancel_run, current_run, request_retrain
from db.engine import Database
from db.models import RunKind
from ui.common import safe_text, show_error


def _source_line(db: Database, project_id: int, last: LastCheck | None) -> str:
    """Who found the suspects listed, and what the last cross-fitted check found (it may have found none)."""
    source = suspect_source(db, project_id)
    check = ""
    if last is not None:
        found = (f"{last.suspects} suspected label {'error' if last.suspects == 1 else 'errors'}" if last.suspects
                 else "no label that looks wrong")
        check = (f"The cross-fitted check (v{last.version}, {last.finished_at:%Y-%m-%d %H:%M} UTC) found {found} "
                 f"in {last.labels} labels, each judged by a model trained without it.")
    if source is None or source.kind == RunKind.label_check:
        return check
    return (f"Found after training v{source.version}, by heads on that version's embeddings. " + (
        check + " Its suspects were replaced by those of the training after it." if last is not None else
        "The cross-fitted check finds more of the wrong labels (0.68 against 0.54 of them in its top 40 on "
        "the SST-2 bench) but trains a model per fold."))


def cross_check_panel(db: Database, actor: Actor, project_id: int) -> None:
    """The suspects' source; for an admin, the button that queues the cross-fitted check, and its progress
    while it runs (the page refreshes itself when it ends)."""
    running = current_run(db, project_id)
    checking = running is not None and running.kind == RunKind.label_check
    with st.container(key="cross-check"):
        newest, last = label_check_history(db, project_id)
        if line := _source_line(db, project_id, last):
            st.caption(line)
        if newest is not None and newest.status.value in ("failed", "cancelled"):
            st.caption(safe_text(f"The last cross-fitted check (v{newest.version}) {newest.status.value}: "
                                 f"{newest.error or 'no reason recorded'}. The Train page has its log."))
        if checking:
            _progress(db, actor, project_id)
            return
        if not actor.may(Permission.train):
            return
        last = active_run(db, project_id)
        minutes = "" if last is None or not last.duration_seconds else (
            f", about {_duration(CHECK_FOLDS * last.duration_seconds)} here ({CHECK_FOLDS} × the active version's run)")
        if st.button("Run the cross-fitted check", key="cross-check-run", icon=":material/fact_check:",
                     disabled=running is not None,
                     help=f"Splits the labels into {CHECK_FOLDS} folds and trains a model per fold in the background "
                          f"(fast preset) on the other folds, then asks it about the fold it never saw{minutes}. "
                          "Its suspects replace these; the next retrain's replace its own."):
            try:
                request_retrain(db, actor, project_id, PRESETS["fast"], "fast", kind=RunKind.label_check)
            except AppError as error:
                show_error(error)
            else:
                st.rerun()
        if running is not None:
            st.caption("A run is going; the check can start when it ends.")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


@st.fragment(run_every=1.0)
def _progress(db: Database, actor: Actor, project_id: int) -> None:
    run = current_run(db, project_id)
    if run is None or run.kind != RunKind.label_check:
        st.rerun()  # the check ended: the whole page shows its suspects
        return
    total = max(run.progress_total, 1)
    st.progress(min(run.progress_step / total, 1.0),
                text=f"Cross-fitted check {run.status.value}: {run.phase or 'waiting for a worker'}")
    if actor.may(Permission.cancel_run):
        if st.button("Cancel the check", key="cross-check-cancel", disabled=run.cancel_requested):
            try:
                cancel_run(db, actor, run.id)
            except AppError as error:  # it ended meanwhile
                show_error(error)
            st.rerun()
        if run.cancel_requested:
            st.caption("Cancelling…")
