"""Sign in with a name and password (or the organisation's identity provider, when one is configured)."""
from __future__ import annotations

import streamlit as st

from core.accounts import authenticate
from core.errors import AuthenticationFailed
from ui.auth import oidc_configured, oidc_identity, sign_in
from ui.common import get_db, safe_text, show_error

_, middle, _ = st.columns([1, 1.2, 1])
with middle:
    st.header("Teach the classifier")
    with st.form("sign-in", border=True):
        st.subheader("Sign in")
        name = st.text_input("Name", key="login_name", autocomplete="username")
        password = st.text_input("Password", type="password", key="login_password", autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
    if submitted:
        try:
            user = authenticate(get_db(), name, password)
        except AuthenticationFailed as refused:  # one message whatever was wrong, or the lock-out
            show_error(refused)
        else:
            sign_in(user)
            st.rerun()
    if identity := oidc_identity():
        # Signed in at the provider, but no enabled account here has that name.
        st.warning(f"Your organisation signed you in as {safe_text(identity)}, but no account here has that "
                   "name. Ask an admin to add it, then sign in again.", icon=":material/badge:")
        st.button("Sign out of your organisation's account", key="sign-out-oidc", on_click=st.logout)
    elif oidc_configured():
        st.button("Sign in with your organisation's account", key="sign-in-oidc", on_click=st.login,
                  icon=":material/badge:")
    with st.container(key="sign-in-note"):
        st.caption("No account yet? Ask an admin of this app to add you.")
