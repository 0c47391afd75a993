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


def stored(db, project_id: int) -> dict[str, Sentence]:
    """The project's sentences by text, detached (expire_on_commit is off)."""
    with db.read() as session:
        rows = session.scalars(select(Sentence).where(Sentence.project_id == project_id)).all()
    return {row.text: row for row in rows}


def annotations(db) -> list[Annotation]:
    with db.read() as session:
        return list(session.scalars(select(Annotation).order_by(Annotation.id)))


def import_bytes(db, project, data: bytes, filename: str, **kwargs):
    return commit_import(db, project.id, parse_file(data, filename, **kwargs))


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

    result = commit_import(db, project.id, parsed)
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
    result = commit_import(db, project.id, parsed, annotator="alice")
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
    assert transactions == 8, "50 rows in chunks of 7 are 8 short write transactions"


def test_existing_sentence_is_relabelled_only_when_the_label_differs(db, project) -> None:
    import_bytes(db, project, b"text,label\nHe hit me.,\nWe ate.,other\n", "a.csv")
    assert len(annotations(db)) == 1
    result = import_bytes(db, project, b"text,label\nhe hit me.,1\nWe ate.,0\n", "b.csv")
    assert (result.added, result.duplicates, result.labelled) == (0, 2, 1)
    rows = stored(db, project.id)
    assert rows["He hit me."].label == 1 and rows["He hit me."].labelled_by == "import"
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

    result = commit_import(db, project.id, parsed)
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
        commit_import(db, 999, parse_file(b"Hello.\n", "x.txt"))


def test_blank_annotator_is_refused(db, project) -> None:
    with pytest.raises(InvalidInput):
        commit_import(db, project.id, parse_file(b"Hello.\n", "x.txt"), annotator="  ")


# --- bad input -------------------------------------------------------------------------------


def test_latin1_file_names_the_byte_offset_line_and_the_fix() -> None:
    data = "text\nfine line\ncaf\u00e9 fight\n".encode("latin-1")
    with pytest.raises(ImportFileError) as caught:
        parse_file(data, "x.csv")
    message = str(caught.value)
    assert "not UTF-8" in message
    assert "0xE9" in message and "byte offset 18" in message and "line 3" in message
    assert "save it again as UTF-8" in message


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


def test_an_unclosed_quote_is_pointed_out() -> None:
    data = ('text\nGood.\n"Never closed\n' + "more words here\n" * 200).encode()
    parsed = parse_file(data, "x.csv")
    assert [r.text for r in parsed.rows] == ["Good."]
    [bad] = parsed.rejected
    assert bad.line == 3 and "double quote" in bad.reason


def test_a_file_where_every_row_is_rejected_returns_the_rejects(db, project) -> None:
    parsed = parse_file(b"text,split\nA.,x\nB.,y\n", "x.csv")
    assert parsed.rows == () and len(parsed.rejected) == 2
    result = commit_import(db, project.id, parsed)
    assert (result.added, result.rejected) == (0, 2)


# --- rejects download and round trip ---------------------------------------------------------


def test_rejected_rows_csv_lists_line_reason_raw_and_escapes_formulas() -> None:
    parsed = parse_file(b'text,split\n=HYPERLINK("x"),dev\nOK.,\n"   ",test\n,,\n', "x.csv")
    data = rejected_rows_csv(parsed.rejected)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["line", "reason", "raw"]
    assert rows[1][0] == "2" and "'dev'" in rows[1][1]
    assert rows[1][2] == "'" + '=HYPERLINK("x"),dev'
    assert rows[2] == ["4", "empty text", '"   ",test']
    assert len(rows) == 3, "a row of empty cells is a blank line, not a reject"


def test_an_exported_csv_imports_back_as_the_same_sentences(db, project) -> None:
    import_bytes(db, project, "text,label\n=1+1 is two.,0\n- a dash list item,1\n@someone hi,\nCafé.,0\n".encode(),
                 "x.csv")
    exported = export_project(db, project.id, "csv")
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
