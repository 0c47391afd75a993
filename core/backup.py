"""Backups: one .tar file with the database, the model folders of kept versions and a manifest.

    manifest.json          schema revision, created_at, database kind, counts, SHA-256 of every file
    manifest.sha256        the manifest's own SHA-256, so a damaged manifest is named as such
    database/app.db        SQLite: a copy made with the online backup API (one self-contained file)
    database/app.pgdump    PostgreSQL: `pg_dump --format=custom`
    models/<run id>/...    MODELS_DIR/<run id>/ of every run whose model is kept

Consistency while the app and a worker write: the database copy is one snapshot (SQLite's backup API
copies in a single step under a WAL read snapshot, which never blocks writers; PostgreSQL's pg_dump
reads a snapshot exported by our own REPEATABLE READ transaction). Which model folders to include is
read from that same snapshot, and a folder is published whole (core/model_store.py renames a fully
written one into place), so every version the copied database knows has its files. The one later change
to a published folder is the idle worker adding onnx/ (core/worker.export_deferred_if_due); the run row
switches to ONNX only after that export, so a backup taken during it restores a version that scores with
torch, and the restored worker exports it again.

Uncompressed tar: model weights do not compress, and the pg_dump is compressed already.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from glob import glob
from pathlib import Path, PurePosixPath

from core.config import Settings, redact_url
from core.errors import BackupFailed, BackupIntegrityError, ModelIntegrityError, NotFound, RestoreRefused
from db.engine import Database

FORMAT = 1
MANIFEST = "manifest.json"
MANIFEST_SUM = "manifest.sha256"
DB_MEMBER = {"sqlite": "database/app.db", "postgresql": "database/app.pgdump"}
MODELS_PREFIX = "models/"

# A model folder is kept for a succeeded run, and for a running one that has published its model and is
# scoring every sentence (a worker resumes that scoring, core/runs.resumable_scoring).
_KEPT_MODELS_SQL = ("SELECT id, model_dir, head_sha256 FROM training_runs "
                    "WHERE model_dir IS NOT NULL AND status IN ('succeeded', 'running') ORDER BY id")


@dataclass(frozen=True)
class BackupCounts:
    projects: int
    sentences: int
    annotations: int
    runs: int
    model_folders: int


@dataclass(frozen=True)
class BackedUpFile:
    sha256: str
    size: int


@dataclass(frozen=True)
class BackupManifest:
    schema_revision: str
    created_at: str
    database: str  # sqlite | postgresql
    counts: BackupCounts
    model_runs: tuple[int, ...]  # the run ids whose folders are under models/
    active_runs: tuple[int, ...]  # the projects' active versions at backup time
    files: dict[str, BackedUpFile]
    format: int = FORMAT

    def to_json(self) -> bytes:
        payload = {
            "format": self.format, "schema_revision": self.schema_revision, "created_at": self.created_at,
            "database": self.database, "counts": self.counts.__dict__, "model_runs": list(self.model_runs),
            "active_runs": list(self.active_runs),
            "files": {name: {"sha256": f.sha256, "size": f.size} for name, f in sorted(self.files.items())},
        }
        return json.dumps(payload, indent=2).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, source: Path) -> "BackupManifest":
        try:
            raw = json.loads(data)
            return cls(
                format=int(raw["format"]), schema_revision=str(raw["schema_revision"]),
                created_at=str(raw["created_at"]), database=str(raw["database"]),
                counts=BackupCounts(**raw["counts"]), model_runs=tuple(int(r) for r in raw["model_runs"]),
                active_runs=tuple(int(r) for r in raw["active_runs"]),
                files={name: BackedUpFile(str(f["sha256"]), int(f["size"])) for name, f in raw["files"].items()},
            )
        except (ValueError, KeyError, TypeError) as error:
            raise BackupIntegrityError(f"{source}: {MANIFEST} cannot be read ({error}); the file is damaged. "
                                       "Use another backup.") from None

    @property
    def database_member(self) -> str:
        return DB_MEMBER[self.database]


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    manifest: BackupManifest
    missing_models: tuple[int, ...]  # versions (not active) whose folder was already gone: not in the backup


@dataclass(frozen=True)
class RestoreResult:
    manifest: BackupManifest
    restored_models: tuple[int, ...]
    migrated: bool  # the backup's schema was older and has been brought to this app's


@dataclass(frozen=True)
class _Snapshot:
    """What the copied database holds, read in the copy's own snapshot."""

    schema_revision: str
    counts: BackupCounts
    kept_models: tuple[tuple[int, str, str | None], ...]  # (run id, model_dir, head sha256)
    active_runs: tuple[int, ...]


