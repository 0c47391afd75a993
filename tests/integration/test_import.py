"""Importing files into a real SQLite project: formats, dedup, splits, labels and every bad input."""
from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import func, select

import core.importing as importing
from core.errors import ImportFileError, InvalidInput, NotFound
from core.exporting import export_project
from core.importing import commit_import, parse_file, preview_import, rejected_rows_csv
from core.text import shuffle_key, split_for_hash, text_hash
from db.models import Annotation, Sentence
from tests.helpers import ADMIN


def stored(db, project_id: int) -> dict[str, Sentence]:
    """The project's sentences by text, detached (expire_on_commit is off)."""
    with db.read() as session:
        rows = session.scalars(select(Sentence).where(Sentence.project_id == project_id)).all()
    return {row.text: row for row in rows}


def annotations(db) -> list[Annotation]:
    with db.read() as session:
        return list(session.scalars(select(Annotation).order_by(Annotation.id)))


def import_bytes(db, project, data: bytes, filename: str, **kwargs):
    return commit_import(db, ADMIN, project.id, parse_file(data, filename, **kwargs))


# --- formats ---------------------------------------------------------------------------------


def test_csv_reads_text_label_split_and_source_with_any_header_case() -> None:
    data = (
        "Text,LABEL,Split,Source\n"
        "He hit me.,physical violence,test,post-1\n"
        "We had lunch.,other,,post-1\n"
        '"He said ""stop"", then left",,train,post-2\n'
        "No source here.,,,\n"
    ).encode()
    parsed = parse_file(data, "upload.csv")
    assert parsed.format == "csv"
    assert parsed.rejected == () and parsed.duplicates_in_file == 0
    assert [(r.line, r.text, r.label, r.split, r.doc_id, r.position) for r in parsed.rows] == [
        (2, "He hit me.", "physical violence", "test", "post-1", 0),
        (3, "We had lunch.", "other", None, "post-1", 1),
        (4, 'He said "stop", then left', None, "train", "post-2", 0),
        (5, "No source here.", None, None, "", 0),
    ]


def test_csv_accepts_a_sentence_column_and_a_document_column() -> None:
    parsed = parse_file(b"id,sentence,document\n7,One.,d1\n8,Two.,d1\n", "x.csv")
    assert [(r.text, r.doc_id, r.position) for r in parsed.rows] == [("One.", "d1", 0), ("Two.", "d1", 1)]


def test_csv_line_numbers_count_multiline_quoted_rows_and_blank_lines() -> None:
    data = b'text,split\n"first\nspans two lines",\n\nthird,dev\n'
    parsed = parse_file(data, "x.csv")
    assert [(r.line, r.text) for r in parsed.rows] == [(2, "first spans two lines")]
    assert [(r.line, r.raw) for r in parsed.rejected] == [(5, "third,dev")]


def test_tsv_keeps_commas_and_quoted_tabs_inside_text() -> None:
    data = 'text\tlabel\nHe hit me, twice.\t1\n"tab\tinside"\t0\n'.encode()
    parsed = parse_file(data, "upload.tsv")
    assert parsed.format == "tsv"
    assert [(r.text, r.label) for r in parsed.rows] == [("He hit me, twice.", "1"), ("tab inside", "0")]


def test_format_can_be_given_explicitly_whatever_the_extension() -> None:
    parsed = parse_file(b'{"text": "Hello."}\n', "export.data", fmt="jsonl")
    assert parsed.format == "jsonl" and [r.text for r in parsed.rows] == ["Hello."]


def test_jsonl_keeps_good_lines_and_rejects_bad_ones_by_line_number() -> None:
    lines = [
        json.dumps({"text": "He hit me.", "label": 1, "split": "test", "source": "p1"}),
        '{"text": "broken", ',
        "",
        json.dumps({"Text": "Case-insensitive keys.", "label": "other"}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"label": 1}),
        json.dumps({"text": 42}),
        json.dumps({"sentence": "Sentence key."}),
    ]
    parsed = parse_file("\n".join(lines).encode(), "data.ndjson")
    assert parsed.format == "jsonl"
    assert [(r.line, r.text, r.label, r.split, r.doc_id) for r in parsed.rows] == [
        (1, "He hit me.", "1", "test", "p1"),
        (4, "Case-insensitive keys.", "other", None, ""),
        (8, "Sentence key.", None, None, ""),
    ]
    rejected = {r.line: r for r in parsed.rejected}
    assert set(rejected) == {2, 5, 6, 7}
    assert rejected[2].raw == '{"text": "broken", '
    assert rejected[2].reason.startswith("not valid JSON: Expecting property name")
    assert "not a JSON object" in rejected[5].reason
    assert rejected[6].reason == 'no "text" field'
    assert "not a string" in rejected[7].reason


