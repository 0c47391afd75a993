"""A throwaway PostgreSQL cluster for the tests: Debian's server binaries, run as the `postgres` user
in a temporary directory on a free port, trust authentication on 127.0.0.1 only, fsync off.

One cluster per test session; each test gets its own database, copied from a migrated template
(CREATE DATABASE ... TEMPLATE takes a fraction of a second; migrating a fresh one takes seconds).
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from itertools import count
from pathlib import Path

TEMPLATE = "teach_template"


def server_binaries() -> Path | None:
    """The directory of Debian's PostgreSQL server binaries (initdb, pg_ctl), or None if not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def available() -> bool:
    return server_binaries() is not None and shutil.which("runuser") is not None and os.geteuid() == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*args: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, text=True)


class Cluster:
    def __init__(self) -> None:
        bin_dir = server_binaries()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries are missing: `apt-get install postgresql`.")
        self.base = Path(tempfile.mkdtemp(prefix="teach-pg-"))
        shutil.chown(self.base, "postgres", "postgres")
        self.data = self.base / "data"
        self.port = _free_port()
        _as_postgres(str(bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                     "--no-sync", "--locale=C")
        self.pg_ctl = str(bin_dir / "pg_ctl")
        options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        _as_postgres(self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.base / "server.log"), "-w", "start")
        self._numbers = count(1)
        self._template_ready = False

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self) -> str:
        """A fresh, migrated database's URL."""
        if not self._template_ready:
            from db.migrate import upgrade

            self._admin(f"CREATE DATABASE {TEMPLATE}")
            upgrade(self.url(TEMPLATE))
            from sqlalchemy import create_engine

            create_engine(self.url(TEMPLATE)).dispose()
            self._template_ready = True
        name = f"t{next(self._numbers)}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
