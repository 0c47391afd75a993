"""The frame: page config, first-start set-up, sign-in gate, navigation per role, the shared sidebar."""
from __future__ import annotations

import streamlit as st

from core.accounts import has_users
from core.demo import ensure_demo_project
from core.labeling import label_conflicts
from core.launcher import ensure_worker
from core.permissions import Actor, Permission
from core.projects import list_projects, project_stats
from ui.auth import hand_over_cookie, sign_out, signed_in
from ui.care import blur_choice
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


def pages_for(actor: Actor) -> dict[str, list[st.Page]]:
    """The pages this role may open. st.navigation serves only these, so any other page's URL shows
    the default page instead; core refuses the actions too."""
    admin = actor.is_admin
    model = [st.Page("pages/train.py", title="Train", icon=":material/model_training:")] if admin else []
    model += [
        st.Page("pages/predictions.py", title="Predictions", icon=":material/checklist:"),
        st.Page("pages/evaluation.py", title="Evaluation", icon=":material/analytics:"),
        st.Page("pages/compare.py", title="Compare runs", icon=":material/compare_arrows:"),
    ]
    pages = {
        "Label": [
            st.Page("pages/label.py", title=LABEL_PAGE_TITLE, icon=":material/keyboard:", default=True),
            st.Page("pages/table.py", title="Table", icon=":material/table_rows:"),
            st.Page("pages/check.py", title="Check labels", icon=":material/fact_check:"),
        ],
        "Model": model,
    }
    if admin:
        pages["Data"] = [st.Page("pages/data.py", title="Import & export", icon=":material/upload_file:")]
        pages["Team"] = [st.Page("pages/team.py", title="Assignments & agreement", icon=":material/groups:"),
                         st.Page("pages/users.py", title="Users & audit log", icon=":material/group:")]
    return pages


actor = signed_in()
hand_over_cookie()  # a pending login ticket (or sign-out) reaches the browser in this run
if actor is None:
    # Signed out, only one page exists: the first-admin screen on a database without accounts, else sign-in.
    gate = (st.Page("pages/login.py", title="Sign in", icon=":material/login:", default=True) if has_users(get_db())
            else st.Page("pages/first_admin.py", title="Create the first admin", icon=":material/person_add:",
                         default=True))
    st.navigation([gate], position="hidden").run()
    st.stop()

navigation = st.navigation(pages_for(actor))

with st.sidebar:
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
        # Only admins decide disagreements (and only they see them on Check labels).
        conflicts = len(label_conflicts(get_db(), project.id)) if actor.may(Permission.adjudicate) else 0
        if conflicts:
            st.caption(f"Moderators disagree on **{conflicts}** sentence(s): decide them on **Check labels**.")
    st.divider()
    blur_choice(actor)
    with st.container(key="signed-in"):
        st.caption(f"Signed in as **{safe_text(actor.name)}** · {actor.role.value}")
        if st.button("Sign out", key="sign-out", icon=":material/logout:"):
            sign_out()
            st.rerun()

navigation.run()