def test_txt_is_one_sentence_a_line_with_the_file_stem_as_document() -> None:
    data = b"First line.\n\n   \nSecond line.\r\nThird line.\n"
    parsed = parse_file(data, "chat log.txt")
    assert parsed.format == "txt"
    assert [(r.line, r.text, r.doc_id, r.position) for r in parsed.rows] == [
        (1, "First line.", "chat log", 0),
        (4, "Second line.", "chat log", 1),
        (5, "Third line.", "chat log", 2),
    ]


def test_txt_documents_are_split_on_dashes_or_two_blank_lines_into_sentences() -> None:
    data = (
        "Dr. Smith came at 5 p.m. He hit me!\n"
        "\n"
        "A second paragraph of the same post.\n"
        "---\n"
        "Post two. Short.\n"
        "\n"
        "\n"
        "\n"
        "Post three?\n"
    ).encode()
    parsed = parse_file(data, "posts.txt", documents=True)
    assert [(r.line, r.text, r.doc_id, r.position) for r in parsed.rows] == [
        (1, "Dr. Smith came at 5 p.m.", "posts-0001", 0),
        (1, "He hit me!", "posts-0001", 1),
        (1, "A second paragraph of the same post.", "posts-0001", 2),
        (5, "Post two.", "posts-0002", 0),
        (5, "Short.", "posts-0002", 1),
        (9, "Post three?", "posts-0003", 0),
    ]
    assert all(r.label is None and r.split is None for r in parsed.rows)


def test_csv_documents_split_each_row_and_ignore_its_label() -> None:
    data = (
        "text,label,split,source\n"
        '"He came home. He hit me.",physical violence,test,thread-9\n'
        "One more from the same thread.,1,,thread-9\n"
        '"No source. Two sentences.",other,,\n'
    ).encode()
    parsed = parse_file(data, "posts.csv", documents=True)
    assert [(r.line, r.text, r.label, r.split, r.doc_id, r.position) for r in parsed.rows] == [
        (2, "He came home.", None, "test", "thread-9", 0),
        (2, "He hit me.", None, "test", "thread-9", 1),
        (3, "One more from the same thread.", None, None, "thread-9", 2),
        (4, "No source.", None, None, "posts-4", 0),
        (4, "Two sentences.", None, None, "posts-4", 1),
    ]


def test_jsonl_documents_use_the_document_key() -> None:
    data = json.dumps({"text": "He came. She left.", "document": "d"}).encode()
    parsed = parse_file(data, "p.jsonl", documents=True)
    assert [(r.text, r.doc_id, r.position) for r in parsed.rows] == [("He came.", "d", 0), ("She left.", "d", 1)]


def test_csv_import_commits_rows_with_doc_and_position(db, project) -> None:
    data = b"text,source\nOne.,a\nTwo.,a\nThree.,b\n"
    result = import_bytes(db, project, data, "x.csv")
    assert (result.added, result.duplicates, result.labelled, result.rejected) == (3, 0, 0, 0)
    rows = stored(db, project.id)
    assert {t: (r.doc_id, r.position) for t, r in rows.items()} == {
        "One.": ("a", 0), "Two.": ("a", 1), "Three.": ("b", 0)}
    for text, row in rows.items():
        digest = text_hash(text)
        assert row.text_hash == digest
        assert row.shuffle_key == shuffle_key(digest, project.shuffle_seed)
        assert row.split.value == split_for_hash(digest, project.test_fraction)
        assert row.split_explicit is False and row.label is None


# --- duplicates ------------------------------------------------------------------------------


def test_unicode_whitespace_and_case_variants_in_one_file_are_merged_first_kept() -> None:
    variants = ["Café fight.", "cafe\u0301   FIGHT.", " CAFÉ fight. ", "Ｃａｆé fight."]
    data = ("text\n" + "\n".join(variants) + "\nOther.\n").encode()
    parsed = parse_file(data, "x.csv")
    assert [r.text for r in parsed.rows] == ["Café fight.", "Other."]
    assert parsed.duplicates_in_file == 3


def test_preview_counts_new_and_present_then_commit_skips_present(db, project) -> None:
    import_bytes(db, project, b"He hit me.\nWe ate.\n", "first.txt")
    parsed = parse_file("text\nhe  HIT me.\nBrand new.\nWE ATE.\nAlso new.\nbrand new.\n".encode(), "x.csv")
    preview = preview_import(db, project.id, parsed)
    assert (preview.new, preview.already_present, parsed.duplicates_in_file) == (2, 2, 1)
    assert preview.label_counts == {}
    assert len(stored(db, project.id)) == 2, "preview must not write"

    result = commit_import(db, ADMIN, project.id, parsed)
    assert result.added == 2
    assert result.duplicates == 3  # one merged inside the file, two already in the project
    assert set(stored(db, project.id)) == {"He hit me.", "We ate.", "Brand new.", "Also new."}


def test_importing_the_same_file_twice_adds_nothing_the_second_time(db, project) -> None:
    data = b"text,label\nOne.,other\nTwo.,physical violence\nThree.,\n"
    first = import_bytes(db, project, data, "x.csv")
    second = import_bytes(db, project, data, "x.csv")
    assert (first.added, first.labelled) == (3, 2)
    assert (second.added, second.duplicates, second.labelled) == (0, 3, 0)
    assert len(stored(db, project.id)) == 3
    assert len(annotations(db)) == 2


