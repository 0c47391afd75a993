"""The process's handle on the database: migrate once, then hand out the Database."""
from __future__ import annotations

from core.config import Settings
from db.engine import Database, get_database
from db.migrate import upgrade


def open_database(settings: Settings, migrate: bool = True) -> Database:
    settings.ensure_dirs()
    if migrate:
        upgrade(settings.database_url)
    return get_database(settings.database_url)