def _read_snapshot(query: Callable[[str], Sequence[tuple]]) -> _Snapshot:
    def count(table: str) -> int:
        return int(query(f"SELECT count(*) FROM {table}")[0][0])

    kept = tuple((int(i), str(d), h) for i, d, h in query(_KEPT_MODELS_SQL))
    return _Snapshot(
        schema_revision=str(query("SELECT version_num FROM alembic_version")[0][0]),
        counts=BackupCounts(projects=count("projects"), sentences=count("sentences"),
                            annotations=count("annotations"), runs=count("training_runs"), model_folders=0),
        kept_models=kept,
        active_runs=tuple(sorted(int(r[0]) for r in query(
            "SELECT active_run_id FROM projects WHERE active_run_id IS NOT NULL"))),
    )


# -- PostgreSQL client tools ---------------------------------------------------------------------------

def pg_tool(name: str) -> str:
    """pg_dump / pg_restore: from PATH, else the newest of Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[-3]))
    if versions:
        return versions[-1]
    raise BackupFailed(f"{name} is not installed; install the PostgreSQL client "
                       "(`apt-get install postgresql-client`, the same major version as the server or newer).")


def _run_pg_tool(name: str, url: str, args: list[str]) -> None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    host = parsed.host or parsed.query.get("host")
    connection = [f"--host={host}"] if host else []
    connection += [f"--port={parsed.port}"] if parsed.port else []
    connection += [f"--username={parsed.username}"] if parsed.username else []
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = parsed.password  # never on the command line, where `ps` shows it
    database = [f"--dbname={parsed.database}"] if name == "pg_restore" else [str(parsed.database)]
    command = [pg_tool(name), *connection, *args, *database]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupFailed(f"{name} failed on {redact_url(url)}: {last}")


# -- backup --------------------------------------------------------------------------------------------

def _copy_sqlite(settings: Settings, work: Path) -> tuple[Path, _Snapshot]:
    source = settings.sqlite_path
    if source is None or not source.is_file():
        raise BackupFailed(f"No SQLite database file at {source}; check DATA_DIR and DATABASE_URL.")
    copy = work / "app.db"
    with closing(sqlite3.connect(source, timeout=30)) as src, closing(sqlite3.connect(copy)) as dst:
        src.backup(dst)  # pages=-1: one step, so one consistent snapshot
        dst.execute("PRAGMA journal_mode=DELETE")  # a single file, no -wal beside it
    with closing(sqlite3.connect(copy)) as conn:
        return copy, _read_snapshot(lambda sql: conn.execute(sql).fetchall())


def _dump_postgres(settings: Settings, db: Database, work: Path) -> tuple[Path, _Snapshot]:
    dump = work / "app.pgdump"
    with db.read_engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot_id = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            snapshot = _read_snapshot(lambda sql: conn.exec_driver_sql(sql).fetchall())
            # pg_dump reads the snapshot this transaction exported: the dump and the list of model
            # folders above describe the same moment. The transaction must stay open until it is done.
            _run_pg_tool("pg_dump", db.url, ["--format=custom", f"--snapshot={snapshot_id}", f"--file={dump}"])
    return dump, snapshot


class _HashingReader:
    def __init__(self, handle) -> None:  # noqa: ANN001 - a binary file
        self.handle, self.digest = handle, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        return data


def _add_file(tar: tarfile.TarFile, path: Path, name: str) -> BackedUpFile:
    info = tar.gettarinfo(str(path), arcname=name)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    with path.open("rb") as handle:
        reader = _HashingReader(handle)
        tar.addfile(info, reader)  # hashed as it is written: each file is read once
    return BackedUpFile(reader.digest.hexdigest(), info.size)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(datetime.now().timestamp()), 0o644
    tar.addfile(info, io.BytesIO(data))


def create_backup(settings: Settings, db: Database, output: Path) -> BackupResult:
    """Write the backup to `output` (first as `output.partial`, renamed when complete, so an interrupted
    backup never looks like a finished one)."""
    output = Path(output).expanduser().resolve()
    if output.is_dir():
        raise BackupFailed(f"{output} is a folder; give a file name, e.g. {output / 'teach-backup.tar'}.")
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    try:
        with tempfile.TemporaryDirectory(prefix=".backup-", dir=output.parent) as work:
            if db.dialect == "postgresql":
                dump, snapshot = _dump_postgres(settings, db, Path(work))
            else:
                dump, snapshot = _copy_sqlite(settings, Path(work))
            files: dict[str, BackedUpFile] = {}
            model_runs, missing = [], []
            with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
                files[DB_MEMBER[db.dialect]] = _add_file(tar, dump, DB_MEMBER[db.dialect])
                for run_id, model_dir, _head in snapshot.kept_models:
                    folder = Path(model_dir)
                    if not folder.is_dir():
                        if run_id in snapshot.active_runs:
                            raise BackupFailed(
                                f"The active model of run {run_id} is missing ({folder}); no backup was written. "
                                "Mount MODELS_DIR as the workers see it, or activate another version.")
                        missing.append(run_id)
                        continue
                    for file in sorted(folder.rglob("*")):
                        if file.is_file() and not file.is_symlink():
                            name = f"{MODELS_PREFIX}{run_id}/{file.relative_to(folder).as_posix()}"
                            files[name] = _add_file(tar, file, name)
                    model_runs.append(run_id)
                counts = BackupCounts(**{**snapshot.counts.__dict__, "model_folders": len(model_runs)})
                manifest = BackupManifest(
                    schema_revision=snapshot.schema_revision,
                    created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    database=db.dialect, counts=counts, model_runs=tuple(model_runs),
                    active_runs=snapshot.active_runs, files=files)
                data = manifest.to_json()
                _add_bytes(tar, MANIFEST, data)
                _add_bytes(tar, MANIFEST_SUM, hashlib.sha256(data).hexdigest().encode("ascii") + b"\n")
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupResult(output, output.stat().st_size, manifest, tuple(missing))


# -- verify --------------------------------------------------------------------------------------------

def _safe_member_name(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and name == path.as_posix()


def verify_backup(path: Path) -> BackupManifest:
    """Check every file in the backup against the manifest's SHA-256 and size; change nothing."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"No backup file at {path}.")
    damaged = "the file is damaged or was changed after it was written. Use another backup."
    try:
        with tarfile.open(path, "r:") as tar:
            members = {m.name: m for m in tar.getmembers()}
            for required in (MANIFEST, MANIFEST_SUM):
                if required not in members:
                    raise BackupIntegrityError(f"{path}: has no {required}; it is not a backup made by "
                                               "`python -m core backup`, or it is incomplete.")
            data = tar.extractfile(members[MANIFEST]).read()
            recorded = tar.extractfile(members[MANIFEST_SUM]).read().decode("ascii", "replace").strip()
            if hashlib.sha256(data).hexdigest() != recorded:
                raise BackupIntegrityError(f"{path}: {MANIFEST} does not match its SHA-256; {damaged}")
            manifest = BackupManifest.from_json(data, path)
            if manifest.format != FORMAT or manifest.database not in DB_MEMBER:
                raise BackupIntegrityError(f"{path}: backup format {manifest.format} of a {manifest.database!r} "
                                           "database is not one this app reads; restore it with the app that made it.")
            unlisted = sorted(set(members) - set(manifest.files) - {MANIFEST, MANIFEST_SUM})
            if unlisted:
                raise BackupIntegrityError(f"{path}: {unlisted[0]} is not in the manifest; {damaged}")
            if manifest.database_member not in manifest.files:
                raise BackupIntegrityError(f"{path}: the manifest lists no {manifest.database_member}; {damaged}")
            for name, expected in sorted(manifest.files.items()):
                member = members.get(name)
                if member is None or not member.isfile() or not _safe_member_name(name):
                    raise BackupIntegrityError(f"{path}: {name} is missing; {damaged}")
                digest = hashlib.sha256()
                handle = tar.extractfile(member)
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
                if member.size != expected.size or digest.hexdigest() != expected.sha256:
                    raise BackupIntegrityError(f"{path}: {name} does not match its SHA-256; {damaged}")
    except (tarfile.TarError, EOFError, OSError) as error:
        raise BackupIntegrityError(f"{path}: not a readable backup archive ({error}); {damaged}") from None
    return manifest


