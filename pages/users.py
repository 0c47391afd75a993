"""Admins: the team's accounts (add, disable or enable, reset a password) and the audit log."""
from __future__ import annotations

import streamlit as st

from core.accounts import MIN_PASSWORD, create_user, disable_user, enable_user, list_users, reset_password, set_role
from core.audit import AuditAction, audit_log
from core.errors import AppError
from core.permissions import Permission, Role
from ui.auth import require_actor
from ui.common import get_db, safe_text, show_error

actor = require_actor(Permission.manage_users)  # only admins get this page; core checks each action too
db = get_db()
AUDIT_PAGE = 100


def _when(moment) -> str:  # noqa: ANN001 - a datetime or None
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def _flash() -> None:
    if message := st.session_state.pop("users_done", None):  # names in it are escaped where they are put in
        st.success(message, icon=":material/check_circle:")


st.subheader("Accounts")
_flash()
try:
    users = list_users(db, actor)
except AppError as error:
    show_error(error)
    st.stop()
with st.container(key="users-table"):
    st.dataframe(
        [{"name": u.name, "role": u.role.value, "status": "disabled" if u.disabled else "active",
          "last sign-in": _when(u.last_login_at), "created": _when(u.created_at), "created by": u.created_by}
         for u in users],
        hide_index=True, width="stretch",
    )

add_col, change_col = st.columns(2, gap="large")
with add_col, st.form("add-user", clear_on_submit=True, border=True):
    st.markdown("**Add an account**")
    name = st.text_input("Name", key="add_name", autocomplete="off")
    role = st.radio("Role", [Role.moderator, Role.admin], format_func=lambda r: r.value, horizontal=True,
                    key="add_role", help="Moderators label, check and review; admins also import, train and "
                                         "manage accounts.")
    password = st.text_input("Password", type="password", key="add_password", autocomplete="new-password",
                             help=f"At least {MIN_PASSWORD} characters. Give it to them in person.")
    if st.form_submit_button("Add account", type="primary", icon=":material/person_add:"):
        try:
            created = create_user(db, actor, name, role, password)
        except AppError as error:
            show_error(error)
        else:
            st.session_state["users_done"] = f"Added {created.role.value} {safe_text(created.name)}."
            st.rerun()

with change_col, st.container(border=True, key="change-user"):
    st.markdown("**Change an account**")
    names = [u.name for u in users]
    chosen = st.selectbox("Account", names, key="change_name")
    target = next(u for u in users if u.name == chosen)
    buttons = st.container(horizontal=True)
    if target.disabled:
        if buttons.button("Enable", key="enable-user", icon=":material/lock_open:"):
            try:
                enable_user(db, actor, target.name)
            except AppError as error:
                show_error(error)
            else:
                st.session_state["users_done"] = f"{safe_text(target.name)} can sign in again."
                st.rerun()
    elif buttons.button("Disable", key="disable-user", icon=":material/block:",
                        help="They cannot sign in any more and their open sessions end; their labels stay."):
        try:
            disable_user(db, actor, target.name)
        except AppError as error:
            show_error(error)
        else:
            st.session_state["users_done"] = f"{safe_text(target.name)} is disabled; their open sessions have ended."
            st.rerun()
    other_role = Role.admin if target.role == Role.moderator else Role.moderator
    if buttons.button(f"Make {other_role.value}", key="set-role", icon=":material/swap_horiz:",
                      help="Their open sessions end; the new role applies from their next sign-in."):
        try:
            set_role(db, actor, target.name, other_role)
        except AppError as error:
            show_error(error)
        else:
            st.session_state["users_done"] = (f"{safe_text(target.name)} is now {'an' if other_role == Role.admin else 'a'} "
                                              f"{other_role.value}; their open sessions have ended.")
            st.rerun()
    with st.form("reset-password", clear_on_submit=True, border=False):
        new_password = st.text_input("New password", type="password", key="reset_password",
                                     autocomplete="new-password")
        if st.form_submit_button("Reset password", icon=":material/key:"):
            try:
                reset_password(db, actor, target.name, new_password)
            except AppError as error:
                show_error(error)
            else:
                st.session_state["users_done"] = f"New password set for {safe_text(target.name)}; their open sessions have ended."
                st.rerun()

st.subheader("Audit log")
st.caption("Every admin action: accounts, projects, imports, exports, training, model versions, thresholds.")
actions = [None, *AuditAction]
action = st.selectbox("Action", actions, key="audit_action", format_func=lambda a: "all actions" if a is None else a.value)
if st.session_state.get("audit_page_action", "unset") != action:  # another filter starts at the newest entries
    st.session_state.update(audit_page_action=action, audit_page=0)
page = st.session_state["audit_page"]
rows, total = audit_log(db, actor, limit=AUDIT_PAGE, offset=page * AUDIT_PAGE, action=action)
with st.container(key="audit-table"):
    st.dataframe(
        [{"when (UTC)": r.created_at.strftime("%Y-%m-%d %H:%M:%S"), "who": r.actor, "action": r.action.value,
          "project": r.project, "details": r.details} for r in rows],
        hide_index=True, width="stretch",
        column_config={"details": st.column_config.TextColumn(width="large")},
    )
pages = max(1, -(-total // AUDIT_PAGE))
nav = st.container(horizontal=True)
if nav.button("Newer", disabled=page == 0, key="audit_newer"):
    st.session_state["audit_page"] = page - 1
    st.rerun()
nav.caption(f"Page {page + 1} of {pages} · {total} entries")
if nav.button("Older", disabled=page >= pages - 1, key="audit_older"):
    st.session_state["audit_page"] = page + 1
    st.rerun()
