"""Local accounts: create, sign in (rate-limited per name), disable, reset a password, list.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile). A
failed sign-in always says the same thing, whether the name is unknown, the password wrong or the
account disabled; an unknown name is checked against a dummy hash so that it takes as long.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.audit import record
from core.errors import AccountExists, AuthenticationFailed, InvalidInput, LoginLocked, NotFound, SetupAlreadyDone
from core.permissions import Actor, Permission, Role, require
from db.engine import Database
from db.models import AuditAction, LoginThrottle, User, WebSession, utcnow

NAME_PATTERN = re.compile(r"[\w.@'+-]+(?: [\w.@'+-]+)*")  # words, no leading/trailing/double spaces
MAX_NAME = 50
# Names the app itself writes as annotators (imports, the demo, the CLI): a person cannot take them.
RESERVED_NAMES = frozenset({"cli", "demo", "import", "system"})
MIN_PASSWORD = 8  # NIST SP 800-63B's minimum; no composition rules
MAX_PASSWORD = 1024
FAILURES_BEFORE_LOCK = 5
FIRST_LOCK = timedelta(minutes=1)  # doubles with each further failure
LONGEST_LOCK = timedelta(hours=1)

_hasher = PasswordHasher()  # parameters only: safe to share


@dataclass(frozen=True)
class UserInfo:
    id: int
    name: str
    role: Role
    disabled: bool
    created_at: datetime
    created_by: str
    last_login_at: datetime | None

    @property
    def actor(self) -> Actor:
        return Actor(name=self.name, role=self.role)


def _info(user: User) -> UserInfo:
    return UserInfo(user.id, user.name, user.role, user.disabled, user.created_at, user.created_by,
                    user.last_login_at)


def name_key(name: str) -> str:
    return name.strip().casefold()


def _valid_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("An account needs a name, e.g. sam.")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"A name has at most {MAX_NAME} characters; {name[:20]!r}… has {len(name)}.")
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            f"{name!r} is not a usable name: use letters, digits and . _ - @ ' + (single spaces between words)."
        )
    if name_key(name) in RESERVED_NAMES:
        raise InvalidInput(f"{name!r} is kept for the app's own records; pick another name.")
    return name


def _valid_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise InvalidInput(f"A password needs at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"A password has at most {MAX_PASSWORD} characters.")
    return password


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidInput(f"{role!r} is not a role; use admin or moderator.") from None


def _add_user(session: Session, name: str, role: Role, password: str, created_by: str) -> User:
    if session.scalar(select(User.id).where(User.name_key == name_key(name))) is not None:
        raise AccountExists(f"There is already an account named {name!r} (names ignore case); pick another name.")
    user = User(name=name, name_key=name_key(name), role=role, password_hash=_hasher.hash(password),
                created_at=utcnow(), created_by=created_by)
    session.add(user)
    session.flush()
    return user


def has_users(db: Database) -> bool:
    with db.read() as session:
        return session.scalar(select(User.id).limit(1)) is not None


def create_first_admin(db: Database, name: str, password: str) -> UserInfo:
    """The first account, made from the first-start screen; refused once any account exists, so the
    screen cannot be used to add an admin later (there is no self-signup)."""
    name, password = _valid_name(name), _valid_password(password)
    with db.write() as session:  # BEGIN IMMEDIATE: two browsers racing here make one admin, not two
        if session.scalar(select(User.id).limit(1)) is not None:
            raise SetupAlreadyDone("The first admin already exists: sign in, or ask an admin for an account.")
        user = _add_user(session, name, Role.admin, password, created_by=name)
        record(session, name, AuditAction.first_admin, f"{name} (admin) created on the first-start screen")
        return _info(user)


def create_user(db: Database, actor: Actor, name: str, role: Role | str, password: str) -> UserInfo:
    require(actor, Permission.manage_users)
    name, role, password = _valid_name(name), _role(role), _valid_password(password)
    with db.write() as session:
        user = _add_user(session, name, role, password, created_by=actor.name)
        record(session, actor, AuditAction.user_created, f"{name} ({role.value})")
        return _info(user)


def list_users(db: Database, actor: Actor) -> list[UserInfo]:
    require(actor, Permission.manage_users)
    with db.read() as session:
        return [_info(u) for u in session.scalars(select(User).order_by(User.name_key))]


def _user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name_key == name_key(name)))
    if user is None:
        raise NotFound(f"No account named {name!r}; `users list` shows them.")
    return user


def end_sessions(session: Session, user_id: int, reason: str) -> int:
    ended = 0
    for web_session in session.scalars(select(WebSession).where(WebSession.user_id == user_id,
                                                                 WebSession.ended_at.is_(None))):
        web_session.ended_at, web_session.end_reason = utcnow(), reason
        ended += 1
    return ended


def _enabled_admins(session: Session) -> int:
    return session.scalar(select(func.count()).where(User.role == Role.admin, User.disabled.is_(False))) or 0


def disable_user(db: Database, actor: Actor, name: str) -> UserInfo:
    """Refuse sign-in from now on and end the account's open sessions; its labels stay as they are."""
    require(actor, Permission.manage_users)
    with db.write() as session:
        user = _user(session, name)
        if user.name_key == name_key(actor.name):
            raise InvalidInput("You cannot disable your own account; ask another admin.")
        if user.role == Role.admin and not user.disabled and _enabled_admins(session) <= 1:
            raise InvalidInput(f"{user.name} is the only admin left; make another admin first.")
        if not user.disabled:
            user.disabled = True
            ended = end_sessions(session, user.id, "account disabled")
            record(session, actor, AuditAction.user_disabled, f"{user.name} ({ended} open session(s) ended)")
        return _info(user)