# --- splits ----------------------------------------------------------------------------------


def test_explicit_split_is_stored_and_marked_explicit(db, project) -> None:
    texts = [f"Sentence number {i}." for i in range(40)]
    data = ("text,split\n" + "".join(f"{t},{'test' if i % 2 else 'TRAIN'}\n" for i, t in enumerate(texts))).encode()
    import_bytes(db, project, data, "x.csv")
    rows = stored(db, project.id)
    for i, text in enumerate(texts):
        assert rows[text].split.value == ("test" if i % 2 else "train")
        assert rows[text].split_explicit is True
    # 40 hash-chosen splits at 25% would not alternate like this by chance.
    assert sum(split_for_hash(text_hash(t), 0.25) == "test" for t in texts) != 20


def test_bad_split_value_rejects_only_that_row() -> None:
    parsed = parse_file(b"text,split\nGood.,test\nBad.,validation\nEmpty split.,\n", "x.csv")
    assert [r.text for r in parsed.rows] == ["Good.", "Empty split."]
    [bad] = parsed.rejected
    assert bad.line == 3 and "'validation'" in bad.reason and "train" in bad.reason


# --- labels ----------------------------------------------------------------------------------


def test_labels_by_name_or_number_become_import_annotations(db, project) -> None:
    data = b"text,label\nHe hit me.,Physical Violence\nWe ate.,0\nHe kicked me.,1\nUnlabelled.,\n"
    parsed = parse_file(data, "x.csv")
    assert preview_import(db, project.id, parsed).label_counts == {"other": 1, "physical violence": 2}
    result = commit_import(db, ADMIN, project.id, parsed, annotator="alice")
    assert (result.added, result.labelled) == (4, 3)
    rows = stored(db, project.id)
    assert {t: r.label for t, r in rows.items()} == {
        "He hit me.": 1, "We ate.": 0, "He kicked me.": 1, "Unlabelled.": None}
    assert rows["He hit me."].labelled_by == "alice" and rows["He hit me."].labelled_at is not None
    assert rows["Unlabelled."].labelled_by is None and rows["Unlabelled."].labelled_at is None
    by_sentence = {a.sentence_id: a for a in annotations(db)}
    assert {rows[t].id for t in ("He hit me.", "We ate.", "He kicked me.")} == set(by_sentence)
    for text in ("He hit me.", "We ate.", "He kicked me."):
        note = by_sentence[rows[text].id]
        assert (note.label, note.source, note.annotator) == (rows[text].label, "import", "alice")


def test_labels_land_on_the_right_sentences_across_chunks(db, project, monkeypatch) -> None:
    monkeypatch.setattr(importing, "CHUNK_ROWS", 7)
    transactions = 0
    real_write = db.write

    def counting_write():
        nonlocal transactions
        transactions += 1
        return real_write()

    monkeypatch.setattr(db, "write", counting_write)
    lines = [f"Sentence {i}.,{i % 2 if i % 3 else ''}" for i in range(50)]
    result = import_bytes(db, project, ("text,label\n" + "\n".join(lines)).encode(), "x.csv")
    assert result.added == 50
    rows = stored(db, project.id)
    for i in range(50):
        assert rows[f"Sentence {i}."].label == (i % 2 if i % 3 else None)
    by_id = {r.id: r for r in rows.values()}
    assert len(annotations(db)) == result.labelled == sum(1 for i in range(50) if i % 3)
    assert all(by_id[a.sentence_id].label == a.label for a in annotations(db))
    assert transactions == 9, "50 rows in chunks of 7 are 8 short write transactions, and one for the audit log"


def test_existing_sentence_is_relabelled_only_when_the_label_differs(db, project) -> None:
    import_bytes(db, project, b"text,label\nHe hit me.,\nWe ate.,other\n", "a.csv")
    assert len(annotations(db)) == 1
    result = import_bytes(db, project, b"text,label\nhe hit me.,1\nWe ate.,0\n", "b.csv")
    assert (result.added, result.duplicates, result.labelled) == (0, 2, 1)
    rows = stored(db, project.id)
    assert rows["He hit me."].label == 1 and rows["He hit me."].labelled_by == "admin"
    assert rows["We ate."].label == 0
    assert [(a.sentence_id, a.label) for a in annotations(db)] == [
        (rows["We ate."].id, 0), (rows["He hit me."].id, 1)]


