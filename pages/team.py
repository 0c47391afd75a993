"""Admins: who labels what (assignments with a blind overlap), how much the team agrees, and each
moderator's figures. Disagreements are decided on Check labels."""
from __future__ import annotations

import streamlit as st

from core.accounts import list_users
from core.agreement import moderator_stats, project_agreement
from core.assignments import assign_work, moderator_work, overlap_share
from core.errors import AppError
from core.permissions import Permission
from ui.auth import require_actor
from ui.common import get_db, require_project, safe_text, show_error

actor = require_actor(Permission.assign_work)  # only admins get this page; core checks each action too
project = require_project()
db = get_db()

st.subheader("Assignments")
st.caption("Assigning hands every unlabelled sentence nobody has yet to the moderators you choose, evenly. "
           "The overlap share goes to two of them, blind: neither sees the other's label. Their two labels "
           "measure agreement below; where they differ, you decide on Check labels. Assign again after an "
           "import to hand out the new sentences; sentences already assigned keep their moderators.")
if message := st.session_state.pop("team_done", None):
    st.success(safe_text(message), icon=":material/check_circle:")
try:
    people = [u.name for u in list_users(db, actor) if not u.disabled]
except AppError as error:
    show_error(error)
    st.stop()
with st.form("assign", border=True):
    chosen = st.multiselect("Moderators", people, key="assign-people",
                            default=[u.name for u in list_users(db, actor) if not u.disabled and u.role.value == "moderator"])
    share = st.slider("Overlap: share labelled by two moderators (%)", 0, 100, step=5, key="assign-overlap",
                      value=int(round(overlap_share(db, project.id) * 100)) or 20)
    if st.form_submit_button("Assign unassigned sentences", type="primary", icon=":material/assignment_ind:"):
        try:
            summary = assign_work(db, actor, project.id, chosen, share / 100)
        except AppError as error:
            show_error(error)
        else:
            each = ", ".join(f"{name} {n}" for name, n in summary.per_moderator.items())
            st.session_state["team_done"] = (f"Assigned {summary.assigned} sentences, {summary.doubled} of them to two "
                                             f"moderators ({each}).")
            st.rerun()
work = moderator_work(db, project.id)
if work:
    with st.container(key="work-table"):
        st.dataframe([{"moderator": w.annotator, "assigned": w.assigned, "labelled": w.done, "to go": w.pending}
                      for w in work], hide_index=True, width="stretch")
else:
    st.caption("Nothing assigned in this project yet: every moderator labels from the shared queue.")

st.subheader("Agreement")
result = project_agreement(db, actor, project.id)
if result.n_items == 0:
    st.info("No sentence has labels from two people yet. Assign with an overlap above 0% and let them label.",
            icon=":material/info:")
else:
    cols = st.columns(3)
    cols[0].metric("Krippendorff's alpha", "—" if result.alpha.value is None else f"{result.alpha.value:.2f}",
                   help="Nominal alpha over everyone's labels (the krippendorff package); 1 is perfect "
                        "agreement, 0 what chance gives. Below about 0.67 the guidelines may need work.")
    cols[1].metric("Sentences labelled by two or more", result.n_items)
    cols[2].metric("Disagreements", result.n_disagree)
    with st.container(key="alpha-interval"):
        if result.alpha.low is not None:
            st.caption(f"Alpha 95% interval: {result.alpha.low:.2f} to {result.alpha.high:.2f} "
                       f"(bootstrap over sentences, 1,000 resamples).")
        elif result.alpha.why:
            st.caption(f"Alpha is undefined here: {result.alpha.why}.")
    st.caption("Pairs (Cohen's kappa, scikit-learn), on the sentences both labelled:")
    with st.container(key="pairs-table"):
        st.dataframe([{"moderator A": p.a, "moderator B": p.b, "sentences": p.n_items,
                       "agree": f"{p.observed:.0%}", "Cohen's kappa": "—" if p.kappa.value is None else round(p.kappa.value, 2),
                       "95% interval": "—" if p.kappa.low is None else f"{p.kappa.low:.2f} to {p.kappa.high:.2f}"}
                      for p in result.pairs], hide_index=True, width="stretch")
    if result.n_disagree:
        st.page_link("pages/check.py", label="Decide the disagreements on Check labels", icon=":material/fact_check:")

st.subheader("Moderators")
stats = moderator_stats(db, actor, project.id)
with st.container(key="moderators"):  # always drawn, last: browser tests wait for it
    if not stats:
        st.caption("Nobody has labelled in this project yet.")
    else:
        st.dataframe(
            [{"moderator": s.annotator, "labels": s.labels,
              "seconds per label": "—" if s.seconds_per_label is None else round(s.seconds_per_label, 1),
              "not sure": "—" if s.unsure_share is None else f"{s.unsure_share:.0%}",
              "adjudicated": s.adjudicated,
              "agrees with the decision": "—" if s.agree_with_adjudicated is None else f"{s.agree_with_adjudicated:.0%}"}
             for s in stats], hide_index=True, width="stretch")
        st.caption("Seconds per label: the median time between two labels, pauses over 10 minutes left out. "
                   "Agrees with the decision: of their labels an admin adjudicated, the share the admin chose.")
