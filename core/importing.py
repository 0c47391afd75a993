"""Importing sentences: read an uploaded file, preview what it would change, then commit it.

Reading is core.reader's (encoding, delimiter, records with line numbers, malformed lines); this
module gives the columns their meaning (text, label, split, document, annotator), cleans and
merges the sentences, and resolves labels against a project. Parsing is pure (bytes in, ParsedFile
out) so a page can show the preview and the rejects before anything is written. Whole-file problems
raise ImportFileError; problems with single rows become RejectedRow entries that name the line, so
the moderator can fix them and import them again.

Counting, which the tests hold it to (sentence mode): every data record of the file (see
core.reader) ends as exactly one of a sentence (new or already in the project), a duplicate merged
into an earlier row of the same file, or a rejected row:
`new + already_present + duplicates + rejected == records`.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from sqlalchemy import insert, select, update

from core.audit import record_now
from core.errors import ImportFileError, InvalidInput
from core.exporting import FORMULA_PREFIXES, escape_formula
from core.permissions import Actor, Permission, require
from core.projects import ProjectInfo, get_project
from core.reader import (
    TEXT_KEYS,
    UTF8,
    Encoding,
    Record,
    Table,
    describe_delimiter,
    find_column,
    label_cell,
    read_table,
)
from core.text import clean_text, shuffle_key, split_for_hash, split_sentences, text_hash
from db.engine import Database
from db.models import Annotation, AuditAction, Sentence, Split, utcnow

MAX_TEXT_CHARS = 2000
# Each chunk is its own write transaction, so the worker never waits long for the SQLite write lock.
CHUNK_ROWS = 5000
# A rejected row is shown this long on a page; the download keeps every character.
MAX_SHOWN_CHARS = 300

LABEL_KEYS = ("label_name", "label")  # the app's own export has both; its names never shift, its numbers can
SPLIT_KEYS = ("split",)
DOC_KEYS = ("source", "document", "doc_id")
ANNOTATOR_KEYS = ("annotator",)
REJECT_COLUMNS = ("text", "label", "split", "document", "annotator", "line", "reason")
_DOCUMENT_SEPARATOR = "---"
_CANDIDATE_VALUES = 9  # a column with more distinct values than a project has labels is no label column
_SENTENCES = Sentence.__table__
_ANNOTATIONS = Annotation.__table__


@dataclass(frozen=True)
class ImportRow:
    line: int
    text: str
    label: str | None  # as written in the file, `1.0` read as `1`; resolved against the project's labels later
    split: str | None  # "train", "test" or None (the app chooses from the hash)
    doc_id: str
    position: int
    annotator: str | None = None  # from an `annotator` column; None: whoever runs the import


@dataclass(frozen=True)
class RejectedRow:
    line: int
    raw: str  # the row as written in the file, whole
    reason: str
    # The row's cells, so the downloaded rejects import again once fixed. A row that could not be
    # read at all (a stray quote, broken JSON) keeps its raw line as the text, to be fixed in place.
    text: str | None = None
    label: str | None = None
    split: str | None = None
    document: str | None = None
    annotator: str | None = None

    @property
    def shown(self) -> str:
        return self.raw if len(self.raw) <= MAX_SHOWN_CHARS else self.raw[:MAX_SHOWN_CHARS] + "…"


@dataclass(frozen=True)
class ParsedFile:
    format: str
    rows: tuple[ImportRow, ...]  # the first row of each sentence, in file order
    rejected: tuple[RejectedRow, ...]
    duplicates_in_file: int
    repeats: tuple[ImportRow, ...] = ()  # later rows with the text of an earlier one; their labels count
    filename: str = ""
    encoding: Encoding = UTF8
    delimiter: str | None = None
    sep_line: bool = False
    records: int = 0  # data rows of the file (core.reader.Table.records)
    lines: int = 0
    blank_lines: int = 0
    header_lines: int = 0
    documents: bool = False
    text_column: str | None = None
    label_column: str | None = None
    ignored_columns: tuple[str, ...] = ()
    # Ignored columns with at most _CANDIDATE_VALUES distinct values, and those values: the preview
    # offers one whose values are all the project's label names as the label column.
    few_valued_columns: tuple[tuple[str, tuple[str, ...]], ...] = ()
    label_notes: tuple[str, ...] = ()  # spellings read as one label ("'Insult' and 'insult ' ...")

    @property
    def delimiter_name(self) -> str:
        return describe_delimiter(self.delimiter)


@dataclass(frozen=True)
class LabelConflict:
    text: str
    lines: tuple[int, ...]
    votes: tuple[tuple[str, str], ...]  # (annotator, label name), in file order


@dataclass(frozen=True)
class ImportPreview:
    parsed: ParsedFile
    new: int
    already_present: int
    label_counts: dict[str, int]  # label name -> rows carrying it; labels the file never uses are absent
    rejected: tuple[RejectedRow, ...]  # parse rejects + rows whose label the project does not have
    duplicates: int = 0  # rows merged into an earlier row with the same text (labels kept as annotations)
    conflicts: tuple[LabelConflict, ...] = ()  # sentences the file gives different labels
    label_column_candidates: tuple[str, ...] = ()  # offered when the file has no label column

    @property
    def rows_read(self) -> int:
        return self.parsed.records


@dataclass(frozen=True)
class ImportResult:
    added: int
    duplicates: int  # merged inside the file + already in the project
    labelled: int  # annotations written (new sentences with labels + existing ones whose label changed)
    rejected: int
    rejected_rows: tuple[RejectedRow, ...]
    conflicts: int = 0  # sentences the file gave different labels; each label is kept as an annotation


# ---------------------------------------------------------------------------------------------
# Parsing


@dataclass
class _Collector:
    """Accumulates rows in file order: cleans, checks length, merges duplicates, numbers positions."""

    max_rows: int
    documents: bool
    rows: list[ImportRow] = field(default_factory=list)
    repeats: list[ImportRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    counted: int = 0
    _seen: set[str] = field(default_factory=set)
    _positions: dict[str, int] = field(default_factory=dict)

    def _count(self) -> None:
        self.counted += 1
        if self.counted > self.max_rows:
            what = "sentences" if self.documents else "rows"
            raise ImportFileError(
                f"The file has more than {self.max_rows:,} {what}, the most one import takes. "
                f"Split it into files of at most {self.max_rows:,} {what} and import them one after another."
            )

    def reject(self, line: int, raw: str, reason: str, **cells: str | None) -> None:
        self._count()
        self.rejected.append(RejectedRow(line=line, raw=raw, reason=reason, **cells))

    def add(self, line: int, raw: str, text: str, label: str | None, split: str | None, doc_id: str,
            annotator: str | None = None, spans_lines: bool = False,
            cells: dict | Callable[[], dict] | None = None) -> None:
        """`cells`: what a reject keeps for the rejects file (a callable: built only for a reject)."""

        def reject(reason: str) -> None:
            kept = cells() if callable(cells) else cells
            self.reject(line, raw, reason, **(kept if kept is not None else {"text": text}))

        cleaned = clean_text(text)
        if not cleaned:
            reject("empty text")
            return
        if len(cleaned) > MAX_TEXT_CHARS:
            reason = f"longer than {MAX_TEXT_CHARS} characters ({len(cleaned):,})"
            if spans_lines:
                # A CSV row running over many lines is nearly always an unclosed double quote.
                reason += "; the row runs over several lines, check for a double quote that is never closed"
            elif not self.documents:
                reason += "; split it into sentences, or import the file in documents mode"
            reject(reason)
            return
        self._count()
        digest = text_hash(cleaned)
        position = self._positions.get(doc_id, 0)
        row = ImportRow(line=line, text=cleaned, label=label, split=split, doc_id=doc_id, position=position,
                        annotator=annotator)
        if digest in self._seen:
            self.repeats.append(row)
            return
        self._seen.add(digest)
        self._positions[doc_id] = position + 1
        self.rows.append(row)


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


def _unescape_formula(value: str) -> str:
    """Undo exporting.escape_formula, so an exported CSV imports back to the same sentences."""
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_PREFIXES:
        return value[1:]
    return value


def _cell_text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class _Roles:
    """Which column plays which part; the rest are ignored, and named."""

    text: str | None
    labels: tuple[str, ...]  # first non-empty wins: label_name, then label
    split: str | None
    document: str | None
    annotator: str | None
    ignored: tuple[str, ...]


def _roles(columns: Sequence[str], label_column: str | None) -> _Roles:
    text = find_column(columns, TEXT_KEYS)
    if label_column is not None:
        chosen = find_column(columns, (label_column.strip().casefold(),))
        labels: tuple[str, ...] = (chosen,) if chosen is not None else ()
    else:
        labels = tuple(c for c in (find_column(columns, (key,)) for key in LABEL_KEYS) if c is not None)
    split = find_column(columns, SPLIT_KEYS)
    document = find_column(columns, DOC_KEYS)
    annotator = find_column(columns, ANNOTATOR_KEYS)
    used = {text, split, document, annotator, *labels}
    return _Roles(text, labels, split, document, annotator, tuple(c for c in columns if c not in used))


class _LabelTally:
    """Label spellings seen, so the preview can say which were read as one label."""

    def __init__(self) -> None:
        self.spellings: dict[str, dict[str, None]] = {}
        self.read_as: dict[str, str] = {}

    def add(self, written: object, label: str) -> None:
        shown = written if isinstance(written, str) else _json_text(written)
        self.spellings.setdefault(label.casefold(), {})[shown] = None
        self.read_as.setdefault(shown, label)

    def notes(self) -> tuple[str, ...]:
        notes = []
        for spellings in self.spellings.values():
            written = list(spellings)
            if len(written) > 1:
                shown = [repr(w) for w in written[:5]]
                notes.append(f"{', '.join(shown[:-1])} and {shown[-1]} were read as one label")
            elif written[0].strip() != self.read_as[written[0]] and not written[0].lstrip().startswith("["):
                notes.append(f"{written[0]!r} was read as {self.read_as[written[0]]!r}")
        return tuple(notes)


def _json_text(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _written_label(values: dict, roles: _Roles) -> object:
    """The first label column with a value (label_name, then label), else the first one's empty value."""
    for column in roles.labels:
        value = values.get(column)
        if value is not None and str(value).strip() not in ("", "[]"):
            return value
    return values.get(roles.labels[0]) if roles.labels else None


