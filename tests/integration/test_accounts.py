"""Accounts, sign-in, rate limiting, sessions and the audit log, on a real SQLite file."""
from __future__ import annotations

import stat
from datetime import timedelta

import pytest

from core.accounts import (
    authenticate,
    create_first_admin,
    create_user,
    disable_user,
    enable_user,
    has_users,
    list_users,
    lock_for,
    reset_password,
)
from core.audit import audit_log
from core.config import Settings
from core.errors import (
    AccountExists,
    AuthenticationFailed,
    InvalidInput,
    LoginLocked,
    NotFound,
    PermissionDenied,
    SetupAlreadyDone,
)
from core.permissions import Actor, Role
from core.sessions import (
    end_session,
    login_ticket,
    redeem_ticket,
    resolve_session,
    signing_secret,
    start_session,
    token_from_cookie,
)
from db.models import AuditAction, utcnow

PASSWORD = "correct horse battery"
IDLE = timedelta(minutes=60)


@pytest.fixture
def admin(db) -> Actor:
    return create_first_admin(db, "Ada", PASSWORD).actor


def test_first_admin_only_on_an_empty_database(db):
    assert not has_users(db)
    ada = create_first_admin(db, "Ada", PASSWORD)
    assert (ada.name, ada.role, ada.disabled) == ("Ada", Role.admin, False)
    with pytest.raises(SetupAlreadyDone, match="The first admin already exists"):
        create_first_admin(db, "Eve", PASSWORD)
    assert has_users(db)


def test_names_are_unique_ignoring_case(db, admin):
    create_user(db, admin, "sam", "moderator", PASSWORD)
    with pytest.raises(AccountExists, match="There is already an account named 'SAM'"):
        create_user(db, admin, "SAM", "moderator", PASSWORD)


@pytest.mark.parametrize("name, message", [
    ("", "An account needs a name"),
    ("a" * 51, "at most 50 characters"),
    ("<b>x</b>", "is not a usable name"),
    ("two  spaces", "is not a usable name"),
    ("Import", "kept for the app's own records"),
])
def test_unusable_names_are_refused(db, admin, name, message):
    with pytest.raises(InvalidInput, match=message):
        create_user(db, admin, name, "moderator", PASSWORD)


def test_short_password_and_unknown_role_are_refused(db, admin):
    with pytest.raises(InvalidInput, match="at least 8 characters"):
        create_user(db, admin, "sam", "moderator", "short")
    with pytest.raises(InvalidInput, match="'owner' is not a role"):
        create_user(db, admin, "sam", "owner", PASSWORD)


def test_the_password_is_stored_as_an_argon2id_hash(db, admin):
    from db.models import User

    with db.read() as session:
        stored = session.query(User).one().password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_sign_in_with_any_case_of_the_name_records_the_time(db, admin):
    user = authenticate(db, "ADA", PASSWORD)
    assert (user.name, user.role) == ("Ada", Role.admin)
    assert user.last_login_at is not None


def test_a_failed_sign_in_says_the_same_for_every_reason(db, admin):
    create_user(db, admin, "sam", "moderator", PASSWORD)
    disable_user(db, admin, "sam")
    messages = []
    for name, password in [("nobody", PASSWORD), ("Ada", "wrong password"), ("sam", PASSWORD), ("", "")]:
        with pytest.raises(AuthenticationFailed) as caught:
            authenticate(db, name, password)
        assert type(caught.value) is AuthenticationFailed
        messages.append(str(caught.value))
    assert messages == ["Wrong name or password."] * 4


def test_five_failures_lock_the_name_even_for_the_right_password(db, admin):
    now = utcnow()
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            authenticate(db, "Ada", "wrong password", now=now)
    with pytest.raises(LoginLocked, match="Too many wrong attempts for this name: try again in 1 minute,"):
        authenticate(db, "Ada", PASSWORD, now=now + timedelta(seconds=30))
    assert authenticate(db, "Ada", PASSWORD, now=now + timedelta(seconds=61)).name == "Ada"


