"""Signed-in browsers: a random token per sign-in, kept server-side as a row, carried by the browser
in an HttpOnly cookie signed with the installation's secret.

How the cookie gets there: the sign-in form runs inside Streamlit's websocket, which cannot set an
HttpOnly cookie, so it hands the page a one-time login ticket (signed, valid for a minute), and the
page posts the ticket to the app's own `/account/session` route (server.py), which answers with the
cookie. A reload then reads the cookie (`st.context.cookies`) and this module resolves it.

A session ends on logout, after `SESSION_IDLE_MINUTES` without a request, when its account is
disabled or its password reset. Ending is a row update, so it holds in every open tab at once.
"""
from __future__ import annotations

import hashlib
import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer
from sqlalchemy import select

from core.config import Settings
from core.permissions import Actor
from db.engine import Database
from db.models import User, WebSession, utcnow

COOKIE_NAME = "teach_session"
TOKEN_BYTES = 32
TICKET_MAX_AGE_SECONDS = 60
# last_seen_at is written at most this often, not on every rerun: SQLite has one writer.
TOUCH_EVERY = timedelta(seconds=30)
SECRET_FILE = "secret_key"


def signing_secret(settings: Settings) -> str:
    """SECRET_KEY, else a random key generated once into DATA_DIR/secret_key (mode 0600)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.data_dir) / SECRET_FILE
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: of two processes starting at once, one writes the key and both read that one.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="ascii").strip()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def start_session(db: Database, user_id: int) -> str:
    """A new signed-in session for this account; returns its token (shown to nobody, stored hashed)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    with db.write() as session:
        session.add(WebSession(token_hash=_hash(token), user_id=user_id, created_at=now, last_seen_at=now))
    return token


def resolve_session(db: Database, token: str | None, idle: timedelta, now: datetime | None = None) -> Actor | None:
    """The signed-in actor for a session token, or None when it is unknown, ended, idle too long, or
    its account is disabled. Touches the session so that use keeps it alive."""
    if not token:
        return None
    now = now or utcnow()
    key = _hash(token)
    with db.read() as session:
        row = session.execute(
            select(WebSession, User).join(User, User.id == WebSession.user_id).where(WebSession.token_hash == key)
        ).first()
    if row is None:
        return None
    web_session, user = row
    if web_session.ended_at is not None:
        return None
    expired = now - web_session.last_seen_at > idle
    if expired or user.disabled or now - web_session.last_seen_at >= TOUCH_EVERY:
        with db.write() as session:
            stored = session.get(WebSession, key)
            if stored.ended_at is None:
                if expired or user.disabled:
                    stored.ended_at, stored.end_reason = now, "idle" if expired else "account disabled"
                else:
                    stored.last_seen_at = now
    if expired or user.disabled:
        return None
    return Actor(name=user.name, role=user.role)


def end_session(db: Database, token: str | None, reason: str = "logout") -> None:
    if not token:
        return
    with db.write() as session:
        stored = session.get(WebSession, _hash(token))
        if stored is not None and stored.ended_at is None:
            stored.ended_at, stored.end_reason = utcnow(), reason


def login_ticket(secret: str, token: str) -> str:
    return URLSafeTimedSerializer(secret, salt="login-ticket").dumps(token)


def redeem_ticket(db: Database, secret: str, ticket: str) -> str | None:
    """The cookie value for a fresh, unspent login ticket whose session is still open; None otherwise.
    A ticket works once, so one copied from a page's source is worthless a moment later."""
    try:
        token = URLSafeTimedSerializer(secret, salt="login-ticket").loads(ticket, max_age=TICKET_MAX_AGE_SECONDS)
    except BadSignature:  # also SignatureExpired
        return None
    if not isinstance(token, str):
        return None
    with db.write() as session:
        stored = session.get(WebSession, _hash(token))
        if stored is None or stored.ended_at is not None or stored.cookie_issued:
            return None
        stored.cookie_issued = True
    return Signer(secret, salt="session-cookie").sign(token).decode("ascii")


def token_from_cookie(secret: str, value: str | None) -> str | None:
    """The session token inside a cookie this installation signed; None for anything else."""
    if not value:
        return None
    try:
        return Signer(secret, salt="session-cookie").unsign(value).decode("ascii")
    except (BadSignature, UnicodeError):
        return None
