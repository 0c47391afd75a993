"""Shared fixtures: every database here is real: a SQLite file (WAL) in a temporary directory, and for
the integration tests also a PostgreSQL database on a throwaway cluster (tests/postgres.py), each
test once per database, when the server binaries are installed (test.sh installs them)."""
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


def pytest_generate_tests(metafunc):
    # The integration tests run against both databases, and so do the slow tests marked both_databases
    # (worker processes training for real); the rest (pages, browser) on SQLite.
    on_both = ("integration" in Path(str(metafunc.definition.path)).parts
               or metafunc.definition.get_closest_marker("both_databases") is not None)
    if "database_kind" in metafunc.fixturenames and on_both:
        from tests import postgres

        kinds = ["sqlite", "postgresql"] if postgres.available() else ["sqlite"]
        metafunc.parametrize("database_kind", kinds, indirect=True)


@pytest.fixture
def database_kind(request) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def postgres_cluster():
    from tests.postgres import Cluster

    cluster = Cluster()
    yield cluster
    cluster.stop()


@pytest.fixture
def settings(tmp_path: Path, database_kind: str, request, monkeypatch) -> Settings:
    env = {"DATA_DIR": str(tmp_path / "data"), "WORKER_AUTOSTART": "0"}
    if database_kind == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_cluster").new_database()
        monkeypatch.setenv("DATABASE_URL", env["DATABASE_URL"])  # for the CLI and workers the test starts
    return Settings.from_env(env)


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
