"""How good is a model version, where is it wrong, and which labels need fixing — fixable in place."""
from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from core.errors import AppError
from core.review import (
    cell_sentences,
    evaluate_run,
    misclassified,
    operating_curve,
    set_threshold,
    threshold_for_recall,
)
from core.runs import format_loss_table, loss_table, model_card_text
from ui.charts import confusion_heatmap, loss_chart, precision_recall_chart, reliability_chart
from core.permissions import Permission
from ui.auth import require_actor
from ui.common import get_db, require_project, safe_text, show_error
from ui.estimate import show_stream_estimate
from ui.review import choose_run, relabel_list, show_review_error

project = require_project()
actor = require_actor()
db = get_db()
names = [label.name for label in project.labels]

SOURCES = ("Test split", "Random sample (stream)")
source = st.segmented_control("Numbers from", SOURCES, key="eval_source", default=SOURCES[0],
                              help="The test split holds the sentences moderators chose to label; a random sample "
                                   "of the rest says how the active version does on the posts it will see.")
if source == SOURCES[1]:
    show_stream_estimate(project, actor)
    st.stop()
st.caption("How a version does on the test split, where it goes wrong, and the labels to fix. Fixes are saved at once and feed the next retrain.")
run = choose_run(project, key="eval_run")
show_review_error()
try:
    evaluation = evaluate_run(db, run.id)
except AppError as error:
    show_error(error)
    st.stop()
metrics = evaluation.metrics

def _interval(pair) -> str:  # noqa: ANN001 - [low, high] or None
    return "—" if pair is None else f"{pair[0]:.2f} – {pair[1]:.2f}"


intervals = metrics["intervals"]
cols = st.columns(len(names) + 2)
cols[0].metric("Accuracy (current labels)", f"{metrics['accuracy']:.3f}",
               help="95% interval below: Wilson score interval for a proportion.")
trained = evaluation.trained_metrics.get("accuracy")
cols[1].metric("Accuracy when trained", "-" if trained is None else f"{trained:.3f}",
               help="Against the test labels as they were when the run was queued.")
with st.container(key="accuracy-interval"):
    low, high = intervals["accuracy"]
    st.caption(f"Accuracy 95% interval: {low:.2f} to {high:.2f}, from {metrics['n_test']} labelled test sentences"
               + (" — too few to tell versions a few points apart; label more of the test split."
                  if high - low > 0.2 else "."))
per_label = pd.DataFrame(
    [{"label": f"{v} · {names[v]}",
      "precision": round(m["precision"], 3), "95% interval (P)": _interval(intervals["per_label"][k]["precision"]),
      "recall": round(m["recall"], 3), "95% interval (R)": _interval(intervals["per_label"][k]["recall"]),
      "f1": round(m["f1"], 3), "95% interval (F1)": _interval(intervals["per_label"][k]["f1"]),
      "support": m["support"]}
     for k, m in metrics["per_label"].items() for v in [int(k)]]
)
st.dataframe(per_label, hide_index=True, width="stretch", key="per-label")
st.caption(f"Test split: {metrics['n_test']} labelled sentences. Intervals: Wilson for precision and recall, "
           "bootstrap over sentences for F1.")

calibration = evaluation.reliability
if calibration is not None:
    st.subheader("Does confidence mean what it says?")
    left, right = st.columns([3, 2])
    left.plotly_chart(reliability_chart(calibration.bins), key="eval-reliability")
    with right:
        st.metric("Expected calibration error", f"{calibration.ece:.3f}",
                  help="Per confidence bin, |share right − mean confidence|, weighted by the bin's size. 0 is perfect.")
        right_conf = "—" if calibration.mean_confidence_right is None else f"{calibration.mean_confidence_right:.2f}"
        wrong_conf = "—" if calibration.mean_confidence_wrong is None else f"{calibration.mean_confidence_wrong:.2f}"
        st.caption(f"Mean confidence on right predictions {right_conf}, on wrong ones {wrong_conf}. "
                   "Points below the diagonal: the version is surer than it is right.")

