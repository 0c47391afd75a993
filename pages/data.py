"""Import sentences (preview first, then commit) and export labels."""
from __future__ import annotations

import streamlit as st

from core.errors import AppError
from core.exporting import export_file_name, export_format_file_name, export_project
from core.importing import commit_import, parse_file, preview_import, rejected_rows_csv
from core.permissions import Permission
from core.projects import MAX_CONTENT_NOTE, create_project, set_content_note, update_guidelines
from ui import import_preview
from ui.auth import require_actor
from ui.common import current_project, get_db, get_settings, safe_text, show_error

actor = require_actor(Permission.import_data)  # only admins get this page; core checks each action too
db = get_db()
settings = get_settings()
project = current_project()

CONTENT_NOTE_HELP = ("What the sentences contain (e.g. descriptions of violence), shown to everyone before "
                     "they label this project, and again whenever it changes.")

tab_import, tab_export, tab_project, tab_new = st.tabs(["Import", "Export", "This project", "New project"])

with tab_new:
    with st.form("new-project"):
        name = st.text_input("Project name", key="new_name")
        labels = st.text_input("Labels, in order, comma-separated", placeholder="other, physical violence", key="new_labels")
        fraction = st.slider("Share of sentences held out for testing", 0.05, 0.5, 0.2, 0.05)
        guidelines = st.text_area("Labelling guidelines")
        content_note = st.text_area("Content note", key="new_content_note", max_chars=MAX_CONTENT_NOTE,
                                    help=CONTENT_NOTE_HELP)
        if st.form_submit_button("Create project", type="primary"):
            try:
                created = create_project(db, actor, name, labels.split(","), guidelines=guidelines,
                                         test_fraction=fraction, content_note=content_note)
            except AppError as error:
                show_error(error)
            else:
                st.session_state["project_id"] = created.id
                st.rerun()


with tab_project:
    if project is None:
        st.info("Create a project first (the **New project** tab).")
    else:
        with st.form(f"project-settings-{project.id}", border=False):
            note = st.text_area("Content note", value=project.content_note, max_chars=MAX_CONTENT_NOTE,
                                key=f"content_note-{project.id}", help=CONTENT_NOTE_HELP)
            rules = st.text_area("Labelling guidelines", value=project.guidelines, height=200,
                                 key=f"guidelines-{project.id}")
            if st.form_submit_button("Save", type="primary"):
                try:
                    if note.strip() != project.content_note:
                        set_content_note(db, actor, project.id, note)
                    if rules != project.guidelines:
                        update_guidelines(db, actor, project.id, rules)
                except AppError as error:
                    show_error(error)
                else:
                    st.toast("Saved.")
                    st.rerun()


def _read(upload, documents: bool, column_key: str, encoding: str | None = None):
    limits = {"max_bytes": settings.max_upload_mb * 1024 * 1024, "max_rows": settings.max_import_rows}
    return parse_file(upload.getvalue(), upload.name, documents=documents, encoding=encoding,
                      label_column=st.session_state.get(column_key) or None, **limits)


with tab_import:
    if project is None:
        st.info("Create a project first (the **New project** tab).")
    else:
        st.markdown(
            f"Into **{safe_text(project.name)}**. CSV/TSV need a `text` column; optional `label`, `split` "
            "(train/test), `document` and `annotator` columns. JSONL takes the same keys. Plain text: one "
            "sentence a line. The delimiter and the encoding are told from the file."
        )
        upload = st.file_uploader("File", type=["csv", "tsv", "jsonl", "ndjson", "txt"], key="import_file")
        documents = st.checkbox("Each row or paragraph is a whole post: split it into sentences", key="import_docs")
        if upload is not None:
            # Per-file widget keys: a new upload starts with nothing chosen or confirmed.
            file_key = getattr(upload, "file_id", None) or f"{upload.name}-{upload.size}"
            encoding_key, confirm_key, column_key = (f"import_{k}_{file_key}" for k in ("encoding", "confirm", "column"))
            preview = None
            try:
                parsed = _read(upload, documents, column_key)
                guessed = parsed.encoding if parsed.encoding.needs_confirmation else None
                if guessed is not None:
                    st.warning(f"Detected encoding: {safe_text(guessed.name)} (not UTF-8) — check the preview: do "
                               "the sentences read right?", icon=":material/translate:")
                    chosen = st.selectbox("Encoding", (guessed.name, *guessed.alternatives), key=encoding_key,
                                          help="Pick another one if letters look wrong in the preview below.")
                    if chosen != guessed.name:
                        parsed = _read(upload, documents, column_key, encoding=chosen)
                preview = preview_import(db, project.id, parsed, annotator=actor.name)
            except AppError as error:
                show_error(error)
            if preview is not None:
                chosen_column = st.session_state.get(column_key)
                offered = preview.label_column_candidates or ((chosen_column,) if chosen_column else ())
                if offered:
                    st.info("There is no `label` column, but " + safe_text(" and ".join(repr(c) for c in offered))
                            + " holds only this project's label names. Use it for the labels?")
                    st.selectbox("Labels from column", ("", *offered), key=column_key,
                                 format_func=lambda c: c or "(none: import the sentences unlabelled)")
                import_preview.render(preview)
                if preview.rejected:
                    import_preview.render_rejects(preview)
                    st.download_button("Download rejected rows", rejected_rows_csv(preview.rejected),
                                       file_name=export_file_name(project.id, "rejected-rows", "csv"),
                                       mime="text/csv")
                confirmed = guessed is None or st.checkbox(
                    f"The sentences above read right in {safe_text(parsed.encoding.name)}", key=confirm_key)
                nothing = preview.new == 0 and not preview.label_counts
                if st.button(f"Import {preview.new} sentence(s)", type="primary", key="import_commit",
                             disabled=nothing or not confirmed):
                    try:
                        result = commit_import(db, actor, project.id, parsed, encoding_confirmed=confirmed)
                    except AppError as error:
                        show_error(error)
                    else:
                        conflicts = (f" {result.conflicts} sentence(s) got different labels: see Check labels."
                                     if result.conflicts else "")
                        st.success(f"Added {result.added} sentences, merged {result.duplicates} duplicates, "
                                   f"recorded {result.labelled} labels, rejected {result.rejected} rows.{conflicts}")

with tab_export:
    if project is None:
        st.info("Nothing to export yet.")
    else:
        formats = {"csv": "CSV (spreadsheet-safe)", "jsonl": "JSON Lines",
                   "training": "text,label CSV for datasets.load_dataset"}
        fmt = st.radio("Format", list(formats), format_func=formats.get, key="export_format", horizontal=True)
        if st.button("Prepare export", key="export_prepare"):
            try:
                data = export_project(db, actor, project.id, fmt)
            except AppError as error:
                show_error(error)
                st.stop()
            file_name = export_format_file_name(project.id, fmt)
            st.download_button(f"Download {file_name}", data, file_name=file_name, key="export_download")