def _cells(values: dict, roles: _Roles) -> dict[str, str | None]:
    """The cells a rejected row keeps for the rejects file, as written."""
    label = _written_label(values, roles)
    return {
        "text": _cell_text(values.get(roles.text)) if roles.text else None,
        "label": _json_text(label) if isinstance(label, (list, dict)) else _cell_text(label),
        "split": _cell_text(values.get(roles.split)) if roles.split else None,
        "document": _cell_text(values.get(roles.document)) if roles.document else None,
        "annotator": _cell_text(values.get(roles.annotator)) if roles.annotator else None,
    }


def _take_record(out: _Collector, tally: _LabelTally, record: Record, roles: _Roles, stem: str,
                 spreadsheet: bool) -> None:
    values = record.values
    # Every cell of the app's CSV export is formula-escaped (core.exporting.to_csv); undo it.
    if spreadsheet and "'" in "".join(v[:1] for v in values.values()):  # CSV cells are all strings
        values = {k: _unescape_formula(v) for k, v in values.items()}

    def reject(reason: str) -> None:
        out.reject(record.line, record.raw, reason, **_cells(values, roles))

    text = values.get(roles.text) if roles.text is not None else None
    if text is None:
        reject('no "text" field')
        return
    if not isinstance(text, str):
        reject(f'"text" is a {type(text).__name__}, not a string')
        return
    split_value, problem = _split_value(values.get(roles.split) if roles.split else None)
    if problem:
        reject(problem)
        return
    doc = values.get(roles.document) if roles.document else None
    doc_id = str(doc).strip() if doc is not None else ""
    if out.documents:
        # Documents mode: the row is a post; its label (if any) is ignored because it need not hold
        # for every sentence in it, while its split is kept so a post never straddles train and test.
        sentences = split_sentences(text)
        if not sentences:
            reject("empty text")
            return
        cells = _cells(values, roles)
        for sentence in sentences:
            out.add(record.line, sentence, sentence, None, split_value, doc_id or f"{stem}-{record.line}",
                    cells={"text": sentence, "split": cells["split"], "document": cells["document"]})
        return
    written_label = _written_label(values, roles)
    label, problem = label_cell(written_label)
    if problem:
        reject(problem)
        return
    if label is not None:
        tally.add(written_label, label)
    annotator = values.get(roles.annotator) if roles.annotator else None
    annotator = str(annotator).strip() or None if annotator is not None else None
    out.add(record.line, record.raw, text, label, split_value, doc_id, annotator,
            spans_lines=record.end_line > record.line, cells=lambda: _cells(values, roles))


