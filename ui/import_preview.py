"""The Import tab's preview: how the file was read, what it would add, and what it would not use.

Every value that comes from the file (column names, labels, texts, encodings) is shown escaped or
inside a dataframe, never as Markdown.
"""
from __future__ import annotations

import streamlit as st

from core.importing import ImportPreview, ParsedFile
from ui.common import safe_text


def how_read(parsed: ParsedFile) -> str:
    """`CSV, semicolon-separated (from its sep= line) · encoding UTF-16 LE (byte-order mark)`, escaped."""
    parts = [parsed.format.upper()]
    if parsed.delimiter:
        parts[0] += f", {parsed.delimiter_name}-separated" + (" (from its sep= line)" if parsed.sep_line else "")
    parts.append(f"encoding {parsed.encoding.label}")
    return safe_text(" · ".join(parts))


def counts_line(preview: ImportPreview) -> str:
    """`4 rows read, 1 rejected`: every row of the file is a sentence, a merged duplicate or a reject."""
    rows = f"{preview.rows_read} row{'' if preview.rows_read == 1 else 's'} read"
    if preview.parsed.documents:
        rows += f" into {preview.new + preview.already_present + preview.duplicates} sentences"
    return f"{rows}, {len(preview.rejected)} rejected"


def render(preview: ImportPreview) -> None:
    parsed = preview.parsed
    st.markdown("**Read as** " + how_read(parsed), help="The delimiter and the encoding were told from the file itself.")
    st.markdown(f"**{counts_line(preview)}**")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("New sentences", preview.new)
    c2.metric("Already in project", preview.already_present)
    c3.metric("Merged duplicates in file", preview.duplicates)
    c4.metric("Rejected rows", len(preview.rejected))
    if parsed.ignored_columns:
        st.caption("Ignored columns: " + safe_text(", ".join(parsed.ignored_columns)))
    if parsed.label_column and parsed.label_column.strip().casefold() != "label":
        st.caption("Labels read from the column " + safe_text(repr(parsed.label_column)))
    if preview.label_counts:
        st.caption("Labels in the file: " + safe_text(", ".join(f"{k}: {v}" for k, v in preview.label_counts.items())))
    for note in parsed.label_notes:
        st.caption(safe_text(note))
    if preview.conflicts:
        st.warning(f"{len(preview.conflicts)} sentence(s) are given different labels in this file. Each label is "
                   "kept as an annotation by its annotator, and the sentence is listed in **Check labels**.")
        st.dataframe(
            [{"text": c.text, "lines": ", ".join(map(str, c.lines)),
              "labels": " · ".join(f"{who}: {label}" for who, label in c.votes)} for c in preview.conflicts[:50]],
            hide_index=True, width="stretch",
        )
    st.dataframe(
        [{"line": r.line, "text": r.text, "label": r.label, "split": r.split or "", "document": r.doc_id}
         for r in parsed.rows[:20]],
        hide_index=True, width="stretch",
    )


def render_rejects(preview: ImportPreview) -> None:
    with st.container(key="import_rejects"):
        st.warning(f"{len(preview.rejected)} row(s) will not be imported; the rest are fine. Download them, fix "
                   "them and import the file as it is: the line and reason columns are ignored.")
        st.dataframe([{"line": r.line, "problem": r.reason, "as written": r.shown} for r in preview.rejected[:50]],
                     hide_index=True, width="stretch",
                     column_config={"problem": st.column_config.TextColumn(width="large")})
