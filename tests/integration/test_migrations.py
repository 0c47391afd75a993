"""The migrations build exactly the schema the models describe (a column added to one but not the
other would pass every other test on a fresh database and fail on an upgraded one)."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from db.models import Base


def test_migrating_an_empty_database_gives_the_models_schema(db):
    with db.read_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
