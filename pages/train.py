"""Retrain with one click; watch progress and the loss table live; manage model versions."""
from __future__ import annotations

from dataclasses import fields

import streamlit as st

from core.auto_retrain import SUGGESTED_EVERY, auto_retrain_every, labels_until_next_model, set_auto_retrain
from core.errors import AppError, NothingChanged
from core.exporting import export_file_name
from core.params import PRESET_TITLES, PRESETS, TrainingParams
from core.permissions import Permission
from core.runs import (
    active_run,
    alive_workers,
    cancel_run,
    current_run,
    format_loss_table,
    list_runs,
    loss_table,
    mark_lost_runs,
    model_card_text,
    model_zip_bytes,
    request_retrain,
    run_log,
    set_active,
)
from core.suggestions import learning_curve_points
from ui.charts import learning_curve_chart, loss_chart
from ui.auth import require_actor
from ui.common import get_db, get_settings, require_project, safe_text, show_error

actor = require_actor(Permission.train)  # only admins get this page; core checks each action too
project = require_project()
db = get_db()
settings = get_settings()
mark_lost_runs(db, settings.worker_lost_after_seconds)  # app.py keeps a worker alive on every rerun

st.subheader("Train a new model version")
active = active_run(db, project.id)
st.caption(
    f"Active model: **version {active.version}** · test accuracy "
    f"{'-' if active.accuracy is None else f'{active.accuracy:.3f}'}" if active else "No model yet."
)

preset = st.radio("Preset", list(PRESETS), format_func=PRESET_TITLES.get, horizontal=True, key="train_preset",
                  help="Fast: the app's default, far fewer steps (see README). Seed card: exactly the seed model's hyperparameters.")
base = PRESETS[preset]
overrides: dict[str, str] = {}
with st.expander("Advanced parameters"):
    cols = st.columns(3)
    for i, field in enumerate(fields(TrainingParams)):
        current = getattr(base, field.name)
        key = f"param-{preset}-{field.name}"
        with cols[i % 3]:
            if isinstance(current, bool):
                value = st.checkbox(field.name, value=current, key=key)
            elif isinstance(current, int):
                value = st.number_input(field.name, value=current, step=1, key=key)
            elif isinstance(current, float):
                value = st.number_input(field.name, value=current, format="%.6g", key=key)
            else:
                value = st.text_input(field.name, value=current, key=key)
        if value != current:
            overrides[field.name] = str(value)

with st.container(key="auto-retrain"):
    every = auto_retrain_every(db, project.id)

    def _save_auto() -> None:
        on = st.session_state["auto_on"]
        n = int(st.session_state.get("auto_every", every or SUGGESTED_EVERY))
        try:
            set_auto_retrain(db, actor, project.id, n if on else 0)
        except AppError as error:
            st.session_state["auto_error"] = str(error)

    left, right = st.columns([2, 1], vertical_alignment="bottom")
    left.toggle("Train a new version by itself after every N label changes", value=every > 0, key="auto_on", on_change=_save_auto,
                help="The worker queues a fast-preset run once this many labels were added or changed since the "
                     "last run, when no run is going. Off by default.")
    if every:
        right.number_input("N", 1, 10_000, every, 1, key="auto_every", on_change=_save_auto)
        left_until = labels_until_next_model(db, project.id)
        st.caption(f"{left_until} label change(s) until the next model.")
    if message := st.session_state.pop("auto_error", None):
        show_error(message)

running = current_run(db, project.id)
preset_name = "custom" if overrides else preset
if st.button("Retrain", type="primary", key="retrain", icon=":material/model_training:", disabled=running is not None,
             help="Queues a run on the labels as they are now; a background worker trains it."):
    try:
        params = base.with_overrides(overrides)
        request_retrain(db, actor, project.id, params, preset_name)
    except NothingChanged as notice:
        # Remembered with the parameters it is about: another preset or parameter needs no warning.
        st.session_state["retrain_unchanged"] = (params.to_json(), str(notice))
    except AppError as error:
        show_error(error)
    else:
        st.session_state.pop("retrain_unchanged", None)
        st.rerun()
unchanged = st.session_state.get("retrain_unchanged")
if unchanged is not None and running is None:
    try:
        same_params = base.with_overrides(overrides).to_json() == unchanged[0]
    except AppError:
        same_params = False
    if same_params:
        with st.container(key="retrain-unchanged"):
            st.warning(safe_text(unchanged[1]), icon=":material/info:")
            if st.button("Retrain anyway", key="retrain-anyway"):
                try:
                    request_retrain(db, actor, project.id, base.with_overrides(overrides), preset_name, force=True)
                except AppError as error:
                    show_error(error)
                else:
                    st.session_state.pop("retrain_unchanged", None)
                    st.rerun()
if running is not None:
    st.caption("A run is already going; wait for it or cancel it below.")
if not alive_workers(db, settings.worker_lost_after_seconds) and not settings.worker_autostart:
    st.warning("No worker is running. Start one with `python -m core worker`.")