def enable_user(db: Database, actor: Actor, name: str) -> UserInfo:
    require(actor, Permission.manage_users)
    with db.write() as session:
        user = _user(session, name)
        if user.disabled:
            user.disabled = False
            session.execute(LoginThrottle.__table__.delete().where(LoginThrottle.name_key == user.name_key))
            record(session, actor, AuditAction.user_enabled, user.name)
        return _info(user)


def reset_password(db: Database, actor: Actor, name: str, password: str) -> UserInfo:
    """Set a new password; the account's open sessions end and a lock-out on its name is lifted."""
    require(actor, Permission.manage_users)
    password = _valid_password(password)
    with db.write() as session:
        user = _user(session, name)
        user.password_hash = _hasher.hash(password)
        ended = end_sessions(session, user.id, "password reset")
        session.execute(LoginThrottle.__table__.delete().where(LoginThrottle.name_key == user.name_key))
        record(session, actor, AuditAction.password_reset, f"{user.name} ({ended} open session(s) ended)")
        return _info(user)


def set_role(db: Database, actor: Actor, name: str, role: Role | str) -> UserInfo:
    """Make an account an admin or a moderator. Its open sessions end, so the new role (and its
    navigation) applies from its next sign-in. The last enabled admin, and you yourself, stay admin."""
    require(actor, Permission.manage_users)
    role = _role(role)
    with db.write() as session:
        user = _user(session, name)
        if user.role == role:
            return _info(user)
        if user.name_key == name_key(actor.name):
            raise InvalidInput("You cannot change your own role; ask another admin.")
        if user.role == Role.admin and not user.disabled and _enabled_admins(session) <= 1:
            raise InvalidInput(f"{user.name} is the only admin left; make another admin first.")
        before = user.role
        user.role = role
        ended = end_sessions(session, user.id, "role changed")
        record(session, actor, AuditAction.role_changed,
               f"{user.name}: {before.value} -> {role.value} ({ended} open session(s) ended)")
        return _info(user)


@cache
def _dummy_hash() -> str:
    return _hasher.hash("not a password anyone has")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def lock_for(failures: int) -> timedelta | None:
    """How long a name is locked after this many failures in a row: none for the first few, then
    one minute, doubling, at most an hour."""
    if failures < FAILURES_BEFORE_LOCK:
        return None
    return min(FIRST_LOCK * 2 ** (failures - FAILURES_BEFORE_LOCK), LONGEST_LOCK)


def _locked_message(until: datetime, now: datetime) -> str:
    minutes = max(1, -(-int((until - now).total_seconds()) // 60))
    return (f"Too many wrong attempts for this name: try again in {minutes} minute{'s' if minutes > 1 else ''}, "
            "or ask an admin to reset the password.")


def authenticate(db: Database, name: str, password: str, now: datetime | None = None) -> UserInfo:
    """The account for this name and password, or AuthenticationFailed ("Wrong name or password.")
    for an unknown name, a wrong password and a disabled account alike; LoginLocked while the name
    is locked after repeated failures (for unknown names too, so a lock-out reveals nothing)."""
    now = now or utcnow()
    key = name_key(name or "")[:100]
    with db.read() as session:
        throttle = session.get(LoginThrottle, key)
        if throttle is not None and throttle.locked_until is not None and throttle.locked_until > now:
            raise LoginLocked(_locked_message(throttle.locked_until, now))
        user = session.scalar(select(User).where(User.name_key == key)) if key else None
    # Hashing outside any transaction: it takes tens of milliseconds and SQLite has one writer.
    matches = _verify(user.password_hash if user is not None else _dummy_hash(), password or "")
    ok = matches and user is not None and not user.disabled
    with db.write() as session:
        throttle = session.get(LoginThrottle, key)
        if ok:
            if throttle is not None:
                session.delete(throttle)
            stored = session.get(User, user.id)
            stored.last_login_at = now
            if _hasher.check_needs_rehash(stored.password_hash):
                stored.password_hash = _hasher.hash(password)
            return _info(stored)
        if throttle is None:
            throttle = LoginThrottle(name_key=key, failures=0)
            session.add(throttle)
        throttle.failures += 1
        throttle.last_failure_at = now
        lock = lock_for(throttle.failures)
        throttle.locked_until = now + lock if lock is not None else None
    raise AuthenticationFailed()


def active_user(db: Database, name: str) -> UserInfo | None:
    """The enabled account with this name (any case), for an identity asserted by an OIDC provider."""
    with db.read() as session:
        user = session.scalar(select(User).where(User.name_key == name_key(name), User.disabled.is_(False)))
        return None if user is None else _info(user)
