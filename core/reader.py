"""Reading the files people bring: CSV/TSV, JSON Lines and plain text, as records with line numbers.

The one reader behind `import`, the Import page and `predict`. It decides three things by evidence
and reports each, so a preview can show them and a person can confirm them:

* the encoding: a byte-order mark first (UTF-8, UTF-16, UTF-32), then UTF-8, otherwise a guess by
  `charset-normalizer` that must be confirmed before anything is imported;
* the delimiter of a CSV/TSV (comma, semicolon, tab or pipe), or the one a spreadsheet's `sep=X`
  first line names;
* where each record starts and ends. A malformed record (a double quote that is never closed, a
  JSON line that does not parse) becomes one Record with a `problem` and its line number, and
  reading resumes on the next line, so one stray quote never swallows the rows after it.

Accounting, which the tests hold it to: every physical line of the decoded text is exactly one of
a header line (the `sep=` line and the header), a blank line (whitespace only, or a CSV row whose
cells are all empty), or a line of a record (a record spans several lines only when a quoted field
is properly closed on a later line). So `header_lines + blank_lines + record lines == lines`.
"""
from __future__ import annotations

import ast
import codecs
import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import PurePath

from core.errors import ImportFileError

FORMATS = ("csv", "tsv", "jsonl", "txt")
EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "txt"}
TEXT_KEYS = ("text", "sentence")
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# A quoted field may run over several lines (a cell with line breaks), but a record this long is a
# stray quote swallowing the rows after it. Below csv's own field limit (131,072), so that limit
# never decides what is lost.
MAX_RECORD_CHARS = 100_000
_SAMPLE_LINES = 50  # data lines looked at when choosing the delimiter

_SEP_LINE = re.compile(r'^\s*"?sep=(.)"?\s*$', re.IGNORECASE)
_BOMS = (  # longest first: the UTF-32 LE mark begins with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32 LE"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32 BE"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16 LE"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 BE"),
)
# What Excel and most Windows tools in Western locales write when they do not write UTF-8. On short
# Western text several single-byte code pages decode equally cleanly and charset-normalizer ranks
# cp1250 first (it turned "Naïve" into "Naďve" here); cp1252 wins such ties.
_PREFERRED_LEGACY = "cp1252"
_OFFERED_ENCODINGS = ("cp1252", "latin_1", "cp1250", "cp1251", "utf_16", "mac_roman")


@dataclass(frozen=True)
class Encoding:
    name: str  # a Python codec name
    how: str  # "bom", "utf-8", "detected" (a guess: needs confirming) or "given" (chosen by a person)
    alternatives: tuple[str, ...] = ()  # other encodings worth offering when the guess reads wrong
    first_bad_byte: str = ""  # where the bytes stop being UTF-8, for messages ("0xE9 on line 3")

    @property
    def needs_confirmation(self) -> bool:
        return self.how == "detected"

    @property
    def label(self) -> str:
        if self.how == "bom":
            return f"{self.name.upper().replace('-LE', ' LE').replace('-BE', ' BE')} (byte-order mark)"
        if self.how == "utf-8":
            return "UTF-8"
        if self.how == "detected":
            return f"{self.name} (detected, not UTF-8)"
        return f"{self.name} (as chosen)"

    def refusal(self, filename: str) -> str:
        """Why a guessed encoding is not used without a person's say-so, and how to give it."""
        return (
            f"{filename!r} is not UTF-8 text ({self.first_bad_byte}); it looks like {self.name}. Check that "
            f"the text reads right in {self.name}, then confirm it: on the Import page choose the encoding and "
            f"tick the box; on the command line add --encoding {self.name}. Or save the file as UTF-8 (in "
            "Excel: Save As → \"CSV UTF-8\") and use it again."
        )


UTF8 = Encoding("utf-8", "utf-8")


@dataclass(frozen=True)
class Record:
    line: int  # where it starts, 1-based, counting every physical line of the file
    end_line: int  # where it ends (a properly quoted field can hold line breaks)
    raw: str  # as written, line breaks inside kept, the final one dropped
    values: dict  # column name as in the header (or JSON key) -> value; str for CSV/TSV/text
    problem: str | None = None  # why the record could not be read; `values` is then empty


