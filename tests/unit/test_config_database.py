"""DATABASE_URL: SQLite by default, PostgreSQL through psycopg 3, anything else refused without
showing a password."""
from __future__ import annotations

import pytest

from core.config import Settings
from core.errors import ConfigError
from db.engine import normalise_url


def test_sqlite_is_the_default_in_data_dir(tmp_path):
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'app.db'}" and not settings.is_postgres


@pytest.mark.parametrize("url", ["postgresql+psycopg://app:secret@db:5432/teach", "postgresql://app@db/teach"])
def test_postgresql_urls_are_taken(tmp_path, url):
    settings = Settings.from_env({"DATA_DIR": str(tmp_path), "DATABASE_URL": url})
    assert settings.is_postgres and settings.sqlite_path is None
    assert normalise_url(url).startswith("postgresql+psycopg://")


def test_another_database_is_refused_and_the_message_hides_the_password(tmp_path):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"DATA_DIR": str(tmp_path), "DATABASE_URL": "mysql://root:hunter22@db/teach"})
    assert "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB" in str(refused.value)
    assert "hunter22" not in str(refused.value) and "mysql://root:***@db/teach" in str(refused.value)
