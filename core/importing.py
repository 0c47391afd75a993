"""Importing sentences: parse an uploaded file, preview what it would change, then commit it.

Parsing is pure (bytes in, ParsedFile out) so a page can show the preview and the rejects before
anything is written. Whole-file problems raise ImportFileError; problems with single rows become
RejectedRow entries that name the line, so the moderator can fix them and import them again.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from sqlalchemy import insert, select, update

from core.errors import ImportFileError, InvalidInput
from core.exporting import FORMULA_PREFIXES, escape_formula
from core.projects import ProjectInfo, get_project
from core.text import clean_text, shuffle_key, split_for_hash, split_sentences, text_hash
from db.engine import Database
from db.models import Annotation, Sentence, Split, utcnow

FORMATS = ("csv", "tsv", "jsonl", "txt")
EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "txt"}
MAX_TEXT_CHARS = 2000
# Each chunk is its own write transaction, so the worker never waits long for the SQLite write lock.
CHUNK_ROWS = 5000
# A rejected row's raw text is shown and downloaded; a runaway row (an unclosed quote) could be megabytes.
MAX_RAW_CHARS = 1000

_TEXT_KEYS = ("text", "sentence")
_DOC_KEYS = ("source", "document", "doc_id")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_DOCUMENT_SEPARATOR = "---"
_SENTENCES = Sentence.__table__
_ANNOTATIONS = Annotation.__table__


@dataclass(frozen=True)
class ImportRow:
    line: int
    text: str
    label: str | None  # as written in the file; resolved against the project's labels at preview/commit
    split: str | None  # "train", "test" or None (the app chooses from the hash)
    doc_id: str
    position: int


@dataclass(frozen=True)
class RejectedRow:
    line: int
    raw: str
    reason: str


@dataclass(frozen=True)
class ParsedFile:
    format: str
    rows: tuple[ImportRow, ...]
    rejected: tuple[RejectedRow, ...]
    duplicates_in_file: int


@dataclass(frozen=True)
class ImportPreview:
    parsed: ParsedFile
    new: int
    already_present: int
    label_counts: dict[str, int]  # label name -> valid rows carrying it; labels the file never uses are absent
    rejected: tuple[RejectedRow, ...]  # parse rejects + rows whose label the project does not have


@dataclass(frozen=True)
class ImportResult:
    added: int
    duplicates: int  # merged inside the file + already in the project
    labelled: int  # annotations written (new sentences with a label + existing ones whose label changed)
    rejected: int
    rejected_rows: tuple[RejectedRow, ...]


# ---------------------------------------------------------------------------------------------
# Parsing


@dataclass
class _Collector:
    """Accumulates rows in file order: cleans, checks length, merges duplicates, numbers positions."""

    max_rows: int
    documents: bool
    rows: list[ImportRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    duplicates: int = 0
    records: int = 0
    _seen: set[str] = field(default_factory=set)
    _positions: dict[str, int] = field(default_factory=dict)

    def _count(self) -> None:
        self.records += 1
        if self.records > self.max_rows:
            what = "sentences" if self.documents else "rows"
            raise ImportFileError(
                f"The file has more than {self.max_rows:,} {what}, the most one import takes. "
                f"Split it into files of at most {self.max_rows:,} {what} and import them one after another."
            )

    def reject(self, line: int, raw: str, reason: str) -> None:
        self._count()
        if len(raw) > MAX_RAW_CHARS:
            raw = raw[:MAX_RAW_CHARS] + "…"
        self.rejected.append(RejectedRow(line=line, raw=raw, reason=reason))

    def add(self, line: int, raw: str, text: str, label: str | None, split: str | None, doc_id: str,
            spans_lines: bool = False) -> None:
        cleaned = clean_text(text)
        if not cleaned:
            self.reject(line, raw, "empty text")
            return
        if len(cleaned) > MAX_TEXT_CHARS:
            reason = f"longer than {MAX_TEXT_CHARS} characters ({len(cleaned):,})"
            if spans_lines:
                # A CSV row running over many lines is nearly always an unclosed double quote.
                reason += "; the row runs over several lines, check for a double quote that is never closed"
            elif not self.documents:
                reason += "; split it into sentences, or import the file in documents mode"
            self.reject(line, raw, reason)
            return
        self._count()
        digest = text_hash(cleaned)
        if digest in self._seen:
            self.duplicates += 1
            return
        self._seen.add(digest)
        position = self._positions.get(doc_id, 0)
        self._positions[doc_id] = position + 1
        self.rows.append(ImportRow(line=line, text=cleaned, label=label, split=split, doc_id=doc_id,
                                   position=position))


def _format_for(filename: str, fmt: str | None) -> str:
    accepted = ", ".join(EXTENSIONS)
    if fmt is not None:
        fmt = fmt.lower().lstrip(".")
        fmt = EXTENSIONS.get(f".{fmt}", fmt)
        if fmt not in FORMATS:
            raise ImportFileError(f"Unknown import format {fmt!r}; use one of {', '.join(FORMATS)}.")
        return fmt
    suffix = PurePath(filename).suffix.lower()
    if suffix not in EXTENSIONS:
        raise ImportFileError(
            f"Cannot tell the format of {filename!r} from its extension {suffix or '(none)'!r}. "
            f"Accepted: {accepted}. Rename the file or choose the format explicitly."
        )
    return EXTENSIONS[suffix]


def _decode(data: bytes, filename: str) -> str:
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset = bom + err.start
        line = data.count(b"\n", 0, offset) + 1
        raise ImportFileError(
            f"{filename!r} is not UTF-8 text: the byte 0x{data[offset]:02X} at byte offset {offset:,} "
            f"(line {line}) is not valid UTF-8 (the file was probably saved as Latin-1 or Windows-1252). "
            "Open it and save it again as UTF-8 (in Excel: Save As → \"CSV UTF-8\"; in a text editor: "
            "Encoding → UTF-8), then upload it again."
        ) from None


def _split_value(raw: object) -> tuple[str | None, str | None]:
    """(split, problem): an empty split lets the app choose; anything but train/test is a problem."""
    if raw is None:
        return None, None
    value = str(raw).strip()
    if not value:
        return None, None
    if value.lower() in (Split.train.value, Split.test.value):
        return value.lower(), None
    return None, f"split {value!r} is not `train` or `test`; correct it, or leave it empty to let the app choose"


def _label_value(raw: object) -> str | None:
    if raw is None:
        return None
    value = str(raw).strip()
    return value or None


def _unescape_formula(value: str) -> str:
    """Undo exporting.escape_formula, so an exported CSV imports back to the same sentences."""
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_PREFIXES:
        return value[1:]
    return value


def _take_record(out: _Collector, *, line: int, raw: str, text: str, label: object, split: object,
                 doc: object, stem: str, spans_lines: bool = False) -> None:
    split_value, problem = _split_value(split)
    if problem:
        out.reject(line, raw, problem)
        return
    doc_id = str(doc).strip() if doc is not None else ""
    if not out.documents:
        out.add(line, raw, text, _label_value(label), split_value, doc_id, spans_lines)
        return
    # Documents mode: the row is a post; its label (if any) is ignored because it need not hold for
    # every sentence in it, while its split is kept so a post never straddles train and test.
    sentences = split_sentences(text)
    if not sentences:
        out.reject(line, raw, "empty text")
        return
    for sentence in sentences:
        out.add(line, sentence, sentence, None, split_value, doc_id or f"{stem}-{line}")


class _LineTap:
    """Feeds lines to csv.reader and keeps them, so a rejected row can be shown as it was written."""

    def __init__(self, text: str) -> None:
        self._lines = iter(io.StringIO(text, newline=""))
        self._taken: list[str] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self._taken.append(line)
        return line

    def take(self) -> str:
        raw = "".join(self._taken).rstrip("\r\n")
        self._taken.clear()
        return raw


def _parse_delimited(text: str, fmt: str, filename: str, stem: str, out: _Collector) -> None:
    delimiter = "\t" if fmt == "tsv" else ","
    separator_name = "tab" if fmt == "tsv" else "comma"
    tap = _LineTap(text)
    reader = csv.reader(tap, delimiter=delimiter)
    header: list[str] | None = None
    text_i = label_i = split_i = doc_i = -1
    while True:
        line = reader.line_num + 1  # where this record starts; line_num ends up on its last line
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raw = tap.take()
            if header is None:
                raise ImportFileError(f"The header line (line {line}) of {filename!r} is not valid "
                                      f"{fmt.upper()}: {err}.") from None
            out.reject(line, raw, f"not valid {fmt.upper()}: {err}")
            continue
        raw = tap.take()
        if not any(f.strip() for f in fields):
            continue
        if header is None:
            header = fields
            keys = [name.strip().lower() for name in fields]
            text_i = next((keys.index(k) for k in _TEXT_KEYS if k in keys), -1)
            if text_i < 0:
                found = ", ".join(repr(name) for name in fields)
                raise ImportFileError(
                    f"{filename!r} has no `text` column; the header (line {line}) has {found}. Name the "
                    "column holding the sentences `text` (or `sentence`). A file with one sentence per line "
                    "and no header can be imported as .txt."
                )
            label_i = keys.index("label") if "label" in keys else -1
            split_i = keys.index("split") if "split" in keys else -1
            doc_i = next((keys.index(k) for k in _DOC_KEYS if k in keys), -1)
            continue
        if len(fields) > len(header) and any(f.strip() for f in fields[len(header):]):
            out.reject(line, raw, f"{len(fields)} fields but the header has {len(header)} columns; a "
                                  f"{separator_name} inside the text needs the text in double quotes")
            continue

        def cell(i: int) -> str | None:
            return fields[i] if 0 <= i < len(fields) else None

        _take_record(out, line=line, raw=raw, text=_unescape_formula(cell(text_i) or ""), label=cell(label_i),
                     split=cell(split_i), doc=cell(doc_i), stem=stem, spans_lines=reader.line_num > line)
    if header is None:
        raise ImportFileError(f"{filename!r} is empty.")


def _parse_jsonl(text: str, stem: str, out: _Collector) -> None:
    for number, raw in enumerate(_LINE_BREAK.split(text), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as err:
            out.reject(number, raw, f"not valid JSON: {err.msg} at column {err.colno}")
            continue
        if not isinstance(record, dict):
            out.reject(number, raw, f"not a JSON object (found {type(record).__name__}); write "
                                    '{"text": "...", "label": "..."} on each line')
            continue
        keys = {str(k).strip().lower(): v for k, v in record.items()}
        text_value = next((keys[k] for k in _TEXT_KEYS if k in keys), None)
        if text_value is None:
            out.reject(number, raw, 'no "text" field')
            continue
        if not isinstance(text_value, str):
            out.reject(number, raw, f'"text" is a {type(text_value).__name__}, not a string')
            continue
        doc = next((keys[k] for k in _DOC_KEYS if keys.get(k) is not None), None)
        _take_record(out, line=number, raw=raw, text=text_value, label=keys.get("label"),
                     split=keys.get("split"), doc=doc, stem=stem)


def _parse_lines(text: str, stem: str, out: _Collector) -> None:
    for number, raw in enumerate(_LINE_BREAK.split(text), start=1):
        if raw.strip():
            out.add(number, raw, raw, None, None, stem)


def _parse_documents(text: str, stem: str, out: _Collector) -> None:
    """Documents are separated by a line of `---` or by two or more blank lines; one blank line is a
    paragraph break inside a document."""
    count = 0
    lines: list[str] = []
    start = 0
    blank_run = 0

    def flush() -> None:
        nonlocal count, lines
        if not lines:
            return
        count += 1
        doc_id = f"{stem}-{count:04d}"
        for sentence in split_sentences("\n".join(lines)):
            out.add(start, sentence, sentence, None, None, doc_id)
        lines = []

    for number, raw in enumerate(_LINE_BREAK.split(text), start=1):
        stripped = raw.strip()
        if stripped == _DOCUMENT_SEPARATOR:
            flush()
            blank_run = 0
        elif not stripped:
            blank_run += 1
            if blank_run == 2:
                flush()
        else:
            if not lines:
                start = number
            elif blank_run == 1:
                lines.append("")
            blank_run = 0
            lines.append(raw)
    flush()


def parse_file(
    data: bytes,
    filename: str,
    *,
    documents: bool = False,
    fmt: str | None = None,
    max_bytes: int = 50 * 1024 * 1024,
    max_rows: int = 200_000,
) -> ParsedFile:
    """Read an uploaded file into rows. Nothing is written; see preview_import and commit_import."""
    name = PurePath(filename).name or "the file"
    kind = _format_for(name, fmt)
    if not data:
        raise ImportFileError(f"{name!r} is empty (0 bytes). Choose the file that holds the sentences.")
    if len(data) > max_bytes:
        raise ImportFileError(
            f"{name!r} is {len(data) / 1_048_576:.1f} MB; the limit is {max_bytes / 1_048_576:.1f} MB. "
            "Split it into smaller files and import them one after another."
        )
    text = _decode(data, name)
    if not text.strip():
        raise ImportFileError(f"{name!r} holds only blank lines; there is nothing to import.")
    stem = PurePath(name).stem
    out = _Collector(max_rows=max_rows, documents=documents)
    if kind in ("csv", "tsv"):
        _parse_delimited(text, kind, name, stem, out)
    elif kind == "jsonl":
        _parse_jsonl(text, stem, out)
    elif documents:
        _parse_documents(text, stem, out)
    else:
        _parse_lines(text, stem, out)
    if out.records == 0:
        raise ImportFileError(f"{name!r} has a header but no rows below it; there is nothing to import.")
    return ParsedFile(format=kind, rows=tuple(out.rows), rejected=tuple(out.rejected),
                      duplicates_in_file=out.duplicates)


# ---------------------------------------------------------------------------------------------
# Preview and commit


def _labels_text(info: ProjectInfo) -> str:
    return ", ".join(f"{label.value} = {label.name}" for label in info.labels)


def _resolve_labels(info: ProjectInfo, rows: Sequence[ImportRow]
                    ) -> tuple[list[tuple[ImportRow, int | None]], list[RejectedRow]]:
    """Each row with its label value, or a rejection when the project has no such label."""
    resolved: dict[str, int | None] = {}
    kept: list[tuple[ImportRow, int | None]] = []
    rejected: list[RejectedRow] = []
    for row in rows:
        if row.label is None:
            kept.append((row, None))
            continue
        if row.label not in resolved:
            resolved[row.label] = info.label_value(row.label)
        value = resolved[row.label]
        if value is None:
            rejected.append(RejectedRow(
                line=row.line, raw=row.text,
                reason=f"unknown label {row.label!r}; this project's labels are {_labels_text(info)} "
                       "(give the name or the number)",
            ))
        else:
            kept.append((row, value))
    return kept, rejected


def _all_rejects(parsed: ParsedFile, label_rejects: list[RejectedRow]) -> tuple[RejectedRow, ...]:
    return tuple(sorted((*parsed.rejected, *label_rejects), key=lambda r: r.line))


def preview_import(db: Database, project_id: int, parsed: ParsedFile) -> ImportPreview:
    """What commit_import would do, without writing: new vs already present, labels, rejects."""
    info = get_project(db, project_id)
    kept, label_rejects = _resolve_labels(info, parsed.rows)
    with db.read() as session:
        existing = set(session.scalars(select(Sentence.text_hash).where(Sentence.project_id == project_id)))
    already = sum(1 for row, _ in kept if text_hash(row.text) in existing)
    per_value: dict[int, int] = {}
    for _, value in kept:
        if value is not None:
            per_value[value] = per_value.get(value, 0) + 1
    # Only the labels the file uses, in the project's order, so an empty dict means "no labels".
    label_counts = {label.name: per_value[label.value] for label in info.labels if label.value in per_value}
    return ImportPreview(parsed=parsed, new=len(kept) - already, already_present=already,
                         label_counts=label_counts, rejected=_all_rejects(parsed, label_rejects))


def _chunks(items: list) -> Iterator[list]:
    size = CHUNK_ROWS  # read at call time so tests can shrink it
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _annotation(sentence_id: int, label: int, annotator: str, now) -> dict:  # noqa: ANN001
    return {"sentence_id": sentence_id, "label": label, "annotator": annotator, "note": "", "unsure": False,
            "source": "import", "reverts_id": None, "created_at": now}


def commit_import(db: Database, project_id: int, parsed: ParsedFile, annotator: str = "import") -> ImportResult:
    """Insert the file's new sentences and its labels, in chunks of CHUNK_ROWS rows per transaction.

    A sentence already in the project is not inserted again; its label changes only when the file
    gives a different one. A chunk is all-or-nothing, so an interrupted import can simply be run again.
    """
    annotator = annotator.strip()
    if not annotator:
        raise InvalidInput("An import needs an annotator name to record who labelled the rows.")
    info = get_project(db, project_id)
    kept, label_rejects = _resolve_labels(info, parsed.rows)
    with db.read() as session:
        existing = {digest: (sentence_id, label) for digest, sentence_id, label in session.execute(
            select(Sentence.text_hash, Sentence.id, Sentence.label).where(Sentence.project_id == project_id))}

    new: list[tuple[ImportRow, str, int | None]] = []
    relabel: list[tuple[int, int]] = []
    duplicates = parsed.duplicates_in_file
    for row, value in kept:
        digest = text_hash(row.text)
        found = existing.get(digest)
        if found is None:
            new.append((row, digest, value))
            continue
        duplicates += 1
        if value is not None and found[1] != value:
            relabel.append((found[0], value))

    added = labelled = 0
    for chunk in _chunks(new):
        now = utcnow()
        with db.write() as session:
            # Another import may have added some of these since `existing` was read.
            raced = set(session.scalars(select(Sentence.text_hash).where(
                Sentence.project_id == project_id, Sentence.text_hash.in_([d for _, d, _ in chunk]))))
            if raced:
                duplicates += sum(1 for _, d, _ in chunk if d in raced)
                chunk = [item for item in chunk if item[1] not in raced]
            if not chunk:
                continue
            values = [{
                "project_id": project_id,
                "text": row.text,
                "text_hash": digest,
                "doc_id": row.doc_id,
                "position": row.position,
                "split": Split(row.split) if row.split else Split(split_for_hash(digest, info.test_fraction)),
                "split_explicit": row.split is not None,
                "shuffle_key": shuffle_key(digest, info.shuffle_seed),
                "label": value,
                "unsure": False,
                "labelled_by": annotator if value is not None else None,
                "labelled_at": now if value is not None else None,
                "created_at": now,
            } for row, digest, value in chunk]
            # Core inserts on the tables: the ORM's bulk path splits rows into many small statements
            # whenever the NULL columns differ from one row to the next (measured 4x slower).
            session.execute(insert(_SENTENCES), values)
            labels = {digest: value for _, digest, value in chunk if value is not None}
            if labels:
                ids = session.execute(select(Sentence.id, Sentence.text_hash).where(
                    Sentence.project_id == project_id, Sentence.text_hash.in_(list(labels)))).all()
                session.execute(insert(_ANNOTATIONS), [
                    _annotation(sentence_id, labels[digest], annotator, now) for sentence_id, digest in ids])
            added += len(values)
            labelled += len(labels)

    for chunk in _chunks(relabel):
        now = utcnow()
        with db.write() as session:
            # Re-read inside the lock: a moderator may have set the same label since `existing` was read.
            current = dict(session.execute(select(Sentence.id, Sentence.label).where(
                Sentence.id.in_([sentence_id for sentence_id, _ in chunk]))).all())
            changes = [(sentence_id, value) for sentence_id, value in chunk
                       if sentence_id in current and current[sentence_id] != value]
            if not changes:
                continue
            session.execute(update(Sentence), [
                {"id": sentence_id, "label": value, "unsure": False, "labelled_by": annotator, "labelled_at": now}
                for sentence_id, value in changes])
            session.execute(insert(_ANNOTATIONS), [
                _annotation(sentence_id, value, annotator, now) for sentence_id, value in changes])
            labelled += len(changes)

    rejected = _all_rejects(parsed, label_rejects)
    return ImportResult(added=added, duplicates=duplicates, labelled=labelled, rejected=len(rejected),
                        rejected_rows=rejected)


def rejected_rows_csv(rows: Sequence[RejectedRow]) -> bytes:
    """The rejects as a CSV to download, fix and import again; escaped like exporting.to_csv."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["line", "reason", "raw"])
    for row in rows:
        writer.writerow([row.line, escape_formula(row.reason), escape_formula(row.raw)])
    return buffer.getvalue().encode("utf-8-sig")