@dataclass(frozen=True)
class Table:
    format: str  # csv, tsv, jsonl or txt (a .txt spreadsheet export with a tab header reads as tsv)
    encoding: Encoding
    delimiter: str | None
    sep_line: bool  # the file began with a spreadsheet's `sep=X` line
    columns: tuple[str, ...]  # the header as written; JSON keys in first-seen order; ("text",) for txt
    records: tuple[Record, ...]
    lines: int
    blank_lines: int
    header_lines: int
    header_line: int = 0  # where the header starts (CSV/TSV)

    @property
    def delimiter_name(self) -> str:
        return describe_delimiter(self.delimiter)

    @property
    def record_lines(self) -> int:
        return sum(r.end_line - r.line + 1 for r in self.records)


def describe_delimiter(delimiter: str | None) -> str:
    if delimiter is None:
        return ""
    return DELIMITER_NAMES.get(delimiter, repr(delimiter))


def format_for(filename: str, fmt: str | None) -> str:
    if fmt is not None:
        fmt = fmt.lower().lstrip(".")
        fmt = EXTENSIONS.get(f".{fmt}", fmt)
        if fmt not in FORMATS:
            raise ImportFileError(f"Unknown file format {fmt!r}; use one of {', '.join(FORMATS)}.")
        return fmt
    suffix = PurePath(filename).suffix.lower()
    if suffix not in EXTENSIONS:
        raise ImportFileError(
            f"Cannot tell the format of {filename!r} from its extension {suffix or '(none)'!r}. "
            f"Accepted: {', '.join(EXTENSIONS)}. Rename the file or choose the format explicitly."
        )
    return EXTENSIONS[suffix]


def find_column(columns: tuple[str, ...] | list[str], keys: tuple[str, ...]) -> str | None:
    """The first column whose name, trimmed and case-folded, is one of `keys` (in the order of keys)."""
    folded = {}
    for column in columns:
        folded.setdefault(str(column).strip().casefold(), column)
    return next((folded[k] for k in keys if k in folded), None)


# ---------------------------------------------------------------------------------------------
# Encoding


def _first_bad_byte(data: bytes) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        return f"the byte 0x{data[err.start]:02X} at byte offset {err.start:,} (line {line}) is not valid UTF-8"
    return "it holds NUL bytes, as UTF-16 text without a byte-order mark does"


def decode(data: bytes, filename: str, encoding: str | None = None) -> tuple[str, Encoding]:
    """The text and how its encoding was decided. `encoding` is a person's choice and wins."""
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ImportFileError(f"Unknown encoding {encoding!r}; use a name like utf-8, cp1252 or utf-16.") from None
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as err:
            line = data.count(b"\n", 0, err.start) + 1
            raise ImportFileError(
                f"{filename!r} cannot be read as {encoding}: the byte 0x{data[err.start]:02X} at byte offset "
                f"{err.start:,} (line {line}) is not valid there. Choose another encoding."
            ) from None
        return text.lstrip("\ufeff"), Encoding(codecs.lookup(encoding).name, "given")
    for mark, codec, _ in _BOMS:
        if data.startswith(mark):
            try:
                return data[len(mark):].decode(codec), Encoding(codec, "bom")
            except UnicodeDecodeError as err:
                raise ImportFileError(
                    f"{filename!r} starts with a {codec} byte-order mark but byte offset {err.start + len(mark):,} "
                    f"is not valid {codec}. Save the file again as UTF-8 and use it again."
                ) from None
    # Text never holds NUL; ASCII written as UTF-16 without a mark is valid UTF-8 full of them.
    if b"\x00" not in data:
        try:
            return data.decode("utf-8"), UTF8
        except UnicodeDecodeError:
            pass
    return _detect(data, filename)


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _detect(data: bytes, filename: str) -> tuple[str, Encoding]:
    import charset_normalizer  # only files that are not UTF-8 pay for it

    where = _first_bad_byte(data)
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is None:
        raise ImportFileError(
            f"{filename!r} is not text in any encoding this app can tell: {where}. If it is a spreadsheet "
            "(.xlsx), save it as \"CSV UTF-8\" first; otherwise save it as UTF-8 text and use it again."
        )
    name = best.encoding
    if name != _PREFERRED_LEGACY:
        legacy = charset_normalizer.from_bytes(data, cp_isolation=[_PREFERRED_LEGACY]).best()
        if legacy is not None and legacy.chaos <= best.chaos:
            name = _PREFERRED_LEGACY
    # The common ones first: the detector's other candidates include code pages few people have met.
    offered = list(_OFFERED_ENCODINGS) + [m.encoding for m in matches]
    alternatives = tuple(e for e in dict.fromkeys(offered) if e != name and _decodes(data, e))[:10]
    return data.decode(name, errors="replace").lstrip("\ufeff"), Encoding(name, "detected", alternatives, where)