def test_unknown_label_rejects_the_row_and_names_the_projects_labels(db, project) -> None:
    parsed = parse_file(b"text,label\nGood.,other\nOdd.,violent\nNumber.,7\n", "x.csv")
    preview = preview_import(db, project.id, parsed)
    assert preview.new == 1
    assert preview.label_counts == {"other": 1}
    assert [(r.line, r.raw) for r in preview.rejected] == [(3, "Odd."), (4, "Number.")]
    assert "'violent'" in preview.rejected[0].reason
    assert "0 = other, 1 = physical violence" in preview.rejected[0].reason

    result = commit_import(db, ADMIN, project.id, parsed)
    assert (result.added, result.rejected) == (1, 2)
    assert result.rejected_rows == preview.rejected
    assert set(stored(db, project.id)) == {"Good."}


def test_preview_merges_parse_and_label_rejects_in_line_order(db, project) -> None:
    parsed = parse_file(b"text,label,split\nA.,nope,\nB.,,dev\nC.,1,\n", "x.csv")
    preview = preview_import(db, project.id, parsed)
    assert [r.line for r in preview.rejected] == [2, 3]
    assert preview.label_counts == {"physical violence": 1}


def test_import_into_a_missing_project_names_it(db) -> None:
    with pytest.raises(NotFound):
        commit_import(db, ADMIN, 999, parse_file(b"Hello.\n", "x.txt"))


def test_blank_annotator_is_refused(db, project) -> None:
    with pytest.raises(InvalidInput):
        commit_import(db, ADMIN, project.id, parse_file(b"Hello.\n", "x.txt"), annotator="  ")


# --- bad input -------------------------------------------------------------------------------


def test_a_latin1_file_is_read_with_the_detected_encoding_but_imported_only_once_confirmed(db, project) -> None:
    data = "text\nfine line\ncaf\u00e9 fight\n".encode("latin-1")
    parsed = parse_file(data, "x.csv")
    assert (parsed.encoding.name, parsed.encoding.needs_confirmation) == ("cp1252", True)
    assert [r.text for r in parsed.rows] == ["fine line", "café fight"]
    with pytest.raises(ImportFileError) as caught:
        commit_import(db, ADMIN, project.id, parsed)
    message = str(caught.value)
    assert "'x.csv' is not UTF-8 text" in message and "looks like cp1252" in message
    assert "0xE9 at byte offset 18 (line 3)" in message and "--encoding cp1252" in message
    assert stored(db, project.id) == {}
    assert commit_import(db, ADMIN, project.id, parsed, encoding_confirmed=True).added == 2
    given = parse_file(data, "x.csv", encoding="cp1252")
    assert given.encoding.needs_confirmation is False and [r.text for r in given.rows][1] == "café fight"


def test_utf8_with_a_bom_is_read() -> None:
    parsed = parse_file(b"\xef\xbb\xbftext\nCaf\xc3\xa9.\n", "x.csv")
    assert [r.text for r in parsed.rows] == ["Café."]


def test_missing_text_column_lists_the_columns_found() -> None:
    with pytest.raises(ImportFileError) as caught:
        parse_file(b"message,category\nHello,1\n", "x.csv")
    message = str(caught.value)
    assert "no `text` column" in message and "'message'" in message and "'category'" in message


@pytest.mark.parametrize("data", [b"", b"  \n\n \r\n", b"text,label\n", b"\xef\xbb\xbf"])
def test_an_empty_file_is_refused(data: bytes) -> None:
    with pytest.raises(ImportFileError, match="empty|blank|nothing to import"):
        parse_file(data, "x.csv")


def test_a_file_over_the_size_limit_says_its_size_and_the_limit() -> None:
    data = b"text\n" + b"x" * 3 * 1_048_576
    with pytest.raises(ImportFileError) as caught:
        parse_file(data, "big.csv", max_bytes=2 * 1_048_576)
    assert "3.0 MB" in str(caught.value) and "limit is 2.0 MB" in str(caught.value)


def test_a_file_over_the_row_limit_suggests_splitting_it() -> None:
    data = ("text\n" + "".join(f"row {i}\n" for i in range(11))).encode()
    assert len(parse_file(data[: data.index(b"row 10")], "x.csv", max_rows=10).rows) == 10
    with pytest.raises(ImportFileError) as caught:
        parse_file(data, "x.csv", max_rows=10)
    assert "more than 10 rows" in str(caught.value) and "Split it" in str(caught.value)


def test_unknown_extension_names_the_accepted_ones() -> None:
    with pytest.raises(ImportFileError) as caught:
        parse_file(b"text\nHi\n", "sheet.xlsx")
    assert ".xlsx" in str(caught.value)
    for extension in (".csv", ".tsv", ".jsonl", ".ndjson", ".txt"):
        assert extension in str(caught.value)


def test_empty_and_overlong_text_are_rejected_with_their_reason() -> None:
    long_text = "word " * 500
    parsed = parse_file(f'text,label\n"   ",1\n,0\n{long_text},1\nKept.,0\n'.encode(), "x.csv")
    assert [r.text for r in parsed.rows] == ["Kept."]
    assert [(r.line, r.reason) for r in parsed.rejected][:2] == [(2, "empty text"), (3, "empty text")]
    assert parsed.rejected[2].line == 4
    assert parsed.rejected[2].reason.startswith("longer than 2000 characters")


