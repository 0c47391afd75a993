"""Model versions on disk: atomic saves, integrity checks, zips. MODELS_DIR/<run id>/ per version."""
from __future__ import annotations

import errno
import hashlib
import io
import shutil
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import ModelIntegrityError, ModelStoreUnwritable, NotFound

HEAD_FILE = "model_head.pkl"
TMP_PREFIX = ".tmp-run-"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def temp_dir_for(models_dir: Path, run_id: int) -> Path:
    models_dir.mkdir(parents=True, exist_ok=True)
    return models_dir / f"{TMP_PREFIX}{run_id}-{uuid.uuid4().hex[:8]}"


def publish(temp_dir: Path, models_dir: Path, run_id: int) -> tuple[Path, str]:
    """Rename a fully written model into place; a crash before this leaves only a temp dir."""
    final = models_dir / str(run_id)
    if final.exists():
        shutil.rmtree(final)
    head_sha = sha256_file(temp_dir / HEAD_FILE)
    temp_dir.rename(final)  # atomic on one filesystem
    return final, head_sha


@contextmanager
def writing_into(models_dir: Path) -> Iterator[None]:
    """Turn a failed write of a new version into a message naming MODELS_DIR and what to do about it.
    The libraries that write the model do not all raise OSError: safetensors raises its own error with the
    OS error inside its text, so a full disk is also recognised there."""
    try:
        yield
    except OSError as error:
        raise ModelStoreUnwritable(_unwritable_message(models_dir, error.errno, error.strerror)) from error
    except Exception as error:  # re-raised as it is unless it is a full disk behind another library's error
        if "No space left on device" in str(error) or "StorageFull" in str(error):
            raise ModelStoreUnwritable(_unwritable_message(models_dir, errno.ENOSPC, None)) from error
        raise


def _unwritable_message(models_dir: Path, code: int | None, reason: str | None) -> str:
    unchanged = "Nothing of the new version was kept; the active version is unchanged."
    if code in (errno.ENOSPC, errno.EDQUOT):
        return (f"No space left on the disk of MODELS_DIR ({models_dir}) to save the new version. "
                f"Free some space there or give it a larger disk, then retrain. {unchanged}")
    if code == errno.EROFS:
        return (f"MODELS_DIR ({models_dir}) is read-only, so the new version could not be saved. Make it "
                f"writable (remount it read-write, or set MODELS_DIR to a writable folder), then retrain. {unchanged}")
    if code in (errno.EACCES, errno.EPERM):
        return (f"The worker may not write in MODELS_DIR ({models_dir}). Give the account the worker runs as "
                f"write access to it, then retrain. {unchanged}")
    return (f"The new version could not be written into MODELS_DIR ({models_dir}): {reason or 'an OS error'}. "
            f"Check that folder and its disk, then retrain. {unchanged}")


def remove_temp_dirs(models_dir: Path, run_ids: list[int] | None = None) -> int:
    """Delete half-written models (of the given runs, or all); returns how many were removed."""
    if not models_dir.is_dir():
        return 0
    removed = 0
    for path in models_dir.glob(f"{TMP_PREFIX}*"):
        run_part = path.name[len(TMP_PREFIX):].split("-")[0]
        if run_ids is None or (run_part.isdigit() and int(run_part) in run_ids):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def verified_model_dir(model_dir: str | None, head_sha256: str | None) -> Path:
    if not model_dir or not Path(model_dir).is_dir():
        raise NotFound(f"The model files are missing ({model_dir}); retrain or restore MODELS_DIR from a backup.")
    path = Path(model_dir)
    if head_sha256 and sha256_file(path / HEAD_FILE) != head_sha256:
        raise ModelIntegrityError(
            f"{path / HEAD_FILE} does not match the checksum recorded when it was trained; "
            "it was changed or corrupted. Retrain, or restore the file from a backup."
        )
    return path


def zip_model(model_dir: Path) -> bytes:
    """A zip whose top folder loads with SetFitModel.from_pretrained(<unzipped folder>)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(model_dir.rglob("*")):
            if file.is_file():
                archive.write(file, Path(model_dir.name) / file.relative_to(model_dir))
    return buffer.getvalue()