# ---------------------------------------------------------------------------------------------
# Lines and CSV records


def physical_lines(text: str) -> list[str]:
    """Lines with their endings; only \\n, \\r\\n and \\r end a line (not U+2028 and friends)."""
    return io.StringIO(text, newline="").readlines()


def _content(line: str) -> str:
    return line.rstrip("\r\n")


_START, _UNQUOTED, _QUOTED, _CLOSED = range(4)


class _Scan:
    """Where a CSV record is after each physical line: inside a quoted field or not, and whether its
    quotes are regular (opened at a field's start, doubled inside, closed before a delimiter).

    Steps only from quote to delimiter to quote, so a line costs a few regex searches, not a loop
    over its characters.
    """

    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter
        self.tokens = re.compile('["' + re.escape(delimiter) + "]")
        self.state = _START
        self.stray_literal = False  # a quote inside an unquoted field (csv keeps it as text)
        self.text_after_close = False  # `"abc"def`: csv glues def on; nobody writes that on purpose

    def feed(self, line: str) -> None:
        content = _content(line)
        state = self.state
        field_start = 0 if state == _START else -1
        closed_at = -1
        pos = 0
        while True:
            match = self.tokens.search(content, pos)
            if match is None:
                break
            p = match.start()
            char = content[p]
            pos = p + 1
            if state == _QUOTED:
                if char == '"':
                    if content.startswith('"', pos):
                        pos += 1  # a doubled quote is a quote character inside the text
                    else:
                        state, closed_at = _CLOSED, pos
            elif char == self.delimiter:
                if state == _CLOSED and p != closed_at:
                    self.text_after_close = True
                state, field_start = _START, pos
            elif state == _START and p == field_start:
                state = _QUOTED
            else:
                if state == _CLOSED and p != closed_at:
                    self.text_after_close = True
                self.stray_literal = True
                state = _UNQUOTED
        if state == _CLOSED and closed_at != len(content):
            self.text_after_close = True
        if state != _QUOTED:
            state = _START  # the line ends the record
        self.state = state

    @property
    def open(self) -> bool:
        return self.state == _QUOTED


def _parse_fields(lines: list[str], delimiter: str) -> list[str]:
    if len(lines) == 1 and '"' not in lines[0]:
        return _content(lines[0]).split(delimiter)
    return next(csv.reader(lines, delimiter=delimiter, strict=False))


def _unclosed(line: int) -> str:
    return (f"a double quote on line {line} is never closed; the rows after it were read on their own. "
            "Remove the stray quote, or close it with another")


