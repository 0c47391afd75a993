"""SQL that SQLite and PostgreSQL spell differently, written once.

* `json_number(column, index)`: element `index` of a JSON array stored as text, as a float
  (SQLite: json_extract; PostgreSQL: ->> on the text cast to json).
* `count_true(column)`: how many rows have a true boolean (PostgreSQL has no sum(boolean)).
* `upsert(session, model, rows, keys)`: insert rows, replacing those whose primary key exists
  (SQLite: INSERT OR REPLACE; PostgreSQL: ON CONFLICT DO UPDATE).
"""
from __future__ import annotations

from sqlalchemy import Float, Integer, case, func, insert
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


class json_number(FunctionElement):  # noqa: N801 - used like a SQL function
    type = Float()
    inherit_cache = True
    name = "json_number"

    def __init__(self, column, index: int) -> None:  # noqa: ANN001
        self.index = int(index)
        super().__init__(column)


@compiles(json_number)
def _json_number_sqlite(element, compiler, **kw):  # noqa: ANN001
    column = compiler.process(list(element.clauses)[0], **kw)
    return f"json_extract({column}, '$[{element.index}]')"


@compiles(json_number, "postgresql")
def _json_number_postgres(element, compiler, **kw):  # noqa: ANN001
    column = compiler.process(list(element.clauses)[0], **kw)
    return f"CAST((CAST({column} AS json) ->> {element.index}) AS double precision)"


def count_true(column):  # noqa: ANN001
    return func.sum(case((column, 1), else_=0), type_=Integer)


def upsert(session, model, rows: list[dict]) -> None:  # noqa: ANN001
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement = pg_insert(model)
        keys = [c.name for c in model.__table__.primary_key.columns]
        others = {c.name: statement.excluded[c.name] for c in model.__table__.columns if c.name not in keys}
        session.execute(statement.on_conflict_do_update(index_elements=keys, set_=others), rows)
    else:
        session.execute(insert(model).prefix_with("OR REPLACE"), rows)
