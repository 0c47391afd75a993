"""First start: no account exists yet, so the person who installed the app creates the first admin.

There are no default credentials and no self-signup: once an account exists this page is never
offered again, and core refuses a second "first" admin.
"""
from __future__ import annotations

import streamlit as st

from core.accounts import MIN_PASSWORD, create_first_admin
from core.errors import AppError
from ui.auth import sign_in
from ui.common import get_db, show_error

_, middle, _ = st.columns([1, 1.4, 1])
with middle:
    st.header("Welcome")
    st.markdown(
        "This app has no accounts yet. Create the **first admin**: the account that adds moderators, "
        "imports data and trains models. You will be signed in and taken to the demo project."
    )
    with st.form("first-admin", border=True):
        name = st.text_input("Your name", key="first_name", autocomplete="username",
                             help="Letters, digits and . _ - @ ' +; it is recorded with every label you give.")
        password = st.text_input("Password", type="password", key="first_password", autocomplete="new-password",
                                 help=f"At least {MIN_PASSWORD} characters; a few words are easier to remember.")
        again = st.text_input("The same password again", type="password", key="first_again",
                              autocomplete="new-password")
        submitted = st.form_submit_button("Create the admin and sign in", type="primary", icon=":material/person_add:")
    if submitted:
        if password != again:
            show_error("The two passwords differ; type them again.")
        else:
            try:
                user = create_first_admin(get_db(), name, password)
            except AppError as error:
                show_error(error)
            else:
                sign_in(user)
                st.rerun()
    with st.container(key="first-admin-note"):
        st.caption("More accounts: the **Users & audit log** page once you are in, or "
                   "`python -m core users add NAME --role moderator`.")