def _csv_records(lines: list[str], start: int, delimiter: str, width: int | None = None,
                 text_index: int | None = None):
    """(first line index, last line index, fields or None, problem or None) for each record from `start`.

    A record whose quoted field stays open past its line is kept only when it looks like what a
    spreadsheet writes for a cell with line breaks: it closes within MAX_RECORD_CHARS, every quote
    in it is regular, it has exactly `width` fields, and only the text column (`text_index`) holds
    line breaks. Otherwise only its first line is rejected and reading goes on with the next line,
    which is where the rows a stray quote would have swallowed begin.

    A stray quote can also close on the opening quote of a real quoted cell further down, leaving that
    cell's closing quote behind as a stray of its own. So a multi-line record whose next record is
    malformed or has a quote inside unquoted text is dropped for the other reading (its first line
    rejected) when that reading is clean through the same lines.
    """
    i, n = start, len(lines)
    while i < n:
        first, last, fields, problem, following, _ = _one_record(lines, i, delimiter, width, text_index)
        if fields is not None and last > first and following < n:
            after = _one_record(lines, following, delimiter, width, text_index)
            if after[3] is not None or after[5]:
                if _clean_through(lines, first + 1, following, delimiter, width, text_index):
                    yield first, first, None, _unclosed(first + 1)
                    i = first + 1
                    continue
        yield first, last, fields, problem
        i = following


def _clean_through(lines: list[str], i: int, end: int, delimiter: str, width: int | None,
                   text_index: int | None) -> bool:
    """Whether the records from line index `i` read without a problem or an irregular quote up to and
    including line index `end`."""
    while i <= end and i < len(lines):
        _, _, fields, problem, following, irregular = _one_record(lines, i, delimiter, width, text_index)
        if problem is not None or irregular:
            return False
        i = following
    return True


def _one_record(lines: list[str], i: int, delimiter: str, width: int | None, text_index: int | None
                ) -> tuple[int, int, list[str] | None, str | None, int, bool]:
    """The record that starts on line index `i`: (first, last, fields or None, problem or None, next index,
    whether a quote stands inside unquoted text)."""
    line = lines[i]
    if not line.strip():
        return i, i, None, None, i + 1, False
    if len(line) > MAX_RECORD_CHARS:
        return i, i, None, (f"line {i + 1} is {len(line):,} characters long; split it into rows of at most "
                            f"{MAX_RECORD_CHARS:,}"), i + 1, False
    if '"' not in line:  # most lines of most files: nothing to scan
        return i, i, _content(line).split(delimiter), None, i + 1, False
    n = len(lines)
    scan = _Scan(delimiter)
    scan.feed(line)
    j, size = i, len(line)
    while scan.open and j + 1 < n and size <= MAX_RECORD_CHARS:
        j += 1
        size += len(lines[j])
        scan.feed(lines[j])
    if j > i and (scan.open or size > MAX_RECORD_CHARS or scan.text_after_close or scan.stray_literal):
        return i, i, None, _unclosed(i + 1), i + 1, False
    if scan.open:  # a single line at the end of the file
        return i, i, None, _unclosed(i + 1), i + 1, False
    if scan.text_after_close:
        return i, j, None, (f"a double quote on line {i + 1} ends a quoted text early: more text follows it "
                            'before the next delimiter. Write a double quote inside quoted text as two ("")'
                            ), j + 1, True
    fields = _parse_fields(lines[i:j + 1], delimiter)
    if j > i and width is not None and (len(fields) != width or any(
            "\n" in f or "\r" in f for k, f in enumerate(fields) if k != text_index)):
        return i, i, None, _unclosed(i + 1), i + 1, False
    return i, j, fields, None, j + 1, scan.stray_literal


def _header_cells(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([_content(line)], delimiter=delimiter, strict=False), [])
    except csv.Error:
        return [_content(line)]


def _choose_delimiter(header: str, sample: list[str], default: str) -> str:
    """The candidate that finds a text column in the header and splits the rows below it alike."""

    def score(delimiter: str) -> tuple:
        cells = _header_cells(header, delimiter)
        has_text = find_column(cells, TEXT_KEYS) is not None
        width = len(cells)
        alike = sum(len(_header_cells(line, delimiter)) == width for line in sample) if width > 1 else 0
        return has_text, width > 1, alike, delimiter == default

    return max(DELIMITERS, key=score)


