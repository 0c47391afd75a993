"""Label one sentence at a time, by keyboard: 1..9 label, S skip, U undo, N not sure."""
from __future__ import annotations

import streamlit as st

from core.assignments import moderator_work
from core.auto_retrain import labels_until_next_model
from core.errors import AppError
from core.estimate import batch_progress
from core.labeling import QUEUE_ORDERS, QueueFilter, get_sentence, next_sentence, save_label, undo_last
from core.projects import project_stats
from core.suggestions import suggestion_for
from core.care import preferences
from ui.auth import require_actor
from ui.care import break_reminder, content_note_gate
from ui.common import get_db, require_project, safe_text, sentence_card

project = require_project()
actor = require_actor()
db = get_db()
content_note_gate(actor, project)  # a project's content note comes before its first sentence
blur = preferences(db, actor).blur_sentences

with st.expander("Labelling guidelines", expanded=False, icon=":material/menu_book:"):
    st.text(project.guidelines or "No guidelines written for this project yet.")  # plain text, never Markdown

names = {label.value: label.name for label in project.labels}
batch = batch_progress(db, project.id)  # the latest estimate's sample, once an admin has asked for one
show_options = ["unlabelled"] + (["batch"] if batch is not None else []) + ["unsure"] + [f"label:{v}" for v in names]
col_show, col_order, col_search = st.columns([2, 1, 2])


def _show_title(option: str) -> str:
    if option == "unlabelled":
        return "Unlabelled first"
    if option == "unsure":
        return "Marked not sure"
    if option == "batch":
        return f"Evaluation batch ({batch.to_go} to go)"
    value = int(option.split(":")[1])
    return f"Re-visit: labelled {value} · {names[value]}"


show = col_show.selectbox("Show", show_options, key="label_show", format_func=_show_title)
ORDER_TITLES = {"document": "Document order", "shuffled": "Shuffled", "useful": "Most useful first"}
order = col_order.selectbox("Order", QUEUE_ORDERS, key="label_order", format_func=ORDER_TITLES.get,
                            help="Most useful first: while one label has fewer than half the labels of another, "
                                 "the sentences the model is least sure about among those it calls that label; "
                                 "otherwise a random sample (it taught the model more than its least sure "
                                 "sentences). Each says why; updated after every few labels.")
search = col_search.text_input("Search text", key="label_search", placeholder="filter by words")

if show == "unlabelled":
    queue_filter = QueueFilter(unlabelled_only=True, search=search)
elif show == "batch":
    queue_filter = QueueFilter(unlabelled_only=False, evaluation_batch=True, search=search)
elif show == "unsure":
    queue_filter = QueueFilter(unlabelled_only=False, unsure_only=True, search=search)
else:
    queue_filter = QueueFilter(unlabelled_only=False, label=int(show.split(":")[1]), search=search)

# The queue position is view state: which sentences this moderator skipped or already passed.
queue_key = (project.id, show, order, search)
if st.session_state.get("queue_key") != queue_key:
    st.session_state.update(queue_key=queue_key, seen=[], current_id=None, unsure=False)


def _advance() -> None:
    st.session_state["seen"].append(st.session_state["current_id"])
    st.session_state["current_id"] = None
    st.session_state["unsure"] = False


def _on_label(value: int) -> None:
    sentence_id = st.session_state["current_id"]
    note = st.session_state.get(f"note-{sentence_id}", "")
    try:
        save_label(db, actor, sentence_id, value, note=note, unsure=st.session_state["unsure"])
    except AppError as error:
        st.session_state["flash_error"] = str(error)
        return
    st.session_state["last_action"] = f"Labelled {value} · {names[value]}"
    _advance()


def _on_skip() -> None:
    st.session_state["last_action"] = "Skipped"
    _advance()


def _on_undo() -> None:
    try:
        sentence_id = undo_last(db, actor, project.id)
    except AppError as error:
        st.session_state["flash_error"] = str(error)
        return
    if sentence_id is None:
        st.session_state["flash_error"] = "Nothing of yours to undo in this project."
        return
    seen = st.session_state["seen"]
    if sentence_id in seen:
        seen.remove(sentence_id)
    st.session_state["current_id"] = sentence_id
    st.session_state["last_action"] = "Undone: label it again"


def _on_unsure() -> None:
    st.session_state["unsure"] = not st.session_state["unsure"]


