from __future__ import annotations

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WORKER_AUTOSTART", "0")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("MODELS_DIR", raising=False)
    st.cache_resource.clear()  # settings and the database handle are per process; each test has its own
    yield tmp_path
    st.cache_resource.clear()


@pytest.fixture
def make_app(app_env):
    def _make(page: str | None = None, user: str = "tester") -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.query_params["user"] = user
        at.run()
        if page:
            at.switch_page(page)
            at.run()
        assert not at.exception, at.exception
        return at

    return _make
