from __future__ import annotations

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

PASSWORD = "a long enough password"


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WORKER_AUTOSTART", "0")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("MODELS_DIR", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    st.cache_resource.clear()  # settings and the database handle are per process; each test has its own
    yield tmp_path
    st.cache_resource.clear()


def account(name: str, role: str = "admin", password: str = PASSWORD):
    """An account in the test's database, made the way the CLI makes one."""
    from core.accounts import create_user
    from core.permissions import CLI_ACTOR
    from ui.common import get_db

    return create_user(get_db(), CLI_ACTOR, name, role, password)


def signed_in_as(at: AppTest, name: str, role: str = "admin") -> AppTest:
    """Sign `at` in as a new account, as the sign-in page does after a correct password: a session
    row, whose token this tab keeps (AppTest has no browser, so no cookie)."""
    from core.sessions import start_session
    from ui.auth import TOKEN_KEY
    from ui.common import get_db

    at.session_state[TOKEN_KEY] = start_session(get_db(), account(name, role).id)
    return at


def read_the_content_note(at: AppTest) -> AppTest:
    """The demo project's content note comes before its first sentence, once per account: read it."""
    if any(b.key == "content-note-ok" for b in at.button):
        at.button(key="content-note-ok").click().run()
    return at


@pytest.fixture
def make_app(app_env):
    def _make(page: str | None = None, user: str | None = "tester", role: str = "admin") -> AppTest:
        """The app signed in as `user` (an admin unless `role` says otherwise), or signed out with user=None."""
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        if user is not None:
            signed_in_as(at, user, role)
        at.run()
        read_the_content_note(at)
        if page:
            at.switch_page(page)
            at.run()
        assert not at.exception, at.exception
        return at

    return _make


@pytest.fixture
def through_the_frame(monkeypatch):
    """Every AppTest run goes through app.py, as every run does in the server once st.navigation has run.

    AppTest resets Streamlit's "this app has a pages/ folder" flag before each run, so from its second
    run on it runs a page file alone, without the frame: no sign-in gate, no sidebar, no navigation.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