# -- restore -------------------------------------------------------------------------------------------

def _known_revisions(url: str) -> list[str]:
    """This app's schema revisions, oldest first."""
    from alembic.script import ScriptDirectory

    from db.migrate import alembic_config

    return [r.revision for r in reversed(list(ScriptDirectory.from_config(alembic_config(url)).walk_revisions()))]


def _existing_content(db: Database) -> dict[str, int]:
    from sqlalchemy import func, select

    from db.models import Project, Sentence, User

    with db.read() as session:
        counts = {"projects": session.scalar(select(func.count()).select_from(Project)),
                  "sentences": session.scalar(select(func.count()).select_from(Sentence)),
                  "accounts": session.scalar(select(func.count()).select_from(User))}
    return {k: int(v or 0) for k, v in counts.items() if v}


def _extract(tar: tarfile.TarFile, name: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tar.extractfile(name) as source, target.open("wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)


def _restore_sqlite(settings: Settings, copy: Path) -> None:
    with closing(sqlite3.connect(copy)) as conn:
        verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
    if verdict != "ok":
        raise BackupIntegrityError(f"The database in the backup fails SQLite's integrity check ({verdict}); "
                                   "use another backup.")
    target = settings.sqlite_path
    if target is None:
        raise RestoreRefused("Restore needs a SQLite database file (DATABASE_URL=sqlite:///PATH), not :memory:.")
    # The backup API again, into the live file: unlike copying the file over it, it takes the write lock
    # and leaves no stale -wal beside the new content.
    with closing(sqlite3.connect(copy)) as src, closing(sqlite3.connect(target, timeout=30)) as dst:
        src.backup(dst)


def _point_runs_at(db: Database, folders: dict[int, Path]) -> None:
    """The database names each model by its absolute folder; after a restore that is this MODELS_DIR."""
    from db.models import TrainingRun

    with db.write() as session:
        for run_id, folder in folders.items():
            run = session.get(TrainingRun, run_id)
            if run is not None:
                run.model_dir = str(folder)


def _check_active_models(db: Database) -> None:
    from sqlalchemy import select

    from core.model_store import verified_model_dir
    from db.models import Project, TrainingRun

    with db.read() as session:
        rows = session.execute(select(Project.name, TrainingRun.version, TrainingRun.model_dir, TrainingRun.head_sha256)
                               .join(TrainingRun, TrainingRun.id == Project.active_run_id)).all()
    for project, version, model_dir, head in rows:
        try:
            verified_model_dir(model_dir, head)
        except (NotFound, ModelIntegrityError) as error:
            raise BackupIntegrityError(
                f"Restored, but the active model of project {project!r} (version {version}) fails its check: "
                f"{error}") from None


def restore_backup(settings: Settings, db: Database, path: Path, force: bool = False) -> RestoreResult:
    """Replace the configured database and its model folders with the backup's, after checking it all."""
    from core.model_store import temp_dir_for
    from core.runs import alive_workers
    from db.migrate import upgrade

    path = Path(path).expanduser().resolve()
    manifest = verify_backup(path)  # before anything is touched
    if manifest.database != db.dialect:
        raise RestoreRefused(
            f"{path} holds a {manifest.database} database and DATABASE_URL is {db.dialect}; restore it into "
            f"a {manifest.database} database (set DATABASE_URL), or export and import the projects instead.")
    revisions = _known_revisions(db.url)
    if manifest.schema_revision not in revisions:
        raise RestoreRefused(
            f"{path} was made by a newer version of the app (schema {manifest.schema_revision}; this one knows "
            f"up to {revisions[-1]}); upgrade the app, then restore.")
    if alive_workers(db, settings.worker_lost_after_seconds):
        raise RestoreRefused(
            "A worker is running on this database; stop the app and every worker first (a stopped worker "
            f"counts as running for WORKER_LOST_AFTER_SECONDS={settings.worker_lost_after_seconds:g} s).")
    content = _existing_content(db)
    if content and not force:
        held = ", ".join(f"{n} {what}" for what, n in content.items())
        raise RestoreRefused(
            f"The database {redact_url(db.url)} is not empty ({held}); a restore replaces all of it. "
            "Restore into an empty DATA_DIR/database, or pass --force to replace it.")

    settings.ensure_dirs()
    staged: dict[int, Path] = {}
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=settings.data_dir) as work:
        try:
            # Everything is unpacked first: a full disk stops the restore before the database is touched.
            with tarfile.open(path, "r:") as tar:
                copy = Path(work) / PurePosixPath(manifest.database_member).name
                _extract(tar, manifest.database_member, copy)
                for run_id in manifest.model_runs:
                    staged[run_id] = temp_dir_for(settings.models_dir, run_id)
                    staged[run_id].mkdir()
                prefix_of = {run_id: f"{MODELS_PREFIX}{run_id}/" for run_id in manifest.model_runs}
                for name in manifest.files:
                    if not name.startswith(MODELS_PREFIX):
                        continue
                    run_id = int(name[len(MODELS_PREFIX):].split("/", 1)[0])
                    _extract(tar, name, staged[run_id] / name[len(prefix_of[run_id]):])
            db.dispose()  # no pooled connection of this process holds the old database open
            if db.dialect == "postgresql":
                # One transaction: a failure leaves the database as it was.
                _run_pg_tool("pg_restore", db.url, ["--clean", "--if-exists", "--no-owner", "--no-privileges",
                                                    "--single-transaction", "--exit-on-error", str(copy)])
            else:
                _restore_sqlite(settings, copy)
        except BaseException:
            for folder in staged.values():
                shutil.rmtree(folder, ignore_errors=True)
            raise
    db.dispose()
    migrated = manifest.schema_revision != revisions[-1]
    if migrated:
        upgrade(settings.database_url)
    restored: dict[int, Path] = {}
    for run_id, folder in staged.items():
        final = settings.models_dir / str(run_id)
        if final.exists():
            shutil.rmtree(final)
        folder.rename(final)
        restored[run_id] = final
    _point_runs_at(db, restored)
    _check_active_models(db)
    return RestoreResult(manifest, tuple(restored), migrated)