def test_a_row_with_an_unquoted_comma_is_rejected_not_misread() -> None:
    parsed = parse_file(b"text,label\nHe hit me, twice,1\nFine.,1\nTrailing empties.,0,,\n", "x.csv")
    assert [r.text for r in parsed.rows] == ["Fine.", "Trailing empties."]
    [bad] = parsed.rejected
    assert bad.line == 2 and bad.raw == "He hit me, twice,1" and "double quotes" in bad.reason


def test_an_unclosed_quote_is_pointed_out_and_the_lines_after_it_are_rows() -> None:
    data = ('text\nGood.\n"Never closed\n' + "more words here\n" * 200).encode()
    parsed = parse_file(data, "x.csv")
    assert [r.text for r in parsed.rows] == ["Good.", "more words here"]
    assert parsed.duplicates_in_file == 199
    [bad] = parsed.rejected
    assert bad.line == 3 and bad.reason.startswith("a double quote on line 3 is never closed")


def test_a_file_where_every_row_is_rejected_returns_the_rejects(db, project) -> None:
    parsed = parse_file(b"text,split\nA.,x\nB.,y\n", "x.csv")
    assert parsed.rows == () and len(parsed.rejected) == 2
    result = commit_import(db, ADMIN, project.id, parsed)
    assert (result.added, result.rejected) == (0, 2)


# --- rejects download and round trip ---------------------------------------------------------


def test_rejected_rows_csv_keeps_the_rows_cells_then_line_and_reason_and_escapes_formulas() -> None:
    parsed = parse_file(b'text,split\n=HYPERLINK("x"),dev\nOK.,\n"   ",test\n,,\n', "x.csv")
    data = rejected_rows_csv(parsed.rejected)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["text", "label", "split", "document", "annotator", "line", "reason"]
    assert rows[1][:3] == ["'" + '=HYPERLINK("x")', "", "dev"] and rows[1][5] == "2" and "'dev'" in rows[1][6]
    assert rows[2] == ["   ", "", "test", "", "", "4", "empty text"]
    assert len(rows) == 3, "a row of empty cells is a blank line, not a reject"


def test_an_exported_csv_imports_back_as_the_same_sentences(db, project) -> None:
    import_bytes(db, project, "text,label\n=1+1 is two.,0\n- a dash list item,1\n@someone hi,\nCafé.,0\n".encode(),
                 "x.csv")
    exported = export_project(db, ADMIN, project.id, "csv")
    parsed = parse_file(exported, "export.csv")
    assert sorted(r.text for r in parsed.rows) == sorted(stored(db, project.id))
    preview = preview_import(db, project.id, parsed)
    assert (preview.new, preview.already_present, preview.rejected) == (0, 4, ())


def test_committed_count_matches_the_database(db, project) -> None:
    data = ("text\n" + "".join(f"Line {i}.\n" for i in range(1234))).encode()
    result = import_bytes(db, project, data, "x.csv")
    with db.read() as session:
        count = session.scalar(select(func.count()).select_from(Sentence).where(Sentence.project_id == project.id))
    assert result.added == count == 1234


# --- how the file is read, and the counts the preview shows ----------------------------------


def test_every_row_is_a_sentence_a_merged_duplicate_or_a_reject_and_the_preview_adds_up(db, project) -> None:
    data = (
        "sep=,\n"  # line 1
        "text,label,note\n"  # 2: header
        "One.,other,a\n"  # 3
        "\n"  # 4: blank
        '"Two,\nspans two lines",1,b\n'  # 5-6: one record
        '"A stray quote,1,c\n'  # 7: rejected, reading resumes on line 8
        "Three.,1,d\n"  # 8
        "one.,0,e\n"  # 9: duplicate of line 3, same label
        "Four.,violent,f\n"  # 10: unknown label
        "\u200b,1,g\n"  # 11: empty once cleaned
        ",,\n"  # 12: a row of empty cells is blank
    ).encode()
    parsed = parse_file(data, "mixed.csv")
    assert (parsed.lines, parsed.header_lines, parsed.blank_lines, parsed.records) == (12, 2, 2, 7)
    assert parsed.ignored_columns == ("note",)
    preview = preview_import(db, project.id, parsed)
    assert (preview.rows_read, preview.new, preview.already_present, preview.duplicates) == (7, 3, 0, 1)
    assert [(r.line, r.reason.split(";")[0]) for r in preview.rejected] == [
        (7, "a double quote on line 7 is never closed"), (10, "unknown label 'violent'"), (11, "empty text")]
    assert preview.new + preview.already_present + preview.duplicates + len(preview.rejected) == preview.rows_read
    result = commit_import(db, ADMIN, project.id, parsed)
    assert (result.added, result.duplicates, result.rejected) == (3, 1, 3)
    assert {t: r.label for t, r in stored(db, project.id).items()} == {
        "One.": 0, "Two, spans two lines": 1, "Three.": 1}


