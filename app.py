"""The frame: page config, first-start set-up, navigation, and the shared sidebar."""
from __future__ import annotations

import streamlit as st

from core.demo import ensure_demo_project
from core.labeling import label_conflicts
from core.launcher import ensure_worker
from core.projects import list_projects, project_stats
from ui.common import current_project, get_db, get_settings, safe_text

st.set_page_config(page_title="Teach the classifier", page_icon=":material/label:", layout="wide")


@st.cache_resource(show_spinner="Preparing the demo project…")
def _first_start() -> bool:
    # Once per server process: an empty database gets the demo project so a newcomer can start.
    return ensure_demo_project(get_db()) is not None


_first_start()
# Cheap (one query and a non-blocking flock): keeps a worker alive so Retrain always has one.
ensure_worker(get_settings(), get_db())

LABEL_PAGE_TITLE = "Label"
pages = {
    "Label": [
        st.Page("pages/label.py", title=LABEL_PAGE_TITLE, icon=":material/keyboard:", default=True),
        st.Page("pages/table.py", title="Table", icon=":material/table_rows:"),
        st.Page("pages/check.py", title="Check labels", icon=":material/fact_check:"),
    ],
    "Model": [
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/predictions.py", title="Predictions", icon=":material/checklist:"),
        st.Page("pages/evaluation.py", title="Evaluation", icon=":material/analytics:"),
        st.Page("pages/compare.py", title="Compare runs", icon=":material/compare_arrows:"),
    ],
    "Data": [
        st.Page("pages/data.py", title="Import & export", icon=":material/upload_file:"),
    ],
}
navigation = st.navigation(pages)

with st.sidebar:
    user = st.text_input(
        "Your name", key="user_input", value=st.query_params.get("user", ""),
        placeholder="e.g. sam", help="Recorded with every label you give.",
    )
    st.session_state["user"] = user.strip()
    if user.strip() and st.query_params.get("user") != user.strip():
        st.query_params["user"] = user.strip()  # survives a page reload

    projects = list_projects(get_db())
    project = current_project()
    if projects and project is not None:
        ids = [p.id for p in projects]
        chosen = st.selectbox(
            "Project", ids, index=ids.index(project.id), key="project_select",
            format_func=lambda i: next(p.name for p in projects if p.id == i),
        )
        if chosen != project.id:
            st.session_state["project_id"] = chosen
            st.rerun()
        # The Label page labels inside a fragment that reruns without the sidebar, so counts here would
        # lag behind the page's own progress line; that page shows the counts once, where they stay current.
        if navigation.title != LABEL_PAGE_TITLE:
            stats = project_stats(get_db(), project.id)
            st.caption(f"**{stats.labelled} / {stats.total}** labelled")
            for label in project.labels:
                st.caption(f"{label.value} · {safe_text(label.name)}: **{stats.per_label.get(label.value, 0)}**")
        conflicts = len(label_conflicts(get_db(), project.id))
        if conflicts:
            st.caption(f"Moderators disagree on **{conflicts}** sentence(s): see **Check labels**.")

navigation.run()
