"""Exporting a project's sentences and labels: a spreadsheet-safe CSV, JSONL, and a training CSV."""
from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone

import pandas as pd
from sqlalchemy import func, select

from core.audit import record_now
from core.errors import InvalidInput
from core.permissions import Actor, Permission, require
from core.projects import get_project
from db.engine import Database
from db.models import Annotation, AuditAction, Sentence

EXPORT_FORMATS = ("csv", "jsonl", "training")
# What a downloaded file holds, in its name. Names are built from ids, versions and these words only:
# a project's or an uploaded file's name is user text, and a browser or a shell would read it as a path.
EXPORT_FILE_KINDS = ("annotations", "training", "model", "rejected-rows")
_FILE_SUFFIX = re.compile(r"[a-z0-9]{1,8}")
EXPORT_COLUMNS = ("id", "text", "label", "label_name", "split", "doc_id", "position", "annotator",
                  "labelled_at", "unsure", "note")
# Spreadsheets run a cell starting with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# The csv writer quotes a field only for the characters of its line terminator: with "\n" alone a
# lone "\r" inside a cell would be written bare and read back as a line break.
_CSV_LINE_END = "\r\n"


def export_file_name(project_id: int, kind: str, suffix: str, version: int | None = None) -> str:
    """`project-3-annotations.csv`, `project-3-model-v2.zip`: the name a download is saved under."""
    if kind not in EXPORT_FILE_KINDS:
        raise InvalidInput(f"Unknown kind of export file {kind!r}; one of {', '.join(EXPORT_FILE_KINDS)}.")
    if not _FILE_SUFFIX.fullmatch(suffix):
        raise InvalidInput(f"A file suffix is a few lower-case letters or digits, like csv; got {suffix!r}.")
    numbers = [project_id] + ([] if version is None else [version])
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers):
        raise InvalidInput(f"Export file names take whole-number ids; got {numbers!r}.")
    return f"project-{project_id}-{kind}" + ("" if version is None else f"-v{version}") + f".{suffix}"


def export_format_file_name(project_id: int, fmt: str) -> str:
    """The file name for `export_project(..., fmt)`'s bytes."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"Unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}.")
    return export_file_name(project_id, "training" if fmt == "training" else "annotations",
                            "jsonl" if fmt == "jsonl" else "csv")


def _iso_utc(moment: datetime | None) -> str | None:
    # Stored naive in UTC; the offset makes that explicit to whoever reads the file.
    return None if moment is None else moment.replace(tzinfo=timezone.utc).isoformat()


def export_frame(db: Database, project_id: int, labelled_only: bool = False) -> pd.DataFrame:
    """One row per sentence in id order; `label` is a nullable integer (pd.NA when unlabelled)."""
    info = get_project(db, project_id)
    latest = (
        select(Annotation.sentence_id, func.max(Annotation.id).label("annotation_id"))
        .join(Sentence, Sentence.id == Annotation.sentence_id)
        .where(Sentence.project_id == project_id)
        .group_by(Annotation.sentence_id)
        .subquery()
    )
    query = (
        select(Sentence.id, Sentence.text, Sentence.label, Sentence.split, Sentence.doc_id, Sentence.position,
               Sentence.labelled_by, Sentence.labelled_at, Sentence.unsure, Annotation.note)
        .outerjoin(latest, latest.c.sentence_id == Sentence.id)
        .outerjoin(Annotation, Annotation.id == latest.c.annotation_id)
        .where(Sentence.project_id == project_id)
        .order_by(Sentence.id)
    )
    if labelled_only:
        query = query.where(Sentence.label.is_not(None))
    with db.read() as session:
        rows = session.execute(query).all()
    records = [
        (sentence_id, text, label, info.label_name(label), split.value, doc_id, position, labelled_by,
         _iso_utc(labelled_at), bool(unsure), note or "")
        for sentence_id, text, label, split, doc_id, position, labelled_by, labelled_at, unsure, note in rows
    ]
    frame = pd.DataFrame.from_records(records, columns=list(EXPORT_COLUMNS))
    frame["label"] = frame["label"].astype("Int64")
    return frame


def escape_formula(value):  # noqa: ANN001, ANN201 - any cell value passes through
    """Prefix `'` to a text cell a spreadsheet would run as a formula; other values are unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def to_csv(df: pd.DataFrame) -> bytes:
    """For people and spreadsheets: formula cells escaped, UTF-8 with a BOM so Excel reads accents."""
    return df.map(escape_formula).to_csv(index=False, lineterminator=_CSV_LINE_END).encode("utf-8-sig")


def _plain(value):  # noqa: ANN001, ANN201
    """numpy/pandas scalars to what json writes: NA and NaN become null."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def to_jsonl(df: pd.DataFrame) -> bytes:
    """One object a line, text as written: JSON is read by programs, not run by spreadsheets."""
    columns = list(df.columns)
    lines = [
        json.dumps({column: _plain(value) for column, value in zip(columns, row)}, ensure_ascii=False)
        for row in df.itertuples(index=False, name=None)
    ]
    return "".join(line + "\n" for line in lines).encode("utf-8")


def to_training_csv(df: pd.DataFrame) -> bytes:
    """`text,label` for the labelled rows only. Text is not formula-escaped: the `'` would become part
    of what the model learns, and this file is meant for datasets.load_dataset, not for a spreadsheet."""
    labelled = df[df["label"].notna()]
    frame = pd.DataFrame({"text": labelled["text"].astype(str), "label": labelled["label"].astype("int64")})
    return frame.to_csv(index=False, lineterminator=_CSV_LINE_END).encode("utf-8")


def export_project(db: Database, actor: Actor, project_id: int, fmt: str) -> bytes:
    """Every sentence with its label and who gave it: admins only, and each export is audited."""
    require(actor, Permission.export_data)
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"Unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}.")
    if fmt == "training":
        data = to_training_csv(export_frame(db, project_id, labelled_only=True))
    else:
        frame = export_frame(db, project_id)
        data = to_csv(frame) if fmt == "csv" else to_jsonl(frame)
    record_now(db, actor, AuditAction.exported, f"{fmt}, {len(data)} bytes", project_id)
    return data
