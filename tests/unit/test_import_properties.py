"""Property: whatever mix of good rows and bad lines a file holds, every row is accounted for once and
no imported sentence holds text from two rows (core.reader + core.importing.parse_file, no database).

Each written row carries a unique marker (`row17#`, `bad3#`); a good row's text may start or end
with commas, semicolons, quotes or line breaks, written the way a spreadsheet writes them.
"""
from __future__ import annotations

import csv
import io
import json
import re

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.importing import parse_file

MARKER = re.compile(r"(?:row|bad)\d+#")
PIECES = st.sampled_from(["", ",", ";", '"', '""', "\n", "\r\n", " and", "'", "|", "\t", "é", "…", "\u200b"])
LABELS = st.sampled_from(["", "other", "physical violence", "1", "0.0", '["other"]', "[]", "Other "])
KINDS = st.sampled_from(["good", "good", "good", "unclosed", "unclosed_label", "invisible", "broken_json", "blank"])
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def files(draw):
    """(items, each (kind, marker, text, label)) for a random mix of rows and bad lines."""
    items = []
    for i, kind in enumerate(draw(st.lists(KINDS, min_size=1, max_size=25))):
        text = f"{draw(PIECES)}row{i}# says{draw(PIECES)} words{draw(PIECES)}"
        items.append((kind, f"row{i}#", text, draw(LABELS)))
    return items


def csv_bytes(items, delimiter: str) -> tuple[bytes, int]:
    """The file and the number of rows in it (blank lines are not rows)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["text", "label"])
    rows = 0
    for i, (kind, _, text, label) in enumerate(items):
        if kind == "blank":
            buffer.write("\r\n")
            continue
        rows += 1
        if kind == "unclosed":
            buffer.write(f'"bad{i}# said stop{delimiter}other\r\n')
        elif kind == "unclosed_label":
            buffer.write(f'bad{i}# said stop{delimiter}"other\r\n')
        elif kind == "invisible":
            writer.writerow(["\u200b\u2060\ufeff", label])
        else:  # good, and broken_json, which is a good row in a CSV
            writer.writerow([text, label])
    return buffer.getvalue().encode(), rows


def jsonl_bytes(items) -> tuple[bytes, int]:
    lines, rows = [], 0
    for i, (kind, _, text, label) in enumerate(items):
        if kind == "blank":
            lines.append("   ")
            continue
        rows += 1
        if kind in ("unclosed", "broken_json"):
            lines.append(f'{{"text": "bad{i}# said stop", "label": ')
        elif kind == "unclosed_label":
            lines.append(f'{{"text": "bad{i}# said stop", "label": "other}}')
        elif kind == "invisible":
            lines.append(json.dumps({"text": "\u200b\u00ad", "label": label}))
        else:
            lines.append(json.dumps({"text": text, "label": label}))
    return "\n".join(lines).encode(), rows


def check(parsed, items, rows: int, good_kinds: set[str]) -> None:
    assert parsed.records == rows
    assert len(parsed.rows) + len(parsed.rejected) + parsed.duplicates_in_file == rows
    for row in (*parsed.rows, *parsed.repeats):
        assert len(MARKER.findall(row.text)) == 1, f"text from two rows, or none: {row.text!r}"
    good = {marker for kind, marker, _, _ in items if kind in good_kinds}
    imported = {MARKER.search(row.text).group() for row in parsed.rows}
    rejected_goods = {m for r in parsed.rejected for m in MARKER.findall(r.raw)} & good
    # A good row is imported, or rejected for its own label (a multi-label list); never lost.
    assert imported | rejected_goods | {MARKER.search(r.text).group() for r in parsed.repeats} == good
    assert imported <= good, "a bad line became a sentence"


def _two_readings(items, delimiter: str) -> bool:
    """A stray opening quote whose next quote in the file is the opening quote of a good row written in
    quotes that holds the delimiter and ends with a line break: the stray quote then closes there, and
    the file has two valid readings with one rejected line each (the stray row and the rows up to that
    one as a multi-line cell, or the good row as one). No reader can tell which was meant; found by this
    very test, and left out of it on purpose."""
    rows = [item for item in items if item[0] != "blank"]
    for k, (kind, _, _, _) in enumerate(rows):
        if kind != "unclosed":
            continue
        for next_kind, _, text, _ in rows[k + 1:]:
            quoted = next_kind not in ("good", "broken_json") or any(c in text for c in (delimiter, '"', "\n", "\r"))
            if not quoted:
                continue  # written without quotes: the stray quote runs on past it
            if next_kind in ("good", "broken_json") and text.endswith(("\n", "\r\n")) and delimiter in text:
                return True
            break
    return False


@SETTINGS
@given(files(), st.sampled_from([",", ";", "\t"]))
def test_csv_rows_are_each_imported_or_rejected_once_and_never_merged(items, delimiter) -> None:
    data, rows = csv_bytes(items, delimiter)
    assume(rows > 0)
    assume(not _two_readings(items, delimiter))
    check(parse_file(data, "mixed.csv"), items, rows, {"good", "broken_json"})  # JSON is text in a CSV


@SETTINGS
@given(files())
def test_jsonl_rows_are_each_imported_or_rejected_once_and_never_merged(items) -> None:
    data, rows = jsonl_bytes(items)
    assume(rows > 0)
    check(parse_file(data, "mixed.jsonl"), items, rows, {"good"})
