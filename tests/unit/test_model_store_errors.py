"""What a run's error says when the new version cannot be written into MODELS_DIR, or the database
cannot be reached (core/model_store.py `writing_into`, core/worker.py `_plain_error`)."""
from __future__ import annotations

import errno
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from core.errors import ModelStoreUnwritable
from core.model_store import writing_into
from core.worker import _plain_error

MODELS = Path("/srv/teach/models")
UNCHANGED = "Nothing of the new version was kept; the active version is unchanged."


def _message_for(error: Exception) -> str:
    with pytest.raises(ModelStoreUnwritable) as raised, writing_into(MODELS):
        raise error
    assert raised.value.__cause__ is error
    return str(raised.value)


def test_a_full_disk_names_models_dir_and_says_to_free_space():
    assert _message_for(OSError(errno.ENOSPC, "No space left on device", "/srv/teach/models/x")) == (
        "No space left on the disk of MODELS_DIR (/srv/teach/models) to save the new version. "
        f"Free some space there or give it a larger disk, then retrain. {UNCHANGED}")


def test_a_full_disk_inside_safetensors_own_error_is_recognised():
    class SafetensorError(Exception):  # what safetensors raises (not an OSError), with the OS error in its text
        pass

    message = _message_for(SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)"))
    assert message.startswith("No space left on the disk of MODELS_DIR (/srv/teach/models) to save the new version.")


def test_a_read_only_models_dir_says_to_make_it_writable():
    assert _message_for(OSError(errno.EROFS, "Read-only file system")) == (
        "MODELS_DIR (/srv/teach/models) is read-only, so the new version could not be saved. Make it writable "
        f"(remount it read-write, or set MODELS_DIR to a writable folder), then retrain. {UNCHANGED}")


def test_no_permission_says_to_give_the_worker_write_access():
    assert _message_for(PermissionError(errno.EACCES, "Permission denied")) == (
        "The worker may not write in MODELS_DIR (/srv/teach/models). Give the account the worker runs as "
        f"write access to it, then retrain. {UNCHANGED}")


def test_another_os_error_gives_its_reason():
    assert _message_for(OSError(errno.EIO, "Input/output error")) == (
        "The new version could not be written into MODELS_DIR (/srv/teach/models): Input/output error. "
        f"Check that folder and its disk, then retrain. {UNCHANGED}")


def test_an_error_that_is_not_about_the_disk_passes_through_unchanged():
    with pytest.raises(ValueError, match="^bad head$"), writing_into(MODELS):
        raise ValueError("bad head")


def test_a_database_outage_during_a_run_says_to_check_the_server():
    error = OperationalError("UPDATE training_runs ...", {}, Exception("connection refused"))
    assert _plain_error(error) == (
        "The database could not be reached during the run (its server was restarted or is down), so the run "
        "stopped. Check that the database server is running, then retrain. The active version is unchanged.")


def test_a_locked_sqlite_database_is_not_called_an_outage():
    error = OperationalError("UPDATE training_runs ...", {}, Exception("database is locked"))
    assert _plain_error(error) == (
        "The database stayed locked by another process for longer than its busy timeout, so the run stopped. "
        "Retrain; if it happens again, look for a long job writing to the same database (a backup, an import, "
        "a second app on the same file). The active version is unchanged.")
