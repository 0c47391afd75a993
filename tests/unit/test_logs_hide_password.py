"""The database password never reaches a log: under docker compose `core init` and every worker print
the database they use to the containers' logs, which `docker compose logs` shows to anyone who may run
it (the compose check found both printing `teach:change-me@postgres`)."""
from __future__ import annotations

import argparse
import logging

import core.worker
from core.cli import cmd_init
from core.config import Settings

URL = "postgresql+psycopg://teach:s3cret-pw@postgres:5432/teach"
SHOWN = "postgresql+psycopg://teach:***@postgres:5432/teach"


def _settings(tmp_path) -> Settings:
    return Settings.from_env({"DATABASE_URL": URL, "DATA_DIR": str(tmp_path), "MODELS_DIR": str(tmp_path / "models")})


def test_init_prints_the_database_without_its_password(tmp_path, capsys):
    assert cmd_init(argparse.Namespace(demo=False), _settings(tmp_path), None) == 0
    assert capsys.readouterr().out == f"database ready: {SHOWN}\n"


class _IdleWorker:
    id = "host-1-abc123"

    def __init__(self, settings, db) -> None:
        pass

    def run_forever(self, exit_when_idle: bool) -> None:
        pass


def test_the_worker_logs_the_database_without_its_password(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(core.worker, "TrainingWorker", _IdleWorker)
    with caplog.at_level(logging.INFO, logger=core.worker.log.name):
        assert core.worker.main(_settings(tmp_path), None, once=True) == 0
    assert caplog.messages == [f"worker host-1-abc123 polling {SHOWN}"]