@st.fragment(run_every=1.0 if running is not None else None)
def live_view() -> None:
    run = current_run(db, project.id)
    if run is None:
        if running is not None:
            st.rerun()  # the run ended: refresh the whole page (and stop polling)
        return
    with st.container(border=True, key="live-run"):
        title = f"Version {run.version}" if run.kind == "train" else f"{run.kind.value.replace('_', ' ').capitalize()} (v{run.version})"
        st.markdown(f"**{title}** · {run.status.value} · {safe_text(run.phase or 'waiting for a worker')}")
        if run.score_total and run.model_dir:  # trained and published: scoring every sentence
            eta = "" if not run.scoring_rate else f" · about {(run.score_total - run.scored) / run.scoring_rate:.0f} s left"
            st.progress(min(run.scored / run.score_total, 1.0),
                        text=f"scored {run.scored:,} / {run.score_total:,} sentences with {run.scoring_backend}{eta}")
        else:
            total = max(run.progress_total, 1)
            eta = f" · about {run.eta_seconds:.0f} s left" if run.eta_seconds is not None else ""
            st.progress(min(run.progress_step / total, 1.0),
                        text=f"step {run.progress_step} / {run.progress_total or '?'}{eta}")
        frame = loss_table(db, run.id)
        if len(frame):
            left, right = st.columns([1, 1])
            left.dataframe(format_loss_table(frame), hide_index=True, width="stretch", key="live-loss")
            right.plotly_chart(loss_chart(frame), key="live-chart")
        if st.button("Cancel run", key="cancel", icon=":material/cancel:", disabled=run.cancel_requested):
            cancel_run(db, actor, run.id)
            st.rerun(scope="fragment")
        if run.cancel_requested:
            st.caption("Cancelling…")


live_view()

st.subheader("Model versions")
runs = list_runs(db, project.id)
if not runs:
    st.info("No runs yet. Label a few sentences of each label, then press **Retrain**.")
else:
    table = [
        {
            "version": f"v{r.version}" + (" ● active" if r.is_active else ""),
            "status": r.status.value,
            "preset": r.preset if r.kind == "train" else r.kind.value.replace("_", " "),
            "created": r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            "train / test": f"{r.n_train} / {r.n_test}",
            # Text, so a run without a value shows "—" rather than the dataframe's "None".
            "accuracy": "—" if r.accuracy is None else f"{r.accuracy:.4f}",
            "duration (s)": "—" if r.duration_seconds is None else f"{r.duration_seconds:.1f}",
            # How the version scores every sentence, and how often that agreed with torch on the labels.
            "scoring": "—" if r.scoring_backend is None else (
                r.scoring_backend + ("" if r.backend_agreement is None else f" ({r.backend_agreement:.1%} agree)")),
            "ran on": r.ran_on or "—",  # device · host: which worker machine trained it
            "note": r.error or r.activation_note,
        }
        for r in runs
    ]
    with st.container(key="runs-table"):
        st.dataframe(table, hide_index=True, width="stretch")

    chosen_id = st.selectbox("Details of", [r.id for r in runs], key="run_detail",
                             format_func=lambda i: next(f"version {r.version}" for r in runs if r.id == i))
    run = next(r for r in runs if r.id == chosen_id)
    if run.error:
        show_error(run.error)
    frame = loss_table(db, run.id)
    if len(frame):
        left, right = st.columns([1, 1])
        left.markdown("**Training Results**")
        with left.container(key="run-loss"):
            st.dataframe(format_loss_table(frame), hide_index=True, width="stretch")
        right.plotly_chart(loss_chart(frame), key="run-chart")
    if run.status.value == "succeeded" and run.kind == "train":
        buttons = st.container(horizontal=True)
        if not run.is_active:
            is_newer = active is None or run.version > active.version
            if buttons.button("Promote to active" if is_newer else "Roll back to this version", key="activate",
                              icon=":material/published_with_changes:"):
                set_active(db, actor, project.id, run.id, "promoted by hand" if is_newer else "rolled back by hand")
                st.rerun()
        try:
            buttons.download_button("Download model (zip)", data=lambda: model_zip_bytes(run),
                                    file_name=export_file_name(project.id, "model", "zip", run.version), mime="application/zip",
                                    key="download-model", icon=":material/download:")
            card = model_card_text(run)
        except AppError as error:
            show_error(error)
        else:
            with st.expander("Model card (README.md)"):
                st.code(card, language="markdown", wrap_lines=True)
    if run.status.value == "failed" and st.session_state.get("show_log") != run.id:
        if st.button("Show the technical log", key="show-log"):
            st.session_state["show_log"] = run.id
            st.rerun()
    if st.session_state.get("show_log") == run.id:
        st.code(run_log(db, run.id) or "(no log)", language="text")

st.subheader("Is labelling still paying off?")
st.caption("A learning curve trains the fast preset on 25, 50, 75 and 100% of the labelled train split in "
           "the background and plots test accuracy against the number of labels. A curve still rising at "
           "100% means more labels will help.")
if st.button("Compute learning curve", key="learning-curve", disabled=running is not None, icon=":material/show_chart:"):
    try:
        request_retrain(db, actor, project.id, PRESETS["fast"], "fast", kind="learning_curve")
    except AppError as error:
        show_error(error)
    else:
        st.rerun()
points = learning_curve_points(db, project.id)
if points:
    st.plotly_chart(learning_curve_chart(points), key="learning-curve-chart")
