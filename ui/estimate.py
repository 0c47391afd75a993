"""The Evaluation page's "Random sample (stream)" view: the active version's estimate on the stream."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import AppError
from core.estimate import DEFAULT_HALF_WIDTH, estimate, request_estimate, sample_size_for
from core.permissions import Actor, Permission
from core.projects import ProjectInfo
from ui.common import get_db, safe_text, show_error

ASKED_KEY = "estimate_asked"  # the last request's summary, shown once after the rerun


def _figure(value: float | None, interval) -> str:  # noqa: ANN001 - core.evaluation.Interval or None
    if value is None:
        return "—"
    return f"{value:.3f}" + ("" if interval is None else f" ({interval.low:.2f} – {interval.high:.2f})")


def _ask(actor: Actor, project_id: int) -> None:
    try:
        asked = request_estimate(get_db(), actor, project_id)
    except AppError as error:
        st.session_state[ASKED_KEY] = ("error", str(error))
        return
    reused = f"; {asked.reused} of them already labelled" if asked.reused else ""
    st.session_state[ASKED_KEY] = ("ok", f"Drew {asked.sampled} sentences for version {asked.version}{reused}: "
                                         f"{asked.to_label} to label on the Label page (Show: Evaluation batch).")


def show_stream_estimate(project: ProjectInfo, actor: Actor) -> None:
    names = {label.value: label.name for label in project.labels}
    current = estimate(get_db(), project.id)
    if actor.may(Permission.request_estimate):
        st.button("Ask for an estimate", key="request-estimate", icon=":material/casino:", on_click=_ask,
                  args=(actor, project.id), type="primary" if current is None or current.stale else "secondary",
                  help=f"Draws a random sample of the sentences nobody has chosen to label: up to "
                       f"{sample_size_for(DEFAULT_HALF_WIDTH)} per label the active version predicts (about "
                       f"±{DEFAULT_HALF_WIDTH} on its precision), for the moderators to label.")
    if asked := st.session_state.pop(ASKED_KEY, None):
        kind, message = asked
        (st.error if kind == "error" else st.success)(safe_text(message))
    if current is None:
        st.info("No estimate on the stream yet. An admin asks for one here: it draws a random sample of the "
                "sentences nobody has chosen to label, which the moderators then label from the Label page.",
                icon=":material/info:")
        return
    if current.stale:
        st.warning(safe_text(current.stale_reason), icon=":material/history:")
    threshold = "argmax" if current.threshold is None else f"threshold {current.threshold:.2f}"
    with st.container(key="estimate-summary"):
        st.caption(f"Version {current.version} ({threshold}) · sample drawn {current.requested_at:%Y-%m-%d %H:%M} UTC "
                   f"from the {current.stream_size:,} of {current.project_size:,} sentences nobody had chosen to label")
        st.progress(current.labelled / current.requested if current.requested else 0.0,
                    text=f"{current.labelled} of {current.requested} sampled sentences labelled")
    if current.to_go:
        st.caption(f"{current.to_go} to go: Label page, Show → Evaluation batch. The intervals narrow as labels come in.")
    table = pd.DataFrame([
        {"label": f"{f.label} · {names.get(f.label, '')}",
         "precision (95% interval)": _figure(f.precision, f.precision_interval),
         "recall (95% interval)": _figure(f.recall, f.recall_interval),
         "prevalence (95% interval)": _figure(f.prevalence, f.prevalence_interval),
         "predicted": f.predicted, "labelled / drawn": f"{f.labelled} / {f.sampled}"}
        for f in current.per_label])
    st.dataframe(table, hide_index=True, width="stretch", key="stream-per-label")
    reasons: dict[str, list[str]] = {}
    for f in current.per_label:
        if f.why:
            reasons.setdefault(f.why, []).append(names.get(f.label, str(f.label)))
    for why, labels in reasons.items():  # one line per reason; the labels only where it is theirs alone
        text = why[0].upper() + why[1:] if len(labels) == len(names) else f"{', '.join(labels)}: {why}"
        st.caption(safe_text(text + "."))
    st.caption("On the stream, not the test split: precision is the share right among the sentences the version "
               "gives a label (Wilson interval); recall and prevalence reweight each predicted label's sample by "
               "how many sentences the version gives that label (intervals from posterior draws). \"predicted\": "
               "sentences of the stream the version gives the label.")