def _unique(names: list[str]) -> tuple[str, ...]:
    """Header names made unique the way pandas does (`name`, `name.1`), so no cell is lost."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        name = name.strip()
        if name in seen:
            seen[name] += 1
            candidate = f"{name}.{seen[name]}"
            while candidate in seen:
                seen[name] += 1
                candidate = f"{name}.{seen[name]}"
            out.append(candidate)
            seen[candidate] = 0
        else:
            seen[name] = 0
            out.append(name)
    return tuple(out)


def _read_delimited(lines: list[str], fmt: str, filename: str, encoding: Encoding) -> Table:
    n = len(lines)
    i = 0
    blank = 0
    while i < n and not lines[i].strip():
        blank += 1
        i += 1
    if i == n:
        raise ImportFileError(f"{filename!r} holds only blank lines; there is nothing to read.")
    header_lines = 0
    sep_line = False
    delimiter: str | None = None
    match = _SEP_LINE.match(_content(lines[i]))
    if match and match.group(1) not in '"\r\n':
        delimiter, sep_line = match.group(1), True
        header_lines += 1
        i += 1
        while i < n and not lines[i].strip():
            blank += 1
            i += 1
        if i == n:
            raise ImportFileError(f"{filename!r} has a `sep=` line but no header below it.")
    if delimiter is None:
        sample = [line for line in lines[i + 1:i + 1 + _SAMPLE_LINES] if line.strip()]
        delimiter = _choose_delimiter(lines[i], sample, "\t" if fmt == "tsv" else ",")
    first, last, header, problem = next(_csv_records(lines, i, delimiter))
    if problem is not None or header is None:
        raise ImportFileError(f"The header (line {first + 1}) of {filename!r} cannot be read: {problem}.")
    header_lines += last - first + 1
    header_line = first + 1
    columns = _unique(header)
    width = len(columns)
    text_column = find_column(columns, TEXT_KEYS)
    text_index = columns.index(text_column) if text_column is not None else None
    name = describe_delimiter(delimiter)
    records: list[Record] = []
    for first, last, fields, problem in _csv_records(lines, last + 1, delimiter, width, text_index):
        raw = "".join(lines[first:last + 1]).rstrip("\r\n")
        if problem is not None:
            records.append(Record(first + 1, last + 1, raw, {}, problem))
            continue
        if fields is None or not "".join(fields).strip():
            blank += last - first + 1
            continue
        if len(fields) > width and any(f.strip() for f in fields[width:]):
            records.append(Record(first + 1, last + 1, raw, {}, (
                f"{len(fields)} fields but the header has {width} columns; a {name} inside the text needs the "
                "text in double quotes")))
            continue
        values = {column: (fields[k] if k < len(fields) else "") for k, column in enumerate(columns)}
        records.append(Record(first + 1, last + 1, raw, values))
    return Table(fmt, encoding, delimiter, sep_line, columns, tuple(records), n, blank, header_lines, header_line)


# ---------------------------------------------------------------------------------------------
# JSON Lines and plain text


def _read_jsonl(lines: list[str], filename: str, encoding: Encoding) -> Table:
    first = next((line for line in lines if line.strip()), "")
    if first.lstrip().startswith("["):
        try:
            whole = json.loads("".join(lines))
        except json.JSONDecodeError:
            whole = None
        if isinstance(whole, list):
            raise ImportFileError(
                f"{filename!r} is one JSON array, not JSON Lines. Write one object a line "
                '({"text": "...", "label": "..."}), or save it as CSV.'
            )
    records: list[Record] = []
    columns: dict[str, None] = {}
    blank = 0
    for number, line in enumerate(lines, start=1):
        raw = _content(line)
        if not raw.strip():
            blank += 1
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as err:
            records.append(Record(number, number, raw, {}, f"not valid JSON: {err.msg} at column {err.colno}"))
            continue
        if not isinstance(value, dict):
            records.append(Record(number, number, raw, {}, (
                f"not a JSON object (found {type(value).__name__}); write "
                '{"text": "...", "label": "..."} on each line')))
            continue
        for key in value:
            columns.setdefault(str(key), None)
        records.append(Record(number, number, raw, {str(k): v for k, v in value.items()}))
    return Table("jsonl", encoding, None, False, tuple(columns), tuple(records), len(lines), blank, 0)


def _read_text_lines(lines: list[str], encoding: Encoding, blank_records: bool) -> Table:
    records: list[Record] = []
    blank = 0
    for number, line in enumerate(lines, start=1):
        raw = _content(line)
        if not raw.strip() and not blank_records:
            blank += 1
            continue
        records.append(Record(number, number, raw, {"text": raw}))
    return Table("txt", encoding, None, False, ("text",), tuple(records), len(lines), blank, 0)


def _looks_like_tab_table(lines: list[str]) -> bool:
    """A spreadsheet's "Unicode text" export: a .txt whose first line is a tab-separated header."""
    first = next((line for line in lines if line.strip()), "")
    return "\t" in first and find_column(_header_cells(first, "\t"), TEXT_KEYS) is not None