st.subheader("Confusion matrix")
normalized = st.toggle("Row-normalized", key="eval_norm")
left, right = st.columns([3, 2])
left.plotly_chart(confusion_heatmap(metrics["confusion"], names, normalized), key="eval-heatmap")
with right:
    # Plotly heatmap clicks return nothing in Streamlit, so the cells are also buttons laid out as the matrix.
    st.caption("Choose a cell to list its sentences (rows: true label, columns: predicted):")
    header = st.columns(len(names) + 1)
    for j, name in enumerate(names):
        header[j + 1].caption(safe_text(f"pred: {name}"))
    for i, name in enumerate(names):
        row = st.columns(len(names) + 1, vertical_alignment="center")
        row[0].caption(safe_text(f"true: {name}"))
        for j in range(len(names)):
            chosen = st.session_state.get("eval_cell") == (i, j)
            if row[j + 1].button(str(metrics["confusion"][i][j]), key=f"cell-{i}-{j}",
                                 type="primary" if chosen else "secondary", width="stretch"):
                st.session_state["eval_cell"] = (i, j)
                st.rerun()
cell = st.session_state.get("eval_cell")
if cell is not None:
    true_label, predicted = cell
    st.markdown(f"**True {safe_text(names[true_label])} → predicted {safe_text(names[predicted])}**")
    with st.container(key="cell-list"):
        relabel_list(cell_sentences(db, run.id, true_label, predicted, viewer=actor.name), project, actor, key="cellfix",
                     extra_columns={"confidence": "confidence"})

st.subheader("Misclassified test sentences")
st.caption("Most confident mistakes first: often the *label* is what is wrong.")
with st.container(key="misclassified"):
    wrong = misclassified(db, run.id, viewer=actor.name)
    wrong = wrong.assign(predicted=[names[int(v)] for v in wrong["predicted"]])
    relabel_list(wrong, project, actor, key="mis", extra_columns={"predicted": "predicted", "confidence": "confidence"})

if len(names) == 2:
    st.subheader("Operating point")
    try:
        curve = operating_curve(db, run.id)
    except AppError as error:
        show_error(error)
    else:
        target = st.number_input(f"Target: recall of '{safe_text(names[1])}' at least", 0.05, 1.0, 0.95, 0.01, key="eval_target")
        try:
            suggested = threshold_for_recall(curve, target)
        except AppError as error:
            show_error(error)
            suggested = 0.5
        current = run.threshold if run.threshold is not None else 0.5
        threshold = st.slider("Threshold on P(label 1)", 0.0, 1.0, float(current), 0.01, key=f"eval_threshold-{run.id}")
        st.plotly_chart(precision_recall_chart(curve, threshold), key="eval-pr")
        # Everyone may explore the curve; storing a threshold changes the version's predictions: admins only.
        if actor.may(Permission.set_threshold):
            buttons = st.container(horizontal=True)
            if buttons.button(f"Use {suggested:.3f} (meets the target)", key="eval_use_target"):
                set_threshold(db, actor, run.id, suggested)
                st.session_state.pop(f"eval_threshold-{run.id}", None)
                st.rerun()
            if buttons.button(f"Save threshold {threshold:.2f}", key="eval_save_threshold", type="primary"):
                set_threshold(db, actor, run.id, threshold)
                st.rerun()
            if run.threshold is not None and buttons.button("Back to argmax", key="eval_clear_threshold"):
                set_threshold(db, actor, run.id, None)
                st.session_state.pop(f"eval_threshold-{run.id}", None)
                st.rerun()
        st.caption(f"Stored threshold: {'none (argmax)' if run.threshold is None else f'{run.threshold:.3f}'} — "
                   "used by this version's predictions and the CLI `predict`.")

st.subheader("Training Results")
frame = loss_table(db, run.id)
if len(frame):
    left, right = st.columns(2)
    left.dataframe(format_loss_table(frame), hide_index=True, width="stretch", key="eval-loss")
    right.plotly_chart(loss_chart(frame), key="eval-loss-chart")
with st.expander("Model card"):
    try:
        card = model_card_text(run)
    except AppError as error:
        show_error(error)
    else:
        # Examples and label names in the card are user text: shown as written, never as Markdown.
        st.code(re.sub(r"\A---\n.*?\n---\n", "", card, flags=re.S), language="markdown", wrap_lines=True)