def test_a_semicolon_file_with_crlf_imports_without_advice_about_the_text_column(db, project) -> None:
    data = b"text;label\r\nHe punched the driver twice;physical violence\r\nThe bus was late;other\r\n"
    parsed = parse_file(data, "semicolon.csv")
    assert (parsed.delimiter_name, parsed.text_column, parsed.label_column) == ("semicolon", "text", "label")
    result = commit_import(db, ADMIN, project.id, parsed)
    assert (result.added, result.labelled, result.rejected) == (2, 2, 0)
    assert {t: r.label for t, r in stored(db, project.id).items()} == {
        "He punched the driver twice": 1, "The bus was late": 0}


def test_a_missing_text_column_names_the_delimiter_it_was_read_with() -> None:
    with pytest.raises(ImportFileError) as caught:
        parse_file(b"message;category\nHello;1\n", "x.csv")
    assert "read as comma-separated" not in str(caught.value)
    assert "'message', 'category'" in str(caught.value) and "semicolon-separated" in str(caught.value)


@pytest.mark.parametrize(("bom", "codec"), [(b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")])
def test_utf16_with_a_byte_order_mark_imports_without_confirmation(db, project, bom, codec) -> None:
    data = bom + "text\tlabel\r\nCafé brawl\t1\r\nNaïve question\t0\r\n".encode(codec)
    parsed = parse_file(data, "Unicode Text.txt")
    assert (parsed.format, parsed.delimiter_name, parsed.encoding.name) == ("tsv", "tab", codec)
    result = commit_import(db, ADMIN, project.id, parsed)
    assert (result.added, result.labelled) == (2, 2)
    assert {t: r.label for t, r in stored(db, project.id).items()} == {"Café brawl": 1, "Naïve question": 0}


def test_a_sep_line_is_not_the_header(db, project) -> None:
    parsed = parse_file(b"sep=|\ntext|label\nHe hit me, hard.|1\n", "x.csv")
    assert (parsed.delimiter, parsed.sep_line, parsed.header_lines) == ("|", True, 2)
    assert [(r.line, r.text, r.label) for r in parsed.rows] == [(3, "He hit me, hard.", "1")]


# --- labels as people write them -------------------------------------------------------------


def test_float_labels_are_integers_and_a_project_from_the_file_gets_0_and_1(db) -> None:
    from core.importing import file_labels
    from core.projects import create_project

    parsed = parse_file(b"text,label\nShe kicked the door in.,1.0\nLovely weather today.,0.0\nNot labelled yet.,\n",
                        "float.csv")
    assert [(r.text, r.label) for r in parsed.rows] == [
        ("She kicked the door in.", "1"), ("Lovely weather today.", "0"), ("Not labelled yet.", None)]
    assert parsed.label_notes == ("'1.0' was read as '1'", "'0.0' was read as '0'")
    assert file_labels(parsed) == ["0", "1"]
    project = create_project(db, ADMIN, "floats", file_labels(parsed))
    result = commit_import(db, ADMIN, project.id, parsed)
    assert (result.added, result.labelled, result.rejected) == (3, 2, 0)
    assert {t: r.label for t, r in stored(db, project.id).items()} == {
        "She kicked the door in.": 1, "Lovely weather today.": 0, "Not labelled yet.": None}


def test_doccano_label_lists_in_csv_and_jsonl(db, project) -> None:
    csv_data = ('text,label\nOne.,"[""physical violence""]"\nTwo.,[]\nThree.,"[""other"", ""physical violence""]"\n'
                "Four.,['other']\n").encode()
    parsed = parse_file(csv_data, "doccano.csv")
    assert [(r.line, r.text, r.label) for r in parsed.rows] == [
        (2, "One.", "physical violence"), (3, "Two.", None), (5, "Four.", "other")]
    [multi] = parsed.rejected
    assert multi.line == 4 and multi.reason.startswith("2 labels ('other', 'physical violence'); this project "
                                                       "takes one label a sentence")
    lines = [{"text": "Five.", "label": ["other"]}, {"text": "Six.", "label": []},
             {"text": "Seven.", "label": ["other", "physical violence"]}, {"text": "Eight.", "label": 1.0}]
    parsed = parse_file("\n".join(json.dumps(x) for x in lines).encode(), "doccano.jsonl")
    assert [(r.line, r.label) for r in parsed.rows] == [(1, "other"), (2, None), (4, "1")]
    assert [r.line for r in parsed.rejected] == [3] and "multi-label" in parsed.rejected[0].reason
    result = commit_import(db, ADMIN, project.id, parsed)
    assert {t: r.label for t, r in stored(db, project.id).items()} == {"Five.": 0, "Six.": None, "Eight.": 1}
    assert result.rejected == 1


def test_labels_differing_only_in_case_or_spaces_are_one_label_and_the_preview_says_so(db) -> None:
    from core.importing import file_labels
    from core.projects import create_project

    data = b"text,label\nYou idiot.,Insult\nYou fool.,insult \nNice day.,other\nYou clown.,INSULT\n"
    parsed = parse_file(data, "x.csv")
    assert parsed.label_notes == ("'Insult', 'insult ' and 'INSULT' were read as one label",)
    assert file_labels(parsed) == ["Insult", "other"]
    project = create_project(db, ADMIN, "insults", ["other", "insult"])
    preview = preview_import(db, project.id, parsed)
    assert (preview.label_counts, preview.rejected) == ({"other": 1, "insult": 3}, ())
    commit_import(db, ADMIN, project.id, parsed)
    assert {t: r.label for t, r in stored(db, project.id).items()} == {
        "You idiot.": 1, "You fool.": 1, "Nice day.": 0, "You clown.": 1}


LABEL_STUDIO = (
    "annotation_id,annotator,created_at,id,lead_time,sentiment,text,updated_at\n"
    "7,3,2024-05-02T10:11:12Z,101,4.2,physical violence,He threw a brick at the window.,2024-05-02T10:11:12Z\n"
    "8,3,2024-05-02T10:12:00Z,102,2.9,Other,The library closes at six.,2024-05-02T10:12:00Z\n"
).encode()


def test_a_label_studio_export_offers_its_label_column_and_names_the_ignored_ones(db, project) -> None:
    parsed = parse_file(LABEL_STUDIO, "project-1.csv")
    assert parsed.label_column is None
    assert parsed.ignored_columns == ("annotation_id", "created_at", "id", "lead_time", "sentiment", "updated_at")
    preview = preview_import(db, project.id, parsed)
    assert preview.label_column_candidates == ("sentiment",) and preview.label_counts == {}

    chosen = parse_file(LABEL_STUDIO, "project-1.csv", label_column="sentiment")
    assert chosen.label_column == "sentiment" and "sentiment" not in chosen.ignored_columns
    assert preview_import(db, project.id, chosen).label_column_candidates == ()
    result = commit_import(db, ADMIN, project.id, chosen, annotator="me")
    assert (result.added, result.labelled) == (2, 2)
    rows = stored(db, project.id)
    assert (rows["He threw a brick at the window."].label, rows["The library closes at six."].label) == (1, 0)
    assert {a.annotator for a in annotations(db)} == {"3"}, "Label Studio's annotator column names who labelled"
    with pytest.raises(ImportFileError, match="no column 'mood'"):
        parse_file(LABEL_STUDIO, "project-1.csv", label_column="mood")


def test_a_column_that_is_not_all_label_names_is_not_offered(db, project) -> None:
    parsed = parse_file(b"text,mood,id\nA.,other,1\nB.,angry,2\n", "x.csv")
    assert preview_import(db, project.id, parsed).label_column_candidates == ()


# --- the app's own export --------------------------------------------------------------------


@pytest.mark.parametrize("labels", [["1", "2", "3"], ["other", "insult", "violence"]])
def test_importing_a_projects_own_export_back_changes_nothing(db, labels) -> None:
    from core.projects import create_project

    project = create_project(db, ADMIN, "stars", labels)
    rows = "".join(f"Review number {i}.,{labels[i % 3]}\n" for i in range(9)) + "Unlabelled one.,\n"
    commit_import(db, ADMIN, project.id, parse_file(("text,label\n" + rows).encode(), "seed.csv"), annotator="ana")
    before = {t: (r.label, r.labelled_by, r.split) for t, r in stored(db, project.id).items()}
    notes_before = len(annotations(db))
    assert [before[f"Review number {i}."][0] for i in range(3)] == [0, 1, 2]

    for fmt, name in (("csv", "export.csv"), ("jsonl", "export.jsonl")):
        parsed = parse_file(export_project(db, ADMIN, project.id, fmt), name)
        assert parsed.label_column == "label_name"
        assert set(parsed.ignored_columns) == {"id", "position", "labelled_at", "unsure", "note"}
        preview = preview_import(db, project.id, parsed)
        assert (preview.new, preview.already_present, preview.rejected, preview.conflicts) == (0, 10, (), ())
        result = commit_import(db, ADMIN, project.id, parsed, annotator="bob")
        assert (result.added, result.labelled) == (0, 0)
        assert {t: (r.label, r.labelled_by, r.split) for t, r in stored(db, project.id).items()} == before
        assert len(annotations(db)) == notes_before


def test_an_export_imports_into_a_new_project_with_the_same_labels_unshifted(db) -> None:
    from core.projects import create_project

    source = create_project(db, ADMIN, "stars", ["1", "2", "3"])
    commit_import(db, ADMIN, source.id, parse_file(b"text,label\nBad.,1\nOk.,2\nGreat.,3\n", "seed.csv"))
    copy = create_project(db, ADMIN, "copy", ["1", "2", "3"])
    commit_import(db, ADMIN, copy.id, parse_file(export_project(db, ADMIN, source.id, "csv"), "export.csv"))
    assert {t: r.label for t, r in stored(db, copy.id).items()} == {"Bad.": 0, "Ok.": 1, "Great.": 2}


# --- the same sentence twice -----------------------------------------------------------------


def test_two_annotators_disagreeing_keep_both_labels_and_show_in_check_labels(db) -> None:
    from core.labeling import label_conflicts
    from core.projects import create_project
    from core.suggestions import check_queue

    project = create_project(db, ADMIN, "dupes", ["other", "violence"])
    data = (b"text,label,annotator\nI will smash your face.,violence,ana\nThe printer is broken.,other,ana\n"
            b"I will smash your face.,other,ben\nThe printer is broken.,other,ben\n")
    parsed = parse_file(data, "dupes.csv")
    preview = preview_import(db, project.id, parsed)
    assert (preview.new, preview.duplicates) == (2, 2)
    [conflict] = preview.conflicts
    assert (conflict.text, conflict.lines, conflict.votes) == (
        "I will smash your face.", (2, 4), (("ana", "violence"), ("ben", "other")))
    result = commit_import(db, ADMIN, project.id, parsed, annotator="importer")
    assert (result.added, result.duplicates, result.conflicts, result.labelled) == (2, 2, 1, 4)
    rows = stored(db, project.id)
    smash = rows["I will smash your face."]
    assert [(a.annotator, a.label) for a in annotations(db) if a.sentence_id == smash.id] == [
        ("ana", 1), ("ben", 0)]
    assert (smash.label, smash.labelled_by) == (0, "ben")  # the file's last word, like a moderator's
    assert label_conflicts(db, project.id) == [smash.id]
    assert [(i.sentence_id, i.reason) for i in check_queue(db, project.id)] == [(smash.id, "moderators disagree")]


def test_without_an_annotator_column_a_changed_label_is_kept_under_its_line(db, project) -> None:
    from core.labeling import label_conflicts

    parsed = parse_file(b"text,label\nHe hit me.,1\nHe hit me.,1\nHe hit me.,0\n", "x.csv")
    result = commit_import(db, ADMIN, project.id, parsed, annotator="alice")
    assert (result.added, result.duplicates, result.conflicts) == (1, 2, 1)
    assert [(a.annotator, a.label) for a in annotations(db)] == [("alice", 1), ("alice (line 4)", 0)]
    assert label_conflicts(db, project.id) == [stored(db, project.id)["He hit me."].id]


def test_the_same_sentence_with_the_same_label_twice_is_a_plain_duplicate(db, project) -> None:
    from core.labeling import label_conflicts

    parsed = parse_file(b"text,label,annotator\nHe hit me.,1,ana\nhe hit me.,1,ben\n", "x.csv")
    preview = preview_import(db, project.id, parsed)
    assert (preview.new, preview.duplicates, preview.conflicts) == (1, 1, ())
    result = commit_import(db, ADMIN, project.id, parsed)
    assert (result.added, result.duplicates, result.conflicts) == (1, 1, 0)
    assert label_conflicts(db, project.id) == []


# --- the rejects file ------------------------------------------------------------------------


def test_the_rejects_file_keeps_whole_texts_and_imports_again_once_fixed(db, project) -> None:
    run_on = " ".join(["and then he grabbed my phone and shouted at me and pushed me into the wall"] * 35)
    long_text = f"Short first sentence. {run_on}. Short last sentence."
    data = (
        "text,label\n"
        "Fine.,other\n"
        '"He said stop,physical violence\n'
        f"{long_text},physical violence\n"
        "Odd.,violent\n"
    ).encode()
    preview = preview_import(db, project.id, parse_file(data, "x.csv"))
    assert [r.line for r in preview.rejected] == [3, 4, 5]
    assert len(preview.rejected[1].text) == len(long_text) == 2_668 and preview.rejected[1].shown.endswith("…")
    rejects = rejected_rows_csv(preview.rejected)

    again = parse_file(rejects, "x-rejected.csv")
    assert again.ignored_columns == ("line", "reason")
    assert [(r.line, r.text[:30]) for r in again.rows] == [(2, '"He said stop,physical violenc'), (4, "Odd.")]
    assert len(again.rejected) == 1 and again.rejected[0].reason.startswith("longer than 2000 characters (2,668)")

    fixed = list(csv.reader(io.StringIO(rejects.decode("utf-8-sig"))))
    fixed[1][:2] = ["He said stop", "physical violence"]
    fixed[3][1] = "other"
    buffer = io.StringIO()
    csv.writer(buffer).writerows(fixed)
    result = commit_import(db, ADMIN, project.id, parse_file(buffer.getvalue().encode(), "x-rejected.csv"))
    assert (result.added, result.rejected) == (2, 1)
    assert {t: r.label for t, r in stored(db, project.id).items()} == {"He said stop": 1, "Odd.": 0}
    result = commit_import(db, ADMIN, project.id, parse_file(rejects, "x-rejected.csv", documents=True))
    assert result.rejected == 0 and max(len(t) for t in stored(db, project.id)) <= 2000