def read_table(data: bytes, filename: str, *, fmt: str | None = None, encoding: str | None = None,
               max_bytes: int = 50 * 1024 * 1024, blank_records: bool = False) -> Table:
    """Decode and split a file into records. `blank_records`: plain-text blank lines become records
    with empty text (for `predict`, whose output has one row per input line)."""
    name = PurePath(filename).name or "the file"
    kind = format_for(name, fmt)
    if not data:
        raise ImportFileError(f"{name!r} is empty (0 bytes). Choose the file that holds the sentences.")
    if len(data) > max_bytes:
        raise ImportFileError(
            f"{name!r} is {len(data) / 1_048_576:.1f} MB; the limit is {max_bytes / 1_048_576:.1f} MB. "
            "Split it into smaller files and use them one after another."
        )
    text, how = decode(data, name, encoding)
    if not text.strip():
        raise ImportFileError(f"{name!r} holds only blank lines; there is nothing to read.")
    lines = physical_lines(text)
    if kind == "txt" and fmt is None and _looks_like_tab_table(lines):
        kind = "tsv"
    if kind in ("csv", "tsv"):
        return _read_delimited(lines, kind, name, how)
    if kind == "jsonl":
        return _read_jsonl(lines, name, how)
    return _read_text_lines(lines, how, blank_records)


# ---------------------------------------------------------------------------------------------
# Label cells


_INTEGRAL = re.compile(r"^[+-]?\d+\.0*$")


def label_cell(value: object) -> tuple[str | None, str | None]:
    """(label, problem) from a label cell as people write it.

    `1.0` (pandas writes integer labels with a missing value as floats) is `1`; doccano's lists are
    one label (`["x"]`), none (`[]`), or several, which this app cannot take (one label a sentence).
    """
    if value is None or isinstance(value, bool):
        return (None, None) if value is None else (None, f"label {str(value).lower()} is not a label name or number")
    if isinstance(value, float):
        if value != value:  # NaN
            return None, None
        return (str(int(value)), None) if value.is_integer() else (str(value), None)
    if isinstance(value, int):
        return str(value), None
    if isinstance(value, (list, tuple)):
        return _label_list(list(value))
    if isinstance(value, dict):
        return None, "the label is a JSON object; give one label name or number"
    text = str(value).strip()
    if not text:
        return None, None
    if "." not in text and text[0] != "[":  # a plain name or integer: most cells
        return text, None
    if text.startswith("[") and text.endswith("]"):
        parsed = _list_literal(text)
        if parsed is not None:
            return _label_list(parsed)
    if _INTEGRAL.match(text):
        return str(int(float(text))), None
    return text, None


def _list_literal(text: str) -> list | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        try:
            value = ast.literal_eval(text)  # pandas writes a list cell as ['x'], which is no JSON
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    return value if isinstance(value, list) else None


def _label_list(items: list) -> tuple[str | None, str | None]:
    if any(isinstance(item, (list, tuple, dict)) for item in items):
        return None, "the label is a list of spans (a sequence-labelling export); give one label a sentence"
    labels = []
    for item in items:
        label, problem = label_cell(item)
        if problem:
            return None, problem
        if label is not None and label.casefold() not in {x.casefold() for x in labels}:
            labels.append(label)
    if not labels:
        return None, None
    if len(labels) > 1:
        shown = ", ".join(repr(x) for x in labels)
        return None, (f"{len(labels)} labels ({shown}); this project takes one label a sentence, so "
                      "multi-label rows are not imported. Keep one label")
    return labels[0], None
