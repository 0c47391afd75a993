"""AppTest: the sign-in gate, the first-admin screen, navigation per role, and the Users page."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.accounts import authenticate, disable_user
from core.audit import audit_log
from core.demo import DEMO_CONTENT_NOTE, DEMO_PROJECT_NAME
from core.permissions import CLI_ACTOR
from tests.app.conftest import PASSWORD, account
from tests.conftest import ROOT
from ui.auth import TOKEN_KEY
from ui.common import get_db

ADMIN_PAGES = ["label", "table", "check", "train", "predictions", "evaluation", "compare", "data", "team", "users"]
MODERATOR_PAGES = ["label", "table", "check", "predictions", "evaluation", "compare"]


def registered_pages(at: AppTest) -> list[str]:
    """The pages st.navigation was given in the latest run, by file name (AppTest has no public view of them)."""
    return [Path(info["script_path"]).stem for info in at._registered_pages.values()]


def signed_out_app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(password)
    at.button(key="FormSubmitter:sign-in-Sign in").click().run()
    assert not at.exception, at.exception
    return at


def error_texts(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_a_first_start_offers_only_the_first_admin_screen(app_env, through_the_frame):
    at = signed_out_app()
    assert registered_pages(at) == ["first_admin"]
    assert [t.label for t in at.text_input] == ["Your name", "Password", "The same password again"]
    assert not at.sidebar.selectbox  # no project picker, no pages, no data before signing in


def test_creating_the_first_admin_signs_in_to_the_demo_project(app_env, through_the_frame):
    at = signed_out_app()
    at.text_input(key="first_name").input("Ada")
    at.text_input(key="first_password").input(PASSWORD)
    at.text_input(key="first_again").input(PASSWORD)
    at.button(key="FormSubmitter:first-admin-Create the admin and sign in").click().run()
    assert not at.exception, at.exception
    assert registered_pages(at) == ADMIN_PAGES
    picker = at.sidebar.selectbox(key="project_select")
    assert picker.format_func(picker.value) == DEMO_PROJECT_NAME
    assert "Signed in as **Ada** · admin" in [c.value for c in at.sidebar.caption]
    assert [m.value for m in at.markdown][:1] == ["#### Before you start"]
    assert [t.value for t in at.text] == [DEMO_CONTENT_NOTE]
    at.button(key="content-note-ok").click().run()
    assert at.session_state["current_id"] is not None  # the Label page serves its first sentence
    assert authenticate(get_db(), "ada", PASSWORD).name == "Ada"


def test_the_first_admin_screen_refuses_two_different_passwords(app_env, through_the_frame):
    at = signed_out_app()
    at.text_input(key="first_name").input("Ada")
    at.text_input(key="first_password").input(PASSWORD)
    at.text_input(key="first_again").input(PASSWORD + "!")
    at.button(key="FormSubmitter:first-admin-Create the admin and sign in").click().run()
    assert error_texts(at) == ["The two passwords differ; type them again\\."]
    assert registered_pages(at) == ["first_admin"]


def test_with_accounts_a_signed_out_session_sees_only_the_sign_in_page(app_env, through_the_frame):
    account("Ada")
    at = signed_out_app()
    assert registered_pages(at) == ["login"]
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/train.py")


def test_a_wrong_password_and_an_unknown_name_get_the_same_message(app_env, through_the_frame):
    account("Ada")
    wrong_password = error_texts(sign_in(signed_out_app(), "Ada", "not the password"))
    unknown_name = error_texts(sign_in(signed_out_app(), "Nobody", PASSWORD))
    assert wrong_password == unknown_name == ["Wrong name or password\\."]


def test_a_disabled_account_cannot_sign_in_and_gets_the_same_message(app_env, through_the_frame):
    account("Ada")
    account("sam", "moderator")
    disable_user(get_db(), CLI_ACTOR, "sam")
    at = sign_in(signed_out_app(), "sam", PASSWORD)
    assert error_texts(at) == ["Wrong name or password\\."]
    assert registered_pages(at) == ["login"]


def test_the_right_password_signs_in_and_sign_out_ends_it(app_env, through_the_frame):
    account("Ada")
    at = sign_in(signed_out_app(), "Ada", PASSWORD)
    assert error_texts(at) == []
    assert registered_pages(at) == ADMIN_PAGES
    assert "Signed in as **Ada** · admin" in [c.value for c in at.sidebar.caption]
    ended = at.session_state[TOKEN_KEY]
    at.sidebar.button(key="sign-out").click().run()
    assert registered_pages(at) == ["login"]
    assert TOKEN_KEY not in at.session_state
    at.session_state[TOKEN_KEY] = ended  # the ended session stays ended, whoever holds its token
    at.run()
    assert registered_pages(at) == ["login"]


def test_five_wrong_passwords_lock_the_name_for_a_while(app_env, through_the_frame):
    account("Ada")
    at = signed_out_app()
    for _ in range(5):
        sign_in(at, "Ada", "not the password")
    sign_in(at, "Ada", PASSWORD)
    assert error_texts(at) == [
        "Too many wrong attempts for this name\\: try again in 1 minute, or ask an admin to reset the password\\."]
    assert registered_pages(at) == ["login"]


def test_a_moderator_s_navigation_lacks_train_import_and_users(make_app, through_the_frame):
    at = make_app(user="sam", role="moderator")
    assert registered_pages(at) == MODERATOR_PAGES
    for page in ("pages/train.py", "pages/data.py", "pages/team.py", "pages/users.py"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)
    assert "Signed in as **sam** · moderator" in [c.value for c in at.sidebar.caption]


@pytest.mark.parametrize("page, permission", [
    ("pages/train.py", "train models"), ("pages/data.py", "import files"), ("pages/users.py", "manage accounts"),
    ("pages/team.py", "assign sentences to moderators")])
def test_an_admin_page_run_for_a_moderator_refuses_to_render(make_app, page, permission):
    # The navigation never runs these for a moderator (above, and by URL in the browser test); should
    # one run anyway (AppTest runs a page file alone from its second run on), it shows only a refusal.
    at = make_app(user="sam", role="moderator")
    at.run()
    at.switch_page(page).run()
    assert not at.exception
    assert [e.value.replace("\\", "") for e in at.error] == [
        f"Only an admin can {permission}; you are signed in as 'sam', a moderator."]
    assert not at.button and not at.text_input


def test_an_admin_s_navigation_has_them(make_app, through_the_frame):
    at = make_app()
    assert registered_pages(at) == ADMIN_PAGES


def test_a_moderator_labels_under_their_account_name(make_app, through_the_frame):
    from core.labeling import history

    at = make_app(user="sam", role="moderator")
    first = at.session_state["current_id"]
    at.button(key="label-1").click().run()
    assert [(a.annotator, a.label) for a in history(get_db(), first)] == [("sam", 1)]


def test_a_moderator_sees_no_bulk_accept_and_no_threshold_buttons(make_app, through_the_frame):
    from core.projects import get_project
    from tests.helpers import fake_succeeded_run

    at = make_app(user="sam", role="moderator")
    fake_succeeded_run(get_db(), get_project(get_db(), DEMO_PROJECT_NAME).id, 1, lambda s: 0.8, activate=True)
    at.switch_page("pages/predictions.py").run()
    assert not [e for e in at.expander if e.label == "Bulk accept confident predictions"]
    at.switch_page("pages/evaluation.py").run()
    assert not at.exception
    keys = {b.key for b in at.button}
    assert not keys & {"eval_use_target", "eval_save_threshold", "eval_clear_threshold"}


def test_the_users_page_adds_disables_and_resets_and_shows_the_audit_log(make_app, through_the_frame):
    at = make_app("pages/users.py", user="Ada")
    at.text_input(key="add_name").input("sam")
    at.text_input(key="add_password").input(PASSWORD)
    at.button(key="FormSubmitter:add-user-Add account").click().run()
    assert [s.value for s in at.success] == ["Added moderator sam."]
    users = at.dataframe[0].value
    assert list(users["name"]) == ["Ada", "sam"] and list(users["role"]) == ["admin", "moderator"]

    at.selectbox(key="change_name").select("sam").run()
    at.button(key="disable-user").click().run()
    assert [s.value for s in at.success] == ["sam is disabled; their open sessions have ended."]
    assert list(at.dataframe[0].value["status"]) == ["active", "disabled"]

    at.text_input(key="reset_password").input("a fresh long password")
    at.button(key="FormSubmitter:reset-password-Reset password").click().run()
    assert [s.value for s in at.success] == ["New password set for sam; their open sessions have ended."]

    assert at.button(key="set-role").label == "Make admin"
    at.button(key="set-role").click().run()
    assert [s.value for s in at.success] == ["sam is now an admin; their open sessions have ended."]
    assert list(at.dataframe[0].value["role"]) == ["admin", "admin"]
    at.selectbox(key="change_name").select("Ada").run()
    at.button(key="set-role").click().run()  # not oneself
    assert error_texts(at) == ["You cannot change your own role; ask another admin\\."]

    audit = at.dataframe[1].value
    assert list(audit["action"])[:4] == ["role changed", "password reset", "user disabled", "user created"]
    assert set(audit["who"][:4]) == {"Ada"}
    rows, total = audit_log(get_db(), CLI_ACTOR)
    assert total == len(audit)


def test_the_users_page_shows_why_an_account_cannot_be_added(make_app, through_the_frame):
    at = make_app("pages/users.py", user="Ada")
    at.text_input(key="add_name").input("ADA")
    at.text_input(key="add_password").input(PASSWORD)
    at.button(key="FormSubmitter:add-user-Add account").click().run()
    assert error_texts(at) == [
        "There is already an account named 'ADA' \\(names ignore case\\); pick another name\\."]


def test_an_idle_session_ends_and_shows_the_sign_in_page(app_env, through_the_frame, monkeypatch):
    from datetime import timedelta

    from db.models import WebSession, utcnow

    monkeypatch.setenv("SESSION_IDLE_MINUTES", "5")
    account("Ada")
    at = sign_in(signed_out_app(), "Ada", PASSWORD)
    assert registered_pages(at) == ADMIN_PAGES
    with get_db().write() as session:
        session.query(WebSession).update({"last_seen_at": utcnow() - timedelta(minutes=6)})
    at.run()
    assert registered_pages(at) == ["login"]
    with get_db().read() as session:
        assert [s.end_reason for s in session.query(WebSession)] == ["idle"]


OIDC_SECRETS = {"auth": {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
                         "client_id": "teach", "client_secret": "s",
                         "server_metadata_url": "https://id.example.org/.well-known/openid-configuration"}}


def oidc_app(email: str | None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.secrets.update(OIDC_SECRETS)
    at.user = {"is_logged_in": email is not None, "email": email}
    at.run()
    assert not at.exception, at.exception
    return at


def test_an_identity_provider_sign_in_maps_to_the_account_of_that_e_mail(app_env, through_the_frame):
    account("Ada")
    account("sam@example.org", "moderator")
    at = oidc_app("SAM@example.org")
    assert registered_pages(at) == MODERATOR_PAGES
    assert "Signed in as **sam\u2060@example\\.org** · moderator" in [c.value for c in at.sidebar.caption]


def test_an_identity_without_an_account_is_told_to_ask_an_admin(app_env, through_the_frame):
    account("Ada")
    at = oidc_app("eve@example.org")
    assert registered_pages(at) == ["login"]
    assert [w.value for w in at.warning] == [
        "Your organisation signed you in as eve\u2060@example\\.org, but no account here has that name. Ask an admin to "
        "add it, then sign in again."]


def test_the_sign_in_page_offers_the_identity_provider_when_one_is_configured(app_env, through_the_frame):
    account("Ada")
    at = oidc_app(None)
    assert at.button(key="sign-in-oidc").label == "Sign in with your organisation's account"
    assert not [b for b in signed_out_app().button if b.key == "sign-in-oidc"]  # and not otherwise
