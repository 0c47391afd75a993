"""Care on screen: the content note before labelling, the break reminder, the blur choice."""
from __future__ import annotations

from datetime import datetime, timezone

import streamlit as st

from core.care import acknowledge_content_note, break_due, content_note_to_show, preferences, set_blur_sentences
from core.permissions import Actor
from core.projects import ProjectInfo
from ui.common import get_db, get_settings

LABELLING_SINCE_KEY = "labelling_since"  # when this tab's stretch of labelling began: view state


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def content_note_gate(actor: Actor, project: ProjectInfo) -> None:
    """Show the project's content note, and nothing else, until this account has read it."""
    note = content_note_to_show(get_db(), actor, project)
    if note is None:
        return
    _, middle, _ = st.columns([1, 2, 1])
    with middle, st.container(border=True, key="content-note"):
        st.markdown("#### Before you start")
        st.text(note)  # as written, line breaks kept; never Markdown
        st.caption("Take a break whenever you need one. You can also blur sentences until you reveal them "
                   "(in the sidebar).")
        if st.button("I have read this: start labelling", type="primary", key="content-note-ok",
                     icon=":material/check:"):
            acknowledge_content_note(get_db(), actor, project)
            st.rerun()
    st.stop()


def _take_break() -> None:
    st.session_state[LABELLING_SINCE_KEY] = _now()


def break_reminder() -> None:
    """After BREAK_REMINDER_MINUTES of labelling in this tab, a gentle reminder above the sentence."""
    every = get_settings().break_reminder_minutes
    since = st.session_state.setdefault(LABELLING_SINCE_KEY, _now())
    if not break_due(since, _now(), every):
        return
    minutes = int((_now() - since).total_seconds() // 60)
    with st.container(border=True, key="break-reminder"):
        st.markdown(f"**You have been labelling for {minutes} minutes.** Time for a short break: stand up, "
                    "look at something far away, have a drink of water. The queue will wait.")
        st.button("Done: back to labelling", key="break-done", on_click=_take_break, icon=":material/self_care:")


def blur_choice(actor: Actor) -> bool:
    """The sidebar switch for blurring sentences until revealed, kept on the account; returns it."""
    blur = preferences(get_db(), actor).blur_sentences

    def _changed() -> None:
        set_blur_sentences(get_db(), actor, st.session_state["care_blur"])

    st.toggle("Blur sentences until I reveal them", value=blur, key="care_blur", on_change=_changed,
              help="Sentences show blurred; press Reveal (V) to read one.")
    return blur
