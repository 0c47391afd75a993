"""Shared fixtures: every database here is a real SQLite file (WAL) in a temporary directory."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from core.config import Settings  # noqa: E402
from core.db import open_database  # noqa: E402
from core.projects import create_project  # noqa: E402
from tests.helpers import ADMIN  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TEST_OUTPUT = ROOT / "test-output"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"DATA_DIR": str(tmp_path / "data"), "WORKER_AUTOSTART": "0"})


@pytest.fixture
def db(settings: Settings):
    database = open_database(settings)
    yield database
    database.dispose()


@pytest.fixture
def project(db):
    return create_project(db, ADMIN, "test project", ["other", "physical violence"], test_fraction=0.25)


@pytest.fixture(scope="session")
def test_output() -> Path:
    TEST_OUTPUT.mkdir(exist_ok=True)
    return TEST_OUTPUT


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    """argon2id at its real cost takes about 0.25 s a hash on these machines; tests that sign in
    many times use the same algorithm at its lowest cost. Browser tests run the real server, at full cost."""
    from argon2 import PasswordHasher

    monkeypatch.setattr("core.accounts._hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
