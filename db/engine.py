"""Engines and sessions with each database's concurrency rules applied.

SQLite: two engines share one file: reads use deferred transactions (WAL lets them run beside a
writer), writes use BEGIN IMMEDIATE so a transaction takes the write lock up front and waits on the
busy timeout instead of failing later with "database is locked" when it tries to upgrade a read lock.

PostgreSQL (psycopg 3): READ COMMITTED; every write transaction first takes one transaction-level
advisory lock, so writes run one at a time as on SQLite. Core's write functions check and then write
("one queued-or-running run per project", "the last admin stays admin") and rely on that; reads never
wait for it. The worker's claim also selects FOR UPDATE SKIP LOCKED.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

BUSY_TIMEOUT_MS = 30_000
# How long a new PostgreSQL connection keeps trying while the server is down or starting up: a restart
# (pg_ctl restart -m fast) takes 1-2 s here, and without this the worker's heartbeat and progress writes in
# that gap fail (tests/slow/test_faults.py). Longer outages still fail, after this wait.
RECONNECT_SECONDS = 15.0


# Any constant: the one advisory lock key this app's write transactions share on PostgreSQL.
WRITE_LOCK_KEY = 0x7465616368  # "teach"


def normalise_url(url: str) -> str:
    """postgresql:// means psycopg 3 here (SQLAlchemy would otherwise look for psycopg2)."""
    return "postgresql+psycopg://" + url[len("postgresql://"):] if url.startswith("postgresql://") else url


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def _make_postgres_engine(url: str, immediate: bool) -> Engine:
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    reached = [False]

    @event.listens_for(engine, "do_connect")
    def _connect_patiently(dialect, _record, cargs, cparams):  # noqa: ANN001
        # Patient only once the server has been reached: then a failure is an outage (a restart) worth
        # waiting for. A first connection fails at once, so a wrong URL, password or database name is
        # reported without delay (psycopg gives these no SQLSTATE to tell them from a refused connection).
        deadline = time.monotonic() + RECONNECT_SECONDS
        while True:
            try:
                connection = dialect.loaded_dbapi.connect(*cargs, **cparams)
                reached[0] = True
                return connection
            except dialect.loaded_dbapi.OperationalError:
                if not reached[0] or time.monotonic() > deadline:
                    raise
                time.sleep(0.25)

    if immediate:
        @event.listens_for(engine, "begin")
        def _on_begin(conn):  # noqa: ANN001
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
    return engine


def _make_engine(url: str, immediate: bool) -> Engine:
    if is_postgres(url):
        return _make_postgres_engine(url, immediate)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        # Let SQLAlchemy emit BEGIN itself (pysqlite's own transaction handling would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """The pair of engines for one database URL."""

    def __init__(self, url: str) -> None:
        url = normalise_url(url)
        self.url = url
        self.dialect = "postgresql" if is_postgres(url) else "sqlite"
        self.read_engine = _make_engine(url, immediate=False)
        self.write_engine = _make_engine(url, immediate=True)
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A short write transaction: commits on success, rolls back on any error."""
        with self._write() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.read_engine.dispose()
        self.write_engine.dispose()


@lru_cache(maxsize=8)
def get_database(url: str) -> Database:
    """One Database per URL per process; engines are thread-safe, sessions are not shared."""
    return Database(url)