def _parse_documents(records: Sequence[Record], stem: str, out: _Collector) -> None:
    """Documents are separated by a line of `---` or by two or more blank lines; one blank line is a
    paragraph break inside a document."""
    count = 0
    lines: list[str] = []
    start = 0
    previous = 0

    def flush() -> None:
        nonlocal count, lines
        if not lines:
            return
        count += 1
        doc_id = f"{stem}-{count:04d}"
        for sentence in split_sentences("\n".join(lines)):
            out.add(start, sentence, sentence, None, None, doc_id)
        lines = []

    for record in records:
        gap = record.line - previous - 1  # blank lines since the previous non-blank one
        previous = record.line
        if record.raw.strip() == _DOCUMENT_SEPARATOR:
            flush()
            continue
        if gap >= 2:
            flush()
        if not lines:
            start = record.line
        elif gap == 1:
            lines.append("")
        lines.append(record.raw)
    flush()


def _few_values(records: Sequence[Record], columns: Sequence[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    found: dict[str, dict[str, None] | None] = {c: {} for c in columns}
    for record in records:
        for column, seen in found.items():
            if seen is None or column not in record.values:
                continue
            label, problem = label_cell(record.values[column])
            if problem:
                found[column] = None
            elif label is not None:
                seen[label] = None
                if len(seen) > _CANDIDATE_VALUES:
                    found[column] = None
    return tuple((c, tuple(v)) for c, v in found.items() if v)


def _missing_text_column(table: Table, name: str) -> ImportFileError:
    found = ", ".join(repr(c) for c in table.columns)
    how = f", read as {table.delimiter_name}-separated," if table.delimiter else ""
    return ImportFileError(
        f"{name!r} has no `text` column; the header (line {table.header_line}){how} has {found}. Name the column "
        "holding the sentences `text` (or `sentence`). A file with one sentence per line and no header can be "
        "imported as .txt."
    )


def parse_table(table: Table, filename: str, *, documents: bool = False, max_rows: int = 200_000,
                label_column: str | None = None) -> ParsedFile:
    """Give a read table's columns their meaning; nothing is written. See preview_import and commit_import."""
    name = PurePath(filename).name or "the file"
    stem = PurePath(name).stem
    out = _Collector(max_rows=max_rows, documents=documents)
    tally = _LabelTally()
    roles = _roles(table.columns, label_column)
    if label_column is not None and not roles.labels:
        raise ImportFileError(f"{name!r} has no column {label_column!r}; its columns are "
                              f"{', '.join(repr(c) for c in table.columns)}.")
    if table.format in ("csv", "tsv") and roles.text is None:
        raise _missing_text_column(table, name)
    if table.format == "txt":
        if documents:
            _parse_documents(table.records, stem, out)
        else:
            for record in table.records:
                out.add(record.line, record.raw, record.raw, None, None, stem)
    else:
        per_keys: dict[tuple[str, ...], _Roles] = {}
        for record in table.records:
            if record.problem is not None:
                out.reject(record.line, record.raw, record.problem, text=record.raw)
                continue
            record_roles = roles
            if table.format == "jsonl":  # keys differ from line to line
                keys = tuple(record.values)
                record_roles = per_keys.get(keys) or per_keys.setdefault(keys, _roles(keys, label_column))
            _take_record(out, tally, record, record_roles, stem, spreadsheet=table.format != "jsonl")
    if not table.records:
        raise ImportFileError(f"{name!r} has a header but no rows below it; there is nothing to import.")
    ignored = roles.ignored
    if table.format == "jsonl":
        used = set()
        for keys in {tuple(r.values) for r in table.records if r.problem is None}:
            r = _roles(keys, label_column)
            used |= {r.text, r.split, r.document, r.annotator, *r.labels}
        ignored = tuple(c for c in table.columns if c not in used)
    if documents or table.format == "txt":
        label_used = None
    else:
        label_used = roles.labels[0] if roles.labels else None
    return ParsedFile(
        format=table.format, rows=tuple(out.rows), rejected=tuple(out.rejected),
        duplicates_in_file=len(out.repeats), repeats=tuple(out.repeats), filename=name,
        encoding=table.encoding, delimiter=table.delimiter, sep_line=table.sep_line, records=len(table.records),
        lines=table.lines, blank_lines=table.blank_lines, header_lines=table.header_lines, documents=documents,
        text_column=roles.text if table.format != "txt" else None, label_column=label_used,
        ignored_columns=ignored,
        few_valued_columns=_few_values(table.records, ignored) if not documents and label_used is None else (),
        label_notes=tally.notes(),
    )


def parse_file(
    data: bytes,
    filename: str,
    *,
    documents: bool = False,
    fmt: str | None = None,
    max_bytes: int = 50 * 1024 * 1024,
    max_rows: int = 200_000,
    encoding: str | None = None,
    label_column: str | None = None,
) -> ParsedFile:
    """Read an uploaded file into rows. Nothing is written; see preview_import and commit_import.

    `encoding` is a person's choice (CLI --encoding, the Import page's selectbox); without it a file
    that is neither UTF-8 nor marked by a byte-order mark is decoded with a guess that commit_import
    refuses until it is confirmed. `label_column` names the column holding the labels when it is
    not called `label` (a Label Studio export's `sentiment`).
    """
    table = read_table(data, filename, fmt=fmt, encoding=encoding, max_bytes=max_bytes)
    return parse_table(table, filename, documents=documents, max_rows=max_rows, label_column=label_column)


def file_labels(parsed: ParsedFile) -> list[str]:
    """The labels a file uses, for a project created from it: one per spelling that differs only in
    case or spaces, numbers first in numeric order (`0`, `1`), then names alphabetically."""
    labels: dict[str, str] = {}
    for row in (*parsed.rows, *parsed.repeats):
        if row.label:
            labels.setdefault(row.label.strip().casefold(), row.label.strip())
    return sorted(labels.values(), key=lambda x: (not x.isdigit(), x.zfill(9) if x.isdigit() else x.casefold()))


# ---------------------------------------------------------------------------------------------
# Preview and commit


def _labels_text(info: ProjectInfo) -> str:
    return ", ".join(f"{label.value} = {label.name}" for label in info.labels)


@dataclass
class _Group:
    """One sentence of the file: its first readable row and the labels all its rows give it."""

    row: ImportRow
    digest: str
    votes: list[tuple[str, int]]  # (annotator, label value), distinct, in file order
    lines: list[int]
    label_rows: int = 0  # rows that carry a label (for the label counts)

    @property
    def label(self) -> int | None:
        return self.votes[-1][1] if self.votes else None  # the file's last word, as for moderators

    @property
    def conflicting(self) -> bool:
        return len({value for _, value in self.votes}) > 1


def _resolve(info: ProjectInfo, parsed: ParsedFile, annotator: str
             ) -> tuple[list[_Group], list[RejectedRow], int, dict[int, int]]:
    """The file's sentences with their labels as project values, the rows rejected for a label the
    project does not have, the rows merged into an earlier one, and rows per label value.

    A sentence given different labels keeps each as an annotation by its annotator (the `annotator`
    column, else whoever imports), so Check labels shows the disagreement. The same annotator giving
    one sentence two labels is recorded as "name (line N)" for the later one: kept and visible,
    never silently replaced.
    """
    resolved: dict[str, int | None] = {}
    groups: dict[str, _Group] = {}
    order: list[_Group] = []
    rejected: list[RejectedRow] = []
    per_value: dict[int, int] = {}
    merged = 0
    for row in (*parsed.rows, *parsed.repeats):  # a repeat always comes after its first row
        value = None
        if row.label is not None:
            if row.label not in resolved:
                resolved[row.label] = info.label_value(row.label)
            value = resolved[row.label]
            if value is None:
                rejected.append(RejectedRow(
                    line=row.line, raw=row.text, text=row.text, label=row.label, split=row.split,
                    document=row.doc_id or None, annotator=row.annotator,
                    reason=f"unknown label {row.label!r}; this project's labels are {_labels_text(info)} "
                           "(give the name or the number)",
                ))
                continue
            per_value[value] = per_value.get(value, 0) + 1
        digest = text_hash(row.text)
        group = groups.get(digest)
        if group is None:
            group = groups[digest] = _Group(row, digest, [], [])
            order.append(group)
        else:
            merged += 1
        group.lines.append(row.line)
        if value is not None:
            who = row.annotator or annotator
            if any(name == who and given != value for name, given in group.votes):
                who = f"{who} (line {row.line})"
            if (who, value) not in group.votes:
                group.votes.append((who, value))
    return order, rejected, merged, per_value


def _all_rejects(parsed: ParsedFile, label_rejects: list[RejectedRow]) -> tuple[RejectedRow, ...]:
    return tuple(sorted((*parsed.rejected, *label_rejects), key=lambda r: r.line))


def _conflicts(info: ProjectInfo, groups: Sequence[_Group]) -> tuple[LabelConflict, ...]:
    return tuple(
        LabelConflict(text=g.row.text, lines=tuple(g.lines),
                      votes=tuple((name, info.label_name(value)) for name, value in g.votes))
        for g in groups if g.conflicting
    )


def _label_candidates(info: ProjectInfo, parsed: ParsedFile) -> tuple[str, ...]:
    """Ignored columns whose every value is one of the project's label names (a Label Studio export
    keeps the class in a column named after its control, e.g. `sentiment`)."""
    if parsed.label_column is not None or parsed.documents:
        return ()
    names = {label.name.strip().casefold() for label in info.labels}
    return tuple(column for column, values in parsed.few_valued_columns
                 if values and all(v.strip().casefold() in names for v in values))


def preview_import(db: Database, project_id: int, parsed: ParsedFile, annotator: str = "import") -> ImportPreview:
    """What commit_import would do, without writing: new vs already present, labels, rejects, conflicts."""
    info = get_project(db, project_id)
    groups, label_rejects, merged, per_value = _resolve(info, parsed, annotator.strip() or "import")
    with db.read() as session:
        existing = set(session.scalars(select(Sentence.text_hash).where(Sentence.project_id == project_id)))
    already = sum(1 for g in groups if g.digest in existing)
    # Only the labels the file uses, in the project's order, so an empty dict means "no labels".
    label_counts = {label.name: per_value[label.value] for label in info.labels if label.value in per_value}
    return ImportPreview(parsed=parsed, new=len(groups) - already, already_present=already,
                         label_counts=label_counts, rejected=_all_rejects(parsed, label_rejects),
                         duplicates=merged, conflicts=_conflicts(info, groups),
                         label_column_candidates=_label_candidates(info, parsed))


def _chunks(items: list) -> Iterator[list]:
    size = CHUNK_ROWS  # read at call time so tests can shrink it
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _annotation(sentence_id: int, label: int, annotator: str, now) -> dict:  # noqa: ANN001
    return {"sentence_id": sentence_id, "label": label, "annotator": annotator[:100], "note": "", "unsure": False,
            "source": "import", "reverts_id": None, "created_at": now}


def check_encoding(parsed: ParsedFile, confirmed: bool = False) -> None:
    """Refuse a guessed encoding nobody confirmed, naming the guess and how to confirm it."""
    if parsed.encoding.needs_confirmation and not confirmed:
        raise ImportFileError(parsed.encoding.refusal(parsed.filename or "the file"))


def commit_import(db: Database, actor: Actor, project_id: int, parsed: ParsedFile, annotator: str | None = None, *,
                  encoding_confirmed: bool = False) -> ImportResult:
    """Insert the file's new sentences and its labels, in chunks of CHUNK_ROWS rows per transaction.

    A sentence already in the project is not inserted again; its labels are recorded only when the
    file gives one that differs from its current label, so importing a project's own export back
    changes nothing. A chunk is all-or-nothing, so an interrupted import can simply be run again.
    A file whose encoding was guessed is refused until a person confirms the guess. Labels without
    an `annotator` column are recorded under `annotator`, by default the importing actor's name.
    """
    require(actor, Permission.import_data)
    annotator = (actor.name if annotator is None else annotator).strip()
    if not annotator:
        raise InvalidInput("An import needs an annotator name to record who labelled the rows.")
    check_encoding(parsed, encoding_confirmed)
    info = get_project(db, project_id)
    groups, label_rejects, merged, _ = _resolve(info, parsed, annotator)
    with db.read() as session:
        existing = {digest: (sentence_id, label) for digest, sentence_id, label in session.execute(
            select(Sentence.text_hash, Sentence.id, Sentence.label).where(Sentence.project_id == project_id))}

    new: list[_Group] = []
    relabel: list[tuple[int, list[tuple[str, int]]]] = []
    duplicates = merged
    for group in groups:
        found = existing.get(group.digest)
        if found is None:
            new.append(group)
            continue
        duplicates += 1
        if any(value != found[1] for _, value in group.votes):
            relabel.append((found[0], group.votes))

    added = labelled = 0
    for chunk in _chunks(new):
        now = utcnow()
        with db.write() as session:
            # Another import may have added some of these since `existing` was read.
            raced = set(session.scalars(select(Sentence.text_hash).where(
                Sentence.project_id == project_id, Sentence.text_hash.in_([g.digest for g in chunk]))))
            if raced:
                duplicates += sum(1 for g in chunk if g.digest in raced)
                chunk = [g for g in chunk if g.digest not in raced]
            if not chunk:
                continue
            values = [{
                "project_id": project_id,
                "text": g.row.text,
                "text_hash": g.digest,
                "doc_id": g.row.doc_id,
                "position": g.row.position,
                "split": Split(g.row.split) if g.row.split else Split(split_for_hash(g.digest, info.test_fraction)),
                "split_explicit": g.row.split is not None,
                "shuffle_key": shuffle_key(g.digest, info.shuffle_seed),
                "label": g.label,
                "unsure": False,
                "labelled_by": g.votes[-1][0][:100] if g.votes else None,
                "labelled_at": now if g.votes else None,
                "created_at": now,
            } for g in chunk]
            # Core inserts on the tables: the ORM's bulk path splits rows into many small statements
            # whenever the NULL columns differ from one row to the next (measured 4x slower).
            session.execute(insert(_SENTENCES), values)
            votes = {g.digest: g.votes for g in chunk if g.votes}
            if votes:
                ids = dict(session.execute(select(Sentence.text_hash, Sentence.id).where(
                    Sentence.project_id == project_id, Sentence.text_hash.in_(list(votes)))).all())
                # In file order, so each sentence's newest annotation is the label it was given last.
                rows = [_annotation(ids[digest], value, who, now)
                        for digest, given in votes.items() for who, value in given]
                session.execute(insert(_ANNOTATIONS), rows)
                labelled += len(rows)
            added += len(values)

    for chunk in _chunks(relabel):
        now = utcnow()
        with db.write() as session:
            # Re-read inside the lock: a moderator may have set the same label since `existing` was read.
            current = dict(session.execute(select(Sentence.id, Sentence.label).where(
                Sentence.id.in_([sentence_id for sentence_id, _ in chunk]))).all())
            changes = [(sentence_id, given) for sentence_id, given in chunk
                       if sentence_id in current and any(value != current[sentence_id] for _, value in given)]
            if not changes:
                continue
            session.execute(update(Sentence), [
                {"id": sentence_id, "label": given[-1][1], "unsure": False, "labelled_by": given[-1][0][:100],
                 "labelled_at": now}
                for sentence_id, given in changes])
            rows = [_annotation(sentence_id, value, who, now) for sentence_id, given in changes for who, value in given]
            session.execute(insert(_ANNOTATIONS), rows)
            labelled += len(rows)

    rejected = _all_rejects(parsed, label_rejects)
    result = ImportResult(added=added, duplicates=duplicates, labelled=labelled, rejected=len(rejected),
                          rejected_rows=rejected, conflicts=sum(1 for g in groups if g.conflicting))
    # Its own short transaction: the import itself spans one per chunk.
    record_now(db, actor, AuditAction.imported,
               f"{parsed.filename or parsed.format}: {added} sentences added, {labelled} labels, "
               f"{len(rejected)} rows rejected", project_id)
    return result


def label_column_candidates(db: Database, project_id: int, parsed: ParsedFile) -> tuple[str, ...]:
    return _label_candidates(get_project(db, project_id), parsed)


def summary_lines(parsed: ParsedFile, result: ImportResult, candidates: Sequence[str] = ()) -> list[str]:
    """What the CLI prints after an import, beyond the counts: how the file was read and what was not used."""
    lines = [f"read {parsed.records} rows as {parsed.format}"
             + (f", {parsed.delimiter_name}-separated" if parsed.delimiter else "")
             + f", encoding {parsed.encoding.label}"]
    if parsed.ignored_columns:
        lines.append("ignored columns: " + ", ".join(parsed.ignored_columns))
    lines += list(parsed.label_notes)
    for column in candidates:
        lines.append(f"no `label` column, but {column!r} holds only this project's label names: import again "
                     f"with --label-column {column} to use it")
    if result.conflicts:
        lines.append(f"{result.conflicts} sentence(s) were given different labels; each label is kept as an "
                     "annotation and the sentence is listed in Check labels")
    return lines


def rejected_rows_csv(rows: Sequence[RejectedRow]) -> bytes:
    """The rejects as a CSV to download, fix and import again as it is: the row's own cells whole (a
    row that could not be read keeps its line as the text, to be fixed in place), then the line and
    the reason, which an import ignores and names. Escaped like exporting.to_csv."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(REJECT_COLUMNS)
    for row in rows:
        text = row.text if row.text is not None else row.raw
        writer.writerow([escape_formula(text), escape_formula(row.label or ""), row.split or "",
                         escape_formula(row.document or ""), escape_formula(row.annotator or ""), row.line,
                         escape_formula(row.reason)])
    return buffer.getvalue().encode("utf-8-sig")
