"""Shared page plumbing: the process's database handle, the current project, safe text. Who is
signed in lives in ui/auth.py."""
from __future__ import annotations

import re

import streamlit as st

from core.config import Settings
from core.db import open_database
from core.errors import AppError, NotFound
from core.projects import ProjectInfo, get_project, list_projects
from db.engine import Database

# Backslash-escape everything Markdown would interpret, so user text is shown exactly as written:
# no links, images, headings or HTML, whatever a sentence contains.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$=&])")
# GFM also makes links of bare addresses (https://…, www.…, name@host), and it finds them in the text
# after escapes are read, so a backslash cannot stop it. It links only an address that starts a word;
# a word joiner (U+2060: invisible, no width) just before one keeps the text as it reads, unlinked.
_BARE_ADDRESS = re.compile(r"(?=https?:|www\.|@)", re.IGNORECASE)
WORD_JOINER = "\u2060"


def _run_inside_the_frame() -> None:
    """A first request straight to a page URL (a bookmark after a restart) must still get app.py's frame.

    Streamlit treats a top-level `pages/` folder as a v1 multipage app until `st.navigation` has run
    once in the process, and in that mode it runs the page script alone: no sidebar, no name, no
    project. Switching the process to v2 and rerunning sends the request through app.py.
    """
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        ctx = get_script_run_ctx()
        if ctx is not None and ctx.page_script_hash != ctx.pages_manager.main_script_hash:
            st.rerun()  # a page ran without app.py: run again, through the frame


_run_inside_the_frame()


def safe_text(text: str) -> str:
    """User text for anywhere Streamlit reads Markdown: st.markdown, captions, alerts, toasts, progress
    text, and the labels of buttons, checkboxes, inputs, radio options, expanders and tabs. Selectbox
    options, dataframes, st.text and st.code show text as it is: give them the text unescaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _BARE_ADDRESS.sub(WORD_JOINER, text)).replace("\n", " ")


@st.cache_resource(show_spinner=False)
def get_settings() -> Settings:
    return Settings.from_env()


@st.cache_resource(show_spinner="Opening the database…")
def get_db() -> Database:
    # Migrates once per process; the Database only hands out fresh sessions, it is never mutated.
    return open_database(get_settings())


def current_project() -> ProjectInfo | None:
    project_id = st.session_state.get("project_id")
    db = get_db()
    if project_id is not None:
        try:
            return get_project(db, int(project_id))
        except NotFound:
            st.session_state.pop("project_id", None)
    projects = list_projects(db)
    if not projects:
        return None
    st.session_state["project_id"] = projects[0].id
    return projects[0]


def require_project() -> ProjectInfo:
    project = current_project()
    if project is None:
        st.info("There is no project yet. An admin creates one on the **Import & export** page.")
        st.stop()
    return project


def show_error(error: AppError | str) -> None:
    # Messages quote user input (names, labels, file contents): shown as text, not Markdown.
    st.error(safe_text(str(error)), icon=":material/error:")


def label_options(project: ProjectInfo) -> dict[int, str]:
    return {label.value: f"{label.value} · {label.name}" for label in project.labels}


_SENTENCE_STYLE = """<style>
.st-key-sentence p { font-size: 1.6rem; line-height: 1.45; }
.st-key-context-before p, .st-key-context-after p { opacity: .55; font-size: 1.05rem; }
</style>"""


# Blurred until revealed (a moderator's choice, core/care.py): the text stays on the page, unreadable.
_BLUR_STYLE = """<style>
.st-key-blurred p { filter: blur(7px); user-select: none; }
</style>"""
REVEALED_KEY = "revealed_sentences"  # this tab's revealed sentence ids: view state


def _reveal(sentence_id: int) -> None:
    st.session_state.setdefault(REVEALED_KEY, set()).add(sentence_id)


def sentence_card(view, blur: bool = False) -> None:
    """A sentence, large, between its dimmed neighbours from the same document (all escaped); with
    `blur`, blurred until the moderator presses Reveal (V; Streamlit keeps R for itself)."""
    hidden = blur and view.id not in st.session_state.get(REVEALED_KEY, set())
    st.html(_SENTENCE_STYLE + (_BLUR_STYLE if hidden else ""))  # app-defined CSS only; no user text
    with st.container(key="blurred" if hidden else "shown"):
        with st.container(key="context-before"):
            for text in view.before:
                st.markdown(safe_text(text))
        with st.container(key="sentence"):
            st.markdown(safe_text(view.text))
        with st.container(key="context-after"):
            for text in view.after:
                st.markdown(safe_text(text))
    if hidden:
        st.button("Reveal", key=f"reveal-{view.id}", shortcut="V", icon=":material/visibility:",
                  on_click=_reveal, args=(view.id,), help="Blurred because you chose so in the sidebar.")
