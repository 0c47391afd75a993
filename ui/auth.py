"""Who is signed in: the frame builds the navigation from it, pages act as it.

A session is found, in order, from this tab's sign-in (`st.session_state`, server-side), from the
browser's login cookie (read with `st.context.cookies` when the page loads), or from Streamlit's
own OIDC identity (`st.user`) when the deployment configures an identity provider. Each is checked
against the database on every run, so logout, the idle time and a disabled account take effect at
once. See core/sessions.py for how the cookie is made and why.
"""
from __future__ import annotations

import json
from datetime import timedelta

import streamlit as st

from core.accounts import UserInfo, active_user
from core.errors import PermissionDenied
from core.permissions import Actor, Permission, require
from core.sessions import (
    COOKIE_NAME,
    end_session,
    login_ticket,
    resolve_session,
    signing_secret,
    start_session,
    token_from_cookie,
)
from ui.common import get_db, get_settings, safe_text

TOKEN_KEY = "auth_token"  # this tab's session token; session_state lives on the server
TICKET_KEY = "auth_ticket"  # a one-time ticket the next run hands to the browser for its cookie
FORGET_COOKIE_KEY = "auth_forget_cookie"
SESSION_ROUTE = "/account/session"
LOGOUT_ROUTE = "/account/logout"


@st.cache_resource(show_spinner=False)
def _secret() -> str:
    return signing_secret(get_settings())


def _idle() -> timedelta:
    return timedelta(minutes=get_settings().session_idle_minutes)


def oidc_configured() -> bool:
    """An identity provider is set up in .streamlit/secrets.toml ([auth], read by st.login)."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets.toml at all
        return False


def oidc_identity() -> str | None:
    """The e-mail address the identity provider signed in (st.login), if one is configured and did."""
    if not oidc_configured() or not st.user.get("is_logged_in", False):
        return None
    email = st.user.get("email")
    return email if isinstance(email, str) and email else None


def _oidc_actor() -> Actor | None:
    """The enabled account named by the provider's e-mail address: the provider proves who someone
    is, the accounts here say what they may do (an admin adds `users add ada@example.org`)."""
    email = oidc_identity()
    user = active_user(get_db(), email) if email else None
    return None if user is None else user.actor


def signed_in() -> Actor | None:
    db, idle = get_db(), _idle()
    token = st.session_state.get(TOKEN_KEY)
    actor = resolve_session(db, token, idle) if token else None
    if actor is None:
        from_cookie = token_from_cookie(_secret(), st.context.cookies.get(COOKIE_NAME))
        if from_cookie and from_cookie != token:
            actor = resolve_session(db, from_cookie, idle)
            token = from_cookie if actor is not None else None
    if actor is None:
        st.session_state.pop(TOKEN_KEY, None)
        return _oidc_actor()
    st.session_state[TOKEN_KEY] = token
    return actor


def require_actor(permission: Permission | None = None) -> Actor:
    """The signed-in actor, or back to the frame (which shows the sign-in page) when the session ended,
    e.g. after the idle time, while a page or fragment was open. With a permission, a page the
    navigation gives only to admins also refuses to render for anyone else, should it ever be run."""
    actor = signed_in()
    if actor is None:
        st.rerun()
    if permission is not None:
        try:
            require(actor, permission)
        except PermissionDenied as refused:
            st.error(safe_text(str(refused)), icon=":material/lock:")  # it quotes the account name
            st.stop()
    return actor


def sign_in(user: UserInfo) -> None:
    """Start a session for this tab, and have the next run hand the browser a ticket for its cookie."""
    token = start_session(get_db(), user.id)
    st.session_state[TOKEN_KEY] = token
    st.session_state[TICKET_KEY] = login_ticket(_secret(), token)


def sign_out() -> None:
    if st.user.get("is_logged_in", False):
        st.logout()  # the identity provider's session; it reloads the page
    end_session(get_db(), st.session_state.pop(TOKEN_KEY, None))
    token = token_from_cookie(_secret(), st.context.cookies.get(COOKIE_NAME))
    end_session(get_db(), token)
    st.session_state[FORGET_COOKIE_KEY] = True


def hand_over_cookie() -> None:
    """Post a pending ticket to the app's own route, whose answer sets the HttpOnly login cookie (or
    ask it to delete the cookie after a sign-out). The script holds only app-made values, as JSON."""
    ticket = st.session_state.pop(TICKET_KEY, None)
    forget = st.session_state.pop(FORGET_COOKIE_KEY, False)
    if ticket is None and not forget:
        return
    url, body = (SESSION_ROUTE, json.dumps({"ticket": ticket})) if ticket else (LOGOUT_ROUTE, "{}")
    st.html(
        "<script>fetch(" + json.dumps(url) + ", {method: 'POST', credentials: 'same-origin', "
        "headers: {'Content-Type': 'application/json'}, body: " + json.dumps(body) + "});</script>",
        unsafe_allow_javascript=True,
    )
