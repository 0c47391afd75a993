"""Projects and their label sets, and the counts shown everywhere."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from core.audit import record
from core.errors import InvalidInput, NotFound, ProjectExists
from core.permissions import Actor, Permission, require
from db.engine import Database
from db.portable import count_true
from db.models import AuditAction, Label, Project, Sentence

# Calm, colour-blind-safe defaults (Okabe-Ito), in label order.
DEFAULT_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000", "#999999"]
MAX_LABELS = 9  # one keyboard shortcut (1..9) per label
MAX_CONTENT_NOTE = 1000


@dataclass(frozen=True)
class LabelDef:
    value: int
    name: str
    color: str


@dataclass(frozen=True)
class ProjectInfo:
    id: int
    name: str
    description: str
    guidelines: str
    content_note: str  # what the sentences hold, shown before labelling starts; "" for none
    test_fraction: float
    shuffle_seed: int
    active_run_id: int | None
    labels: tuple[LabelDef, ...]

    def label_name(self, value: int | None) -> str:
        for label in self.labels:
            if label.value == value:
                return label.name
        return "" if value is None else str(value)

    def label_value(self, name_or_value: str) -> int | None:
        """Resolve a label given by name (case-insensitive) or by its number; None if unknown."""
        key = name_or_value.strip()
        for label in self.labels:
            if label.name.casefold() == key.casefold():
                return label.value
        if key.lstrip("-").isdigit():
            value = int(key)
            if any(label.value == value for label in self.labels):
                return value
        return None


@dataclass(frozen=True)
class ProjectStats:
    total: int
    labelled: int
    unsure: int
    per_label: dict[int, int]
    per_split: dict[str, tuple[int, int]]  # split -> (labelled, total)


def _info(project: Project) -> ProjectInfo:
    return ProjectInfo(
        id=project.id,
        name=project.name,
        description=project.description,
        guidelines=project.guidelines,
        content_note=project.content_note,
        test_fraction=project.test_fraction,
        shuffle_seed=project.shuffle_seed,
        active_run_id=project.active_run_id,
        labels=tuple(LabelDef(label.value, label.name, label.color) for label in project.labels),
    )


def create_project(
    db: Database,
    actor: Actor,
    name: str,
    labels: list[str],
    description: str = "",
    guidelines: str = "",
    test_fraction: float = 0.2,
    content_note: str = "",
) -> ProjectInfo:
    require(actor, Permission.create_project)
    name = name.strip()
    if not name:
        raise InvalidInput("A project needs a name.")
    names = [label.strip() for label in labels if label.strip()]
    if len(names) < 2:
        raise InvalidInput("A project needs at least two labels, e.g. `other,physical violence`.")
    if len(names) > MAX_LABELS:
        raise InvalidInput(f"At most {MAX_LABELS} labels (one per number key); got {len(names)}.")
    if len({n.casefold() for n in names}) != len(names):
        raise InvalidInput("Label names must be different from each other.")
    if not 0.0 <= test_fraction < 1.0:
        raise InvalidInput("The test fraction must be at least 0 and below 1, e.g. 0.2.")
    with db.write() as session:
        if session.scalar(select(Project.id).where(Project.name == name)) is not None:
            raise ProjectExists(f"A project named {name!r} already exists; pick another name.")
        project = Project(name=name, description=description, guidelines=guidelines, test_fraction=test_fraction,
                          content_note=content_note.strip())
        project.labels = [
            Label(value=i, name=n, color=DEFAULT_COLORS[i % len(DEFAULT_COLORS)]) for i, n in enumerate(names)
        ]
        session.add(project)
        session.flush()
        record(session, actor, AuditAction.project_created, f"{name} (labels: {', '.join(names)})", project.id)
        return _info(project)


def get_project(db: Database, name_or_id: str | int) -> ProjectInfo:
    with db.read() as session:
        if isinstance(name_or_id, int):
            project = session.get(Project, name_or_id)
        else:
            project = session.scalar(select(Project).where(Project.name == name_or_id))
        if project is None:
            known = ", ".join(session.scalars(select(Project.name).order_by(Project.id))) or "none yet"
            raise NotFound(f"No project {name_or_id!r}. Known projects: {known}.")
        return _info(project)


def list_projects(db: Database) -> list[ProjectInfo]:
    with db.read() as session:
        return [_info(p) for p in session.scalars(select(Project).order_by(Project.id))]


def update_guidelines(db: Database, actor: Actor, project_id: int, guidelines: str) -> None:
    require(actor, Permission.edit_project)
    with db.write() as session:
        project = session.get(Project, project_id)
        if project is None:
            raise NotFound(f"Project {project_id} no longer exists.")
        project.guidelines = guidelines
        record(session, actor, AuditAction.guidelines_updated, f"{len(guidelines)} characters", project_id)


def set_content_note(db: Database, actor: Actor, project_id: int, note: str) -> None:
    """What a moderator should know before reading this project's sentences ("" removes the note)."""
    require(actor, Permission.edit_project)
    note = note.strip()
    if len(note) > MAX_CONTENT_NOTE:
        raise InvalidInput(f"A content note has at most {MAX_CONTENT_NOTE} characters; this one has {len(note)}.")
    with db.write() as session:
        project = session.get(Project, project_id)
        if project is None:
            raise NotFound(f"Project {project_id} no longer exists.")
        project.content_note = note
        record(session, actor, AuditAction.content_note_updated, note or "(removed)", project_id)


def project_stats(db: Database, project_id: int) -> ProjectStats:
    with db.read() as session:
        rows = session.execute(
            select(Sentence.split, Sentence.label, func.count(), count_true(Sentence.unsure))
            .where(Sentence.project_id == project_id)
            .group_by(Sentence.split, Sentence.label)
        ).all()
    total = labelled = unsure = 0
    per_label: dict[int, int] = {}
    per_split: dict[str, list[int]] = {"train": [0, 0], "test": [0, 0]}
    for split, label, count, n_unsure in rows:
        total += count
        split_key = split.value if hasattr(split, "value") else str(split)
        per_split.setdefault(split_key, [0, 0])[1] += count
        if label is not None:
            labelled += count
            unsure += int(n_unsure or 0)
            per_label[label] = per_label.get(label, 0) + count
            per_split[split_key][0] += count
    return ProjectStats(
        total=total,
        labelled=labelled,
        unsure=unsure,
        per_label=per_label,
        per_split={k: (v[0], v[1]) for k, v in per_split.items()},
    )