def test_the_lock_grows_with_each_further_failure_and_stops_at_an_hour():
    assert [lock_for(n) for n in (4, 5, 6, 7)] == [None, timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    assert lock_for(30) == timedelta(hours=1)


def test_the_sixth_failure_locks_for_two_minutes(db, admin):
    now = utcnow()
    for i in range(6):
        with pytest.raises(AuthenticationFailed):
            authenticate(db, "Ada", "wrong password", now=now + timedelta(minutes=2 * i))
    with pytest.raises(LoginLocked, match="try again in 2 minutes"):
        authenticate(db, "Ada", PASSWORD, now=now + timedelta(minutes=10, seconds=1))


def test_an_unknown_name_locks_like_a_real_one(db, admin):
    now = utcnow()
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            authenticate(db, "mallory", "guess", now=now)
    with pytest.raises(LoginLocked, match="try again in 1 minute"):
        authenticate(db, "mallory", "guess", now=now)


def test_a_success_clears_the_failure_count(db, admin):
    now = utcnow()
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            authenticate(db, "Ada", "wrong password", now=now)
    authenticate(db, "Ada", PASSWORD, now=now)
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            authenticate(db, "Ada", "wrong password", now=now)
    assert authenticate(db, "Ada", PASSWORD, now=now).name == "Ada"  # 4 + 4 failures, never 5 in a row


def test_reset_password_lifts_a_lock_and_ends_open_sessions(db, admin):
    sam = create_user(db, admin, "sam", "moderator", PASSWORD)
    token = start_session(db, sam.id)
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            authenticate(db, "sam", "wrong password")
    reset_password(db, admin, "sam", "a new long password")
    assert resolve_session(db, token, IDLE) is None
    with pytest.raises(AuthenticationFailed):
        authenticate(db, "sam", PASSWORD)
    assert authenticate(db, "sam", "a new long password").name == "sam"


def test_disabling_ends_sessions_and_enabling_lets_the_account_back_in(db, admin):
    sam = create_user(db, admin, "sam", "moderator", PASSWORD)
    token = start_session(db, sam.id)
    assert resolve_session(db, token, IDLE) == Actor("sam", Role.moderator)
    assert disable_user(db, admin, "Sam").disabled
    assert resolve_session(db, token, IDLE) is None
    enable_user(db, admin, "sam")
    assert authenticate(db, "sam", PASSWORD).name == "sam"
    assert resolve_session(db, token, IDLE) is None  # an ended session stays ended


def test_an_admin_cannot_disable_themself_or_the_last_admin(db, admin):
    with pytest.raises(InvalidInput, match="You cannot disable your own account"):
        disable_user(db, admin, "ada")
    create_user(db, admin, "Bea", "admin", PASSWORD)
    bea = Actor("Bea", Role.admin)
    disable_user(db, bea, "Ada")
    create_user(db, bea, "Cy", "admin", PASSWORD)
    disable_user(db, bea, "Cy")
    with pytest.raises(InvalidInput, match="You cannot disable your own account"):
        disable_user(db, bea, "Bea")


def test_the_last_enabled_admin_cannot_be_disabled_by_another_admin_actor(db, admin):
    # The CLI acts as an admin without an account: it must not lock everybody out either.
    from core.permissions import CLI_ACTOR

    with pytest.raises(InvalidInput, match="Ada is the only admin left; make another admin first."):
        disable_user(db, CLI_ACTOR, "Ada")


def test_unknown_account(db, admin):
    with pytest.raises(NotFound, match="No account named 'ghost'"):
        disable_user(db, admin, "ghost")


def test_list_users_sorted_by_name(db, admin):
    create_user(db, admin, "zoe", "moderator", PASSWORD)
    create_user(db, admin, "Bob", "admin", PASSWORD)
    assert [(u.name, u.role.value) for u in list_users(db, admin)] == [
        ("Ada", "admin"), ("Bob", "admin"), ("zoe", "moderator")]


@pytest.mark.parametrize("call", [
    lambda db, who: create_user(db, who, "x1", "moderator", PASSWORD),
    lambda db, who: disable_user(db, who, "Ada"),
    lambda db, who: enable_user(db, who, "Ada"),
    lambda db, who: reset_password(db, who, "Ada", "another password"),
    lambda db, who: list_users(db, who),
    lambda db, who: audit_log(db, who),
], ids=["create_user", "disable_user", "enable_user", "reset_password", "list_users", "audit_log"])
def test_a_moderator_cannot_manage_accounts(db, admin, call):
    with pytest.raises(PermissionDenied, match="Only an admin can .*; you are signed in as 'sam', a moderator."):
        call(db, Actor("sam", Role.moderator))


def test_account_actions_are_in_the_audit_log(db, admin):
    create_user(db, admin, "sam", "moderator", PASSWORD)
    disable_user(db, admin, "sam")
    reset_password(db, admin, "sam", "another password")
    rows, total = audit_log(db, admin)
    assert total == 4
    assert [(r.actor, r.action, r.details) for r in rows] == [
        ("Ada", AuditAction.password_reset, "sam (0 open session(s) ended)"),
        ("Ada", AuditAction.user_disabled, "sam (0 open session(s) ended)"),
        ("Ada", AuditAction.user_created, "sam (moderator)"),
        ("Ada", AuditAction.first_admin, "Ada (admin) created on the first-start screen"),
    ]


# -- sessions ---------------------------------------------------------------------------------------

def test_a_session_ends_after_the_idle_time_and_use_keeps_it_alive(db, admin):
    ada = authenticate(db, "Ada", PASSWORD)
    token = start_session(db, ada.id)
    start = utcnow()
    assert resolve_session(db, token, IDLE, now=start + timedelta(minutes=50)) == Actor("Ada", Role.admin)
    assert resolve_session(db, token, IDLE, now=start + timedelta(minutes=100)) == Actor("Ada", Role.admin)
    assert resolve_session(db, token, IDLE, now=start + timedelta(minutes=161)) is None
    assert resolve_session(db, token, IDLE, now=start + timedelta(minutes=162)) is None  # ended, not revived


def test_logout_ends_the_session(db, admin):
    token = start_session(db, authenticate(db, "Ada", PASSWORD).id)
    end_session(db, token)
    assert resolve_session(db, token, IDLE) is None


def test_unknown_tokens_sign_nobody_in(db, admin):
    assert resolve_session(db, "made-up", IDLE) is None
    assert resolve_session(db, "", IDLE) is None


def test_a_login_ticket_gives_a_signed_cookie_once(db, admin):
    secret = "s" * 40
    token = start_session(db, authenticate(db, "Ada", PASSWORD).id)
    ticket = login_ticket(secret, token)
    cookie = redeem_ticket(db, secret, ticket)
    assert cookie is not None and token_from_cookie(secret, cookie) == token
    assert redeem_ticket(db, secret, ticket) is None
    assert token_from_cookie("another secret, just as long as it must be", cookie) is None
    assert token_from_cookie(secret, token) is None  # an unsigned token is not a cookie


def test_a_ticket_for_an_ended_session_or_forged_gives_nothing(db, admin):
    secret = "s" * 40
    token = start_session(db, authenticate(db, "Ada", PASSWORD).id)
    ticket = login_ticket(secret, token)
    end_session(db, token)
    assert redeem_ticket(db, secret, ticket) is None
    assert redeem_ticket(db, secret, "garbage") is None
    assert redeem_ticket(db, secret, login_ticket("x" * 40, token)) is None


def test_the_signing_secret_is_made_once_with_owner_only_access(settings):
    first = signing_secret(settings)
    assert len(first) >= 32 and signing_secret(settings) == first
    mode = stat.S_IMODE((settings.data_dir / "secret_key").stat().st_mode)
    assert mode == 0o600


def test_secret_key_from_the_environment_wins(tmp_path):
    settings = Settings.from_env({"DATA_DIR": str(tmp_path), "SECRET_KEY": "k" * 32})
    assert signing_secret(settings) == "k" * 32
    assert not (tmp_path / "secret_key").exists()