@st.fragment
def workbench() -> None:
    # A fragment: labelling reruns only this part, so the next sentence appears without a page flash.
    # It does not rerun the frame, so it checks the session itself (idle time, sign-out elsewhere).
    require_actor()
    if message := st.session_state.pop("flash_error", None):
        st.error(safe_text(message), icon=":material/error:")
    current_id = st.session_state.get("current_id")
    # As this moderator sees it: their assignments first, a blind double without a colleague's label.
    view = get_sentence(db, current_id, viewer=actor.name) if current_id is not None else next_sentence(
        db, project.id, order=order, queue_filter=queue_filter, exclude_ids=st.session_state["seen"],
        annotator=actor.name,
    )
    stats = project_stats(db, project.id)
    progress = stats.labelled / stats.total if stats.total else 0.0
    st.progress(progress, text=safe_text(f"{stats.labelled} / {stats.total} labelled · " + " · ".join(
        f"{names[v]}: {stats.per_label.get(v, 0)}" for v in names) + " · " + " · ".join(
        f"{split}: {lab}/{tot}" for split, (lab, tot) in stats.per_split.items())))
    until = labels_until_next_model(db, project.id)
    if until is not None:
        st.caption(f"{until} label change(s) until the next model" if until else "A new model is on its way")
    mine = next(iter(moderator_work(db, project.id, annotator=actor.name)), None)  # runs on every key press: only theirs
    if mine is not None:
        st.caption(f"Your assignments: {mine.done} of {mine.assigned} labelled, {mine.pending} to go "
                   "(served first; some are labelled by a colleague too, blind)")
    in_batch = show == "batch"
    if in_batch and (progress_now := batch_progress(db, project.id)) is not None:
        with st.container(key="batch-note"):
            st.caption(f"Evaluation batch of version {progress_now.version}: {progress_now.labelled} of "
                       f"{progress_now.requested} labelled, {progress_now.to_go} to go. A random sample, in its own "
                       "order: say what each sentence is; the model's guess is hidden, and the labels go to the "
                       "test split.")

    if view is None:
        st.success("Nothing left in this queue. Pick another view above, or train a model.",
                   icon=":material/task_alt:")
        if st.session_state["seen"] and st.button("Start this queue again", key="restart"):
            st.session_state["seen"] = []
            st.rerun(scope="fragment")
        return
    st.session_state["current_id"] = view.id

    break_reminder()
    with st.container(border=True, key="card"):
        sentence_card(view, blur=blur)
        # In the evaluation batch a sentence may carry a bulk-accepted label: the model's, not shown.
        current = "unlabelled" if view.label is None or in_batch else f"currently **{view.label} · {safe_text(names.get(view.label, ''))}** by {safe_text(view.labelled_by or '')}"
        st.caption(f"Document {safe_text(view.doc_id or '—')} · sentence {view.position + 1} · {view.split} split · {current}")

    # In the evaluation batch the model's guess would sway the very labels that measure it: none shown.
    suggestion = None if in_batch else suggestion_for(db, view.id)
    if suggestion is not None:
        st.caption("Suggestion: " + safe_text(f"{names.get(suggestion.label, '')} ({max(suggestion.probs):.2f})"))
        if order == "useful" and suggestion.reason:
            st.caption("Why this one: " + safe_text(suggestion.reason))
    # The current label, or else the model's suggestion, is pre-selected (highlighted); never in the evaluation
    # batch, where a label can only be the model's, accepted in bulk.
    highlighted = None if in_batch else view.label if view.label is not None else (
        suggestion.label if suggestion else None)
    with st.container(horizontal=True, key="label-buttons"):
        for value, name in names.items():
            st.button(safe_text(name), key=f"label-{value}", shortcut=str(value + 1), on_click=_on_label,
                      args=(value,), type="primary" if highlighted == value else "secondary")
        if suggestion is not None and view.label is None:
            st.button("Accept suggestion", key="accept-suggestion", shortcut="A", on_click=_on_label,
                      args=(suggestion.label,), icon=":material/done:")
        st.button("Skip", key="skip", shortcut="S", on_click=_on_skip, icon=":material/skip_next:")
        st.button("Undo", key="undo", shortcut="U", on_click=_on_undo, icon=":material/undo:")
        st.button("Not sure ✓" if st.session_state["unsure"] else "Not sure", key="unsure-toggle",
                  shortcut="N", on_click=_on_unsure, icon=":material/help:")
    st.text_input("Note (optional, saved with the label)", key=f"note-{view.id}", value=view.note)
    if last := st.session_state.pop("last_action", None):
        st.caption(safe_text(last))


workbench()
