"""SQLAlchemy 2.0 models. The database is the truth; the UI only keeps view state."""
from __future__ import annotations

import enum
from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Split(str, enum.Enum):
    train = "train"
    test = "test"


class RunStatus(str, enum.Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def is_active(self) -> bool:
        return self in (RunStatus.queued, RunStatus.running)


class RunKind(str, enum.Enum):
    train = "train"  # a model version
    learning_curve = "learning_curve"  # accuracy on growing shares of the labels; keeps no model
    label_check = "label_check"  # suspects from models trained on the other folds; keeps no model


class AnnotationSource(str, enum.Enum):
    """Where a labelling act came from."""

    ui = "ui"  # the Label page, one sentence at a time
    table = "table"  # several labels saved at once from the Table page
    imported = "import"  # a file import
    review = "review"  # a moderator correcting a model's prediction
    bulk_accept = "bulk-accept"  # the model's labels accepted above a confidence
    check = "check"  # settled from the check queue (a suspected label error)
    adjudication = "adjudication"  # an admin's decision on a disagreement: the label training uses
    undo = "undo"  # takes back the act named in `reverts_id`


def _values(kind: type[enum.Enum]) -> list[str]:
    # Store the values, as the plain strings were stored before these columns had enums.
    return [member.value for member in kind]


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    guidelines: Mapped[str] = mapped_column(Text, default="")
    # Shown before anyone labels: what kind of text this project holds (care for the people reading it).
    content_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    test_fraction: Mapped[float] = mapped_column(Float, default=0.2)
    # Share of assigned sentences served blind to two moderators (core/assignments.py); 0 = one each.
    overlap_share: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # Retrain by itself after this many label changes since the last run (core/auto_retrain.py); 0 = off.
    auto_retrain_every: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    shuffle_seed: Mapped[int] = mapped_column(Integer, default=42)
    # use_alter: runs point at projects and a project points at its active run.
    active_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("training_runs.id", use_alter=True, name="fk_projects_active_run", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    labels: Mapped[list["Label"]] = relationship(
        back_populates="project", order_by="Label.value", cascade="all, delete-orphan"
    )


class Label(Base):
    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("project_id", "value"), UniqueConstraint("project_id", "name"))

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    value: Mapped[int] = mapped_column(Integer)  # the class id the model sees, 0..n-1, also the order
    name: Mapped[str] = mapped_column(String(100))
    color: Mapped[str] = mapped_column(String(20), default="#888888")

    project: Mapped[Project] = relationship(back_populates="labels")


class Sentence(Base):
    __tablename__ = "sentences"
    __table_args__ = (
        UniqueConstraint("project_id", "text_hash"),
        Index("ix_sentences_doc", "project_id", "doc_id", "position"),
        Index("ix_sentences_queue", "project_id", "label", "shuffle_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(64))
    doc_id: Mapped[str] = mapped_column(String(200), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    split: Mapped[Split] = mapped_column(Enum(Split, native_enum=False, length=8))
    split_explicit: Mapped[bool] = mapped_column(Boolean, default=False)
    shuffle_key: Mapped[int] = mapped_column(BigInteger)  # 48-bit random keys
    # The current label is the latest annotation's; kept here (written only by core.labeling and core.importing in
    # the same transaction as the annotation) so queues and counts on 100k rows stay index scans.
    label: Mapped[int | None] = mapped_column(Integer)
    unsure: Mapped[bool] = mapped_column(Boolean, default=False)
    labelled_by: Mapped[str | None] = mapped_column(String(100))
    labelled_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Annotation(Base):
    """Every labelling act, never updated or deleted. `label` NULL records an undo (label cleared)."""

    __tablename__ = "annotations"
    __table_args__ = (Index("ix_annotations_sentence", "sentence_id", "id"),
                      Index("ix_annotations_annotator", "annotator", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    sentence_id: Mapped[int] = mapped_column(ForeignKey("sentences.id", ondelete="CASCADE"))
    label: Mapped[int | None] = mapped_column(Integer)
    annotator: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    unsure: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[AnnotationSource] = mapped_column(
        Enum(AnnotationSource, native_enum=False, length=20, values_callable=_values), default=AnnotationSource.ui)
    # For an undo row: the annotation it takes back (so a second undo reaches further back).
    reverts_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class TrainingRun(Base):
    __tablename__ = "training_runs"
    __table_args__ = (Index("ix_runs_status", "status", "id"), UniqueConstraint("project_id", "version"))

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[RunKind] = mapped_column(
        Enum(RunKind, native_enum=False, length=20, values_callable=_values), default=RunKind.train)
    status: Mapped[RunStatus] = mapped_column(Enum(RunStatus, native_enum=False, length=16), default=RunStatus.queued)
    preset: Mapped[str] = mapped_column(String(40))
    params_json: Mapped[str] = mapped_column(Text)
    snapshot_json: Mapped[str] = mapped_column(Text)  # [[sentence_id, label, split], ...] at queue time
    snapshot_hash: Mapped[str] = mapped_column(String(64))
    n_train: Mapped[int] = mapped_column(Integer, default=0)
    n_test: Mapped[int] = mapped_column(Integer, default=0)
    requested_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    worker_id: Mapped[str | None] = mapped_column(String(100))
    phase: Mapped[str] = mapped_column(String(40), default="")
    progress_step: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    log: Mapped[str] = mapped_column(Text, default="")
    metrics_json: Mapped[str | None] = mapped_column(Text)
    model_dir: Mapped[str | None] = mapped_column(String(500))
    head_sha256: Mapped[str | None] = mapped_column(String(64))
    threshold: Mapped[float | None] = mapped_column(Float)
    activation_note: Mapped[str] = mapped_column(Text, default="")
    # Scoring every sentence after a version succeeded: resumable, so a killed worker's successor goes on
    # from the first sentence without a prediction (core/worker.py).
    scoring_backend: Mapped[str | None] = mapped_column(String(20))  # onnx-int8 | onnx | torch
    scoring_note: Mapped[str] = mapped_column(Text, default="")  # why that backend: its measured agreement
    backend_agreement: Mapped[float | None] = mapped_column(Float)
    scored: Mapped[int] = mapped_column(Integer, default=0)
    score_total: Mapped[int] = mapped_column(Integer, default=0)
    scoring_rate: Mapped[float | None] = mapped_column(Float)  # sentences per second, for the ETA
    # Where the worker ran it: torch device type (cpu | cuda) and host name; None before a worker started it.
    device: Mapped[str | None] = mapped_column(String(20))
    host: Mapped[str | None] = mapped_column(String(200))


class LossPoint(Base):
    __tablename__ = "loss_points"
    __table_args__ = (Index("ix_loss_run", "run_id", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("training_runs.id", ondelete="CASCADE"))
    epoch: Mapped[float] = mapped_column(Float)
    step: Mapped[int] = mapped_column(Integer)
    training_loss: Mapped[float | None] = mapped_column(Float)
    validation_loss: Mapped[float | None] = mapped_column(Float)


class Prediction(Base):
    __tablename__ = "predictions"
    __table_args__ = (Index("ix_predictions_run_conf", "run_id", "confidence"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("training_runs.id", ondelete="CASCADE"), primary_key=True)
    sentence_id: Mapped[int] = mapped_column(ForeignKey("sentences.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[float] = mapped_column(Float)
    probs_json: Mapped[str] = mapped_column(Text)


class Worker(Base):
    """A live worker process announces itself here; the app starts one when none is heartbeating."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    current_run_id: Mapped[int | None] = mapped_column(Integer)
    stopped: Mapped[bool] = mapped_column(Boolean, default=False)


class Embedding(Base):
    """Cached sentence embeddings by (model key, text hash): nothing is encoded twice."""

    __tablename__ = "embeddings"

    model_key: Mapped[str] = mapped_column(String(40), primary_key=True)  # "base" or "run-<id>"
    text_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, L2-normalized


class Suggestion(Base):
    """The latest model's (or head refit's) view of a sentence, for live suggestions and the useful queue."""

    __tablename__ = "suggestions"
    __table_args__ = (Index("ix_suggestions_rank", "project_id", "rank"),)

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    sentence_id: Mapped[int] = mapped_column(ForeignKey("sentences.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[int] = mapped_column(Integer)
    probs_json: Mapped[str] = mapped_column(Text)
    rank: Mapped[int | None] = mapped_column(Integer)  # position in "Most useful first"; NULL once labelled
    reason: Mapped[str] = mapped_column(String(200), default="")


class SuggestionState(Base):
    """When suggestions were last refreshed, and from how many labels, per project."""

    __tablename__ = "suggestion_state"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    model_key: Mapped[str] = mapped_column(String(40))
    labelled_count: Mapped[int] = mapped_column(Integer)
    annotation_id: Mapped[int] = mapped_column(Integer, default=0)  # the newest annotation it has seen
    refreshed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


class Suspect(Base):
    """A labelled sentence whose label looks wrong (out-of-fold confident learning) after a run."""

    __tablename__ = "suspects"
    __table_args__ = (Index("ix_suspects_score", "project_id", "score"),)

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    sentence_id: Mapped[int] = mapped_column(ForeignKey("sentences.id", ondelete="CASCADE"), primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer)
    given_label: Mapped[int] = mapped_column(Integer)
    suggested_label: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)  # higher = more likely wrong
    probs_json: Mapped[str] = mapped_column(Text)


# -- accounts (issue 11) -----------------------------------------------------------------------------

class Role(str, enum.Enum):
    """What a signed-in person may do; core/permissions.py says which role does what."""

    admin = "admin"
    moderator = "moderator"


class User(Base):
    """A local account. `name_key` (the casefolded name) keeps "Sam" and "sam" one account."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    name_key: Mapped[str] = mapped_column(String(50), unique=True)
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=16, values_callable=_values))
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id, with its own salt and parameters
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    blur_sentences: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")  # until revealed


class LoginThrottle(Base):
    """Failed sign-ins per name typed, whether or not such an account exists, so that a lock-out
    never tells a stranger which names are real. Cleared by a successful sign-in."""

    __tablename__ = "login_throttle"

    name_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)


class WebSession(Base):
    """A signed-in browser. Only the SHA-256 of its random token is stored, so a copy of the
    database signs nobody in; ending a row (logout, idle, disabled account) ends that login."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user", "user_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    cookie_issued: Mapped[bool] = mapped_column(Boolean, default=False)  # its one-time login ticket is spent
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    end_reason: Mapped[str] = mapped_column(String(40), default="")


class AuditAction(str, enum.Enum):
    """Admin actions written to the audit log, in the transaction of the action where there is one."""

    first_admin = "first admin"
    user_created = "user created"
    user_disabled = "user disabled"
    user_enabled = "user enabled"
    password_reset = "password reset"
    project_created = "project created"
    guidelines_updated = "guidelines updated"
    imported = "import"
    exported = "export"
    training_queued = "training queued"
    learning_curve_queued = "learning curve queued"
    label_check_queued = "label check queued"
    run_cancelled = "run cancelled"
    model_activated = "model activated"
    threshold_set = "threshold set"
    bulk_accepted = "predictions accepted in bulk"
    content_note_updated = "content note updated"
    work_assigned = "work assigned"
    role_changed = "role changed"
    auto_retrain_set = "auto-retrain set"
    estimate_requested = "estimate requested"


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[AuditAction] = mapped_column(
        Enum(AuditAction, native_enum=False, length=40, values_callable=_values))
    project_id: Mapped[int | None] = mapped_column(Integer)  # no foreign key: the log outlives what it names
    details: Mapped[str] = mapped_column(Text, default="")


class ContentNoteAck(Base):
    """Someone has read a project's content note (as it read then: a changed note is shown again)."""

    __tablename__ = "content_note_acks"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    note_hash: Mapped[str] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Assignment(Base):
    """A sentence a moderator is asked to label (core/assignments.py). Two rows for one sentence make it
    a blind double: each of the two sees the sentence without the other's label."""

    __tablename__ = "assignments"
    __table_args__ = (Index("ix_assignments_queue", "project_id", "annotator", "sentence_id"),)

    sentence_id: Mapped[int] = mapped_column(ForeignKey("sentences.id", ondelete="CASCADE"), primary_key=True)
    annotator: Mapped[str] = mapped_column(String(100), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class EstimateSample(Base):
    """A sentence drawn for the estimate on the stream of one model version (core/estimate.py): stratified
    by the version's predicted label when drawn, so its labels can be reweighted to the whole stream."""

    __tablename__ = "estimate_samples"
    __table_args__ = (Index("ix_estimate_samples_project", "project_id", "created_at"),
                      Index("ix_estimate_samples_sentence", "sentence_id"))

    run_id: Mapped[int] = mapped_column(ForeignKey("training_runs.id", ondelete="CASCADE"), primary_key=True)
    sentence_id: Mapped[int] = mapped_column(ForeignKey("sentences.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    stratum: Mapped[int] = mapped_column(Integer)  # the version's predicted label for it when drawn
    stratum_size: Mapped[int] = mapped_column(Integer)  # sentences of the stream the version predicted that label
    position: Mapped[int] = mapped_column(Integer)  # order in the evaluation batch (strata interleaved)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
