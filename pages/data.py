"""Import sentences (preview first, then commit) and export labels."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.errors import AppError
from core.exporting import export_project
from core.importing import commit_import, parse_file, preview_import, rejected_rows_csv
from core.projects import create_project
from ui.common import current_project, get_db, get_settings, safe_text, show_error

db = get_db()
settings = get_settings()
project = current_project()

tab_import, tab_export, tab_new = st.tabs(["Import", "Export", "New project"])

with tab_new:
    with st.form("new-project"):
        name = st.text_input("Project name", key="new_name")
        labels = st.text_input("Labels, in order, comma-separated", placeholder="other, physical violence", key="new_labels")
        fraction = st.slider("Share of sentences held out for testing", 0.05, 0.5, 0.2, 0.05)
        guidelines = st.text_area("Labelling guidelines (Markdown)")
        if st.form_submit_button("Create project", type="primary"):
            try:
                created = create_project(db, name, labels.split(","), guidelines=guidelines, test_fraction=fraction)
            except AppError as error:
                show_error(error)
            else:
                st.session_state["project_id"] = created.id
                st.rerun()

with tab_import:
    if project is None:
        st.info("Create a project first (the **New project** tab).")
    else:
        st.markdown(
            f"Into **{safe_text(project.name)}**. CSV/TSV need a `text` column; optional `label`, `split` "
            "(train/test) and `document` columns. JSONL takes the same keys. Plain text: one sentence a line."
        )
        upload = st.file_uploader("File", type=["csv", "tsv", "jsonl", "ndjson", "txt"], key="import_file")
        documents = st.checkbox("Each row or paragraph is a whole post: split it into sentences", key="import_docs")
        if upload is not None:
            try:
                parsed = parse_file(
                    upload.getvalue(), upload.name, documents=documents,
                    max_bytes=settings.max_upload_mb * 1024 * 1024, max_rows=settings.max_import_rows,
                )
                preview = preview_import(db, project.id, parsed)
            except AppError as error:
                show_error(error)
            else:
                c1, c2, c3, c4 = st.columns(4)
                c1.metric("New sentences", preview.new)
                c2.metric("Already in project", preview.already_present)
                c3.metric("Merged duplicates in file", parsed.duplicates_in_file)
                c4.metric("Rejected rows", len(preview.rejected))
                if preview.label_counts:
                    st.caption("Labels in the file: " + safe_text(", ".join(f"{k}: {v}" for k, v in preview.label_counts.items())))
                st.dataframe(
                    [{"line": r.line, "text": r.text, "label": r.label, "split": r.split, "document": r.doc_id}
                     for r in parsed.rows[:20]],
                    hide_index=True, width="stretch",
                )
                if preview.rejected:
                    st.warning(f"{len(preview.rejected)} row(s) will not be imported; the rest are fine.")
                    st.dataframe([{"line": r.line, "problem": r.reason} for r in preview.rejected[:50]],
                                 hide_index=True, width="stretch")
                    st.download_button("Download rejected rows", rejected_rows_csv(preview.rejected),
                                       file_name=f"{Path(upload.name).stem}-rejected.csv", mime="text/csv")
                if st.button(f"Import {preview.new} sentence(s)", type="primary", key="import_commit",
                             disabled=preview.new == 0 and not preview.label_counts):
                    result = commit_import(db, project.id, parsed, annotator=st.session_state.get("user") or "import")
                    st.success(f"Added {result.added} sentences, merged {result.duplicates} duplicates, "
                               f"recorded {result.labelled} labels, rejected {result.rejected} rows.")

with tab_export:
    if project is None:
        st.info("Nothing to export yet.")
    else:
        formats = {"csv": "CSV (spreadsheet-safe)", "jsonl": "JSON Lines",
                   "training": "text,label CSV for datasets.load_dataset"}
        fmt = st.radio("Format", list(formats), format_func=formats.get, key="export_format", horizontal=True)
        if st.button("Prepare export", key="export_prepare"):
            data = export_project(db, project.id, fmt)
            suffix = "jsonl" if fmt == "jsonl" else "csv"
            st.download_button(f"Download {project.name}.{suffix}", data, file_name=f"{project.name}.{suffix}",
                               key="export_download")
