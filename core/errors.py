"""Named errors. Each message says what happened and what to do next; pages show them as they are."""


class AppError(Exception):
    """Base of every error a moderator or operator is meant to read."""


class ConfigError(AppError):
    pass


class NotFound(AppError):
    pass


class ProjectExists(AppError):
    pass


class InvalidInput(AppError):
    pass


class ImportFileError(AppError):
    """The whole file cannot be read (encoding, size, no text column, empty)."""


class TrainingRefused(AppError):
    """A run cannot be queued: too few labels, one class only, or a run already going."""


class RunAlreadyActive(TrainingRefused):
    pass


class NothingChanged(TrainingRefused):
    """The labels and parameters are those of a version already trained: training would repeat it exactly."""


class ModelIntegrityError(AppError):
    """A saved model's files do not match what the run recorded."""


class EvaluationUnavailable(AppError):
    pass


class PermissionDenied(AppError):
    """The signed-in role may not do this (see core/permissions.py)."""


class AuthenticationFailed(AppError):
    """A sign-in was refused. One message for every reason, so it never tells which part was wrong."""

    def __init__(self, message: str = "Wrong name or password.") -> None:
        super().__init__(message)


class LoginLocked(AuthenticationFailed):
    """Too many wrong attempts for one name: sign-in for it is paused for a while."""


class AccountExists(AppError):
    pass


class SetupAlreadyDone(AppError):
    """The first-admin screen is only for a database without accounts."""


class BackupFailed(AppError):
    """A backup could not be written (a missing tool, a missing active model); nothing was left behind."""


class BackupIntegrityError(AppError):
    """A backup file, or what was restored from it, does not match the checksums it recorded."""


class RestoreRefused(AppError):
    """A restore would replace data it should not (a non-empty database, a running worker, another schema)."""


class ModelStoreUnwritable(AppError):
    """A new version could not be written into MODELS_DIR (a full disk, a read-only mount, no permission);
    nothing of it was kept and the active version is unchanged."""
