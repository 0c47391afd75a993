"""docker-compose.yml, the multi-machine path, read as Docker Compose reads it (running it needs a Docker
daemon: scripts/compose_check.sh, outside ./test.sh): the services the README promises, one database and one
models volume shared by the app and every worker, workers that can be scaled, and paths the image's user
can write."""
from __future__ import annotations

import re

import yaml

from core.config import Settings
from tests.conftest import ROOT


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def _env(service: dict) -> dict[str, str]:
    env = service["environment"]  # YAML merge keys (<<: *database) are already resolved by safe_load
    return {k: str(v) for k, v in env.items()}


def test_app_worker_and_postgres_share_one_database_and_one_models_volume():
    services = _compose()["services"]
    assert set(services) == {"app", "worker", "postgres"}
    app, worker = _env(services["app"]), _env(services["worker"])
    assert app["DATABASE_URL"] == worker["DATABASE_URL"]
    assert app["DATABASE_URL"].startswith("postgresql+psycopg://teach:") and "@postgres:5432/teach" in app["DATABASE_URL"]
    assert app["MODELS_DIR"] == worker["MODELS_DIR"] == "/models"
    assert "models:/models" in services["app"]["volumes"] and "models:/models" in services["worker"]["volumes"]
    assert set(_compose()["volumes"]) == {"pgdata", "models", "appdata"}
    # The app does not start a worker of its own: the worker service trains.
    assert app["WORKER_AUTOSTART"] == "0"
    # Both wait for a healthy database; the database and the app have health checks.
    for name in ("app", "worker"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"][1]
    assert "/_stcore/health" in services["app"]["healthcheck"]["test"][-1]


def test_the_worker_can_be_scaled():
    # `docker compose up --scale worker=3` refuses a service with a fixed container name or host port.
    worker = _compose()["services"]["worker"]
    assert "ports" not in worker and "container_name" not in worker
    assert worker["command"] == [".venv/bin/python", "-m", "core", "worker"]
    assert worker["image"] == _compose()["services"]["app"]["image"]  # built once, by the app service


def test_the_worker_turns_off_the_images_web_health_check():
    # The Dockerfile's HEALTHCHECK polls port 8501, which only the app serves: a worker inheriting it
    # would be reported unhealthy while it trains correctly.
    assert "HEALTHCHECK" in (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert _compose()["services"]["worker"]["healthcheck"] == {"disable": True}


def test_the_database_url_is_one_the_app_accepts():
    url = _env(_compose()["services"]["app"])["DATABASE_URL"].replace("${POSTGRES_PASSWORD:-change-me}", "pw")
    settings = Settings.from_env({"DATABASE_URL": url, "DATA_DIR": "/tmp/unused", "MODELS_DIR": "/models"})
    assert settings.database_url == "postgresql+psycopg://teach:pw@postgres:5432/teach"


def test_the_image_creates_every_volume_mount_point_for_its_user():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    created = re.search(r"mkdir -p ([^&]+)&& chown app:app ([^\n\\]+)", dockerfile)
    assert created is not None
    mounts = {volume.split(":", 1)[1] for name in ("app", "worker") for volume in _compose()["services"][name]["volumes"]}
    assert mounts == {"/models", "/data"}
    assert mounts <= set(created.group(1).split()) and mounts <= set(created.group(2).split())


def test_the_official_images_stay_the_defaults():
    # Stand-ins (scripts/compose_check.sh) are opt-in through variables; without them Compose pulls and
    # builds from the official images, and the app and every worker share one build.
    services = _compose()["services"]
    assert services["postgres"]["image"] == "${POSTGRES_IMAGE:-postgres:16}"
    assert services["app"]["build"] == services["worker"]["build"] == {
        "context": ".",
        "args": {"BASE_IMAGE": "${BASE_IMAGE:-python:3.11-slim}", "PIP_EXTRA_INDEX_URL": "${PIP_EXTRA_INDEX_URL:-}"},
    }
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "ARG BASE_IMAGE=python:3.11-slim\nFROM ${BASE_IMAGE}\n" in dockerfile


def test_the_build_time_package_index_is_not_kept_in_the_image():
    # compose_check.sh builds against an index on the build machine's localhost; as an ENV that address
    # stayed in every container's environment. An ARG reaches the RUN steps only.
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert 'ARG PIP_EXTRA_INDEX_URL=""\n' in dockerfile
    env_lines = [line for line in dockerfile.replace("\\\n", " ").splitlines() if line.startswith("ENV ")]
    assert env_lines and not any("PIP_EXTRA_INDEX_URL" in line for line in env_lines)
