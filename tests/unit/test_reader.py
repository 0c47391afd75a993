"""core.reader on bytes the tests write: encodings, delimiters, malformed records and the line accounting."""
from __future__ import annotations

import codecs
import json

import pytest

from core.errors import ImportFileError
from core.reader import MAX_RECORD_CHARS, label_cell, read_table


def kept(table) -> list[tuple[int, dict]]:
    return [(r.line, r.values) for r in table.records if r.problem is None]


def problems(table) -> list[tuple[int, str]]:
    return [(r.line, r.problem) for r in table.records if r.problem is not None]


def accounted(table) -> int:
    return table.header_lines + table.blank_lines + table.record_lines


# --- encodings -------------------------------------------------------------------------------

TEXT = "text,label\nCafé fight,1\nNaïve rôle,0\n"


@pytest.mark.parametrize(("data", "name", "label"), [
    (TEXT.encode("utf-8"), "utf-8", "UTF-8"),
    (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8", "UTF-8 (byte-order mark)"),
    (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), "utf-16-le", "UTF-16 LE (byte-order mark)"),
    (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16-be", "UTF-16 BE (byte-order mark)"),
    (codecs.BOM_UTF32_LE + TEXT.encode("utf-32-le"), "utf-32-le", "UTF-32 LE (byte-order mark)"),
])
def test_a_byte_order_mark_or_utf8_decides_the_encoding_without_asking(data, name, label) -> None:
    table = read_table(data, "x.csv")
    assert (table.encoding.name, table.encoding.label, table.encoding.needs_confirmation) == (name, label, False)
    assert kept(table) == [(2, {"text": "Café fight", "label": "1"}), (3, {"text": "Naïve rôle", "label": "0"})]


def test_a_windows_1252_file_is_detected_named_and_needs_confirming() -> None:
    data = "text,label\n\u201cCafé\u201d fight,1\nNaïve rôle über,0\n".encode("cp1252")
    table = read_table(data, "x.csv")
    assert table.encoding.name == "cp1252" and table.encoding.how == "detected"
    assert table.encoding.needs_confirmation is True
    assert table.encoding.label == "cp1252 (detected, not UTF-8)"
    assert [v["text"] for _, v in kept(table)] == ["\u201cCafé\u201d fight", "Naïve rôle über"]
    assert "cp1250" in table.encoding.alternatives  # offered when the guess reads wrong
    message = table.encoding.refusal("x.csv")
    assert "looks like cp1252" in message and "--encoding cp1252" in message
    assert "0x93 at byte offset 11 (line 2)" in message


def test_a_chosen_encoding_wins_and_needs_no_confirming() -> None:
    data = "text\nZażółć gęślą jaźń\n".encode("cp1250")
    table = read_table(data, "x.csv", encoding="cp1250")
    assert (table.encoding.name, table.encoding.how, table.encoding.needs_confirmation) == ("cp1250", "given", False)
    assert kept(table) == [(2, {"text": "Zażółć gęślą jaźń"})]


def test_a_chosen_encoding_that_does_not_fit_names_the_byte() -> None:
    with pytest.raises(ImportFileError, match=r"cannot be read as utf-8: the byte 0xE9 .* \(line 2\)"):
        read_table("text\ncafé\n".encode("latin-1"), "x.csv", encoding="utf-8")
    with pytest.raises(ImportFileError, match="Unknown encoding 'klingon'"):
        read_table(b"text\nx\n", "x.csv", encoding="klingon")


def test_utf16_without_a_byte_order_mark_is_not_mistaken_for_utf8() -> None:
    table = read_table("text;label\nHello;1\n".encode("utf-16-le"), "x.csv")
    assert table.encoding.name == "utf_16_le" and table.encoding.needs_confirmation
    assert kept(table) == [(2, {"text": "Hello", "label": "1"})]


def test_bytes_in_no_encoding_are_refused_with_the_first_bad_byte() -> None:
    with pytest.raises(ImportFileError) as caught:
        read_table(bytes(range(256)) * 4, "x.csv")
    assert "not text in any encoding" in str(caught.value)
    assert "the byte 0x80 at byte offset 128 (line 2) is not valid UTF-8" in str(caught.value)


# --- delimiters ------------------------------------------------------------------------------


def test_a_semicolon_file_with_crlf_is_read_as_semicolon_separated() -> None:
    data = b"text;label\r\nHe punched the driver, twice;violence\r\nThe bus was late;other\r\n"
    table = read_table(data, "export.csv")
    assert (table.delimiter, table.delimiter_name, table.columns) == (";", "semicolon", ("text", "label"))
    assert kept(table) == [(2, {"text": "He punched the driver, twice", "label": "violence"}),
                           (3, {"text": "The bus was late", "label": "other"})]


@pytest.mark.parametrize(("delimiter", "name"), [("\t", "tab"), ("|", "pipe"), (",", "comma")])
def test_tab_pipe_and_comma_are_detected_whatever_the_extension(delimiter, name) -> None:
    data = f"id{delimiter}text{delimiter}label\n1{delimiter}Hi there; all{delimiter}0\n".encode()
    table = read_table(data, "x.csv")
    assert table.delimiter_name == name
    assert kept(table) == [(2, {"id": "1", "text": "Hi there; all", "label": "0"})]


def test_a_spreadsheets_sep_line_is_honoured_and_not_read_as_the_header() -> None:
    data = b'sep=;\ntext;label\nOne, two;1\n"Three; four";0\n'
    table = read_table(data, "x.csv")
    assert (table.delimiter, table.sep_line, table.columns, table.header_lines) == (";", True, ("text", "label"), 2)
    assert kept(table) == [(3, {"text": "One, two", "label": "1"}), (4, {"text": "Three; four", "label": "0"})]
    assert read_table(b'"sep=,"\ntext\nx\n', "x.csv").columns == ("text",)


def test_a_one_column_file_keeps_the_extensions_delimiter() -> None:
    assert read_table(b"text\nOne; two\n", "x.csv").delimiter == ","
    assert read_table(b"text\nOne, two\n", "x.tsv").delimiter == "\t"


def test_a_unicode_text_spreadsheet_export_saved_as_txt_reads_as_tsv() -> None:
    data = codecs.BOM_UTF16_LE + "text\tlabel\r\nHe hit me.\t1\r\n".encode("utf-16-le")
    table = read_table(data, "Unicode Text.txt")
    assert (table.format, table.delimiter) == ("tsv", "\t")
    assert kept(table) == [(2, {"text": "He hit me.", "label": "1"})]


def test_duplicate_header_names_keep_every_cell() -> None:
    table = read_table(b"text,note,note\nHi,a,b\n", "x.csv")
    assert kept(table) == [(2, {"text": "Hi", "note": "a", "note.1": "b"})]


# --- malformed records and where reading resumes ------------------------------------------------


def test_an_unclosed_quote_rejects_only_its_line_and_the_rows_after_it_are_read() -> None:
    data = b'text,label\nFirst row is fine.,other\n"He said stop,violence\nThird row.,other\nFourth row.,violence\n'
    table = read_table(data, "x.csv")
    assert [line for line, _ in kept(table)] == [2, 4, 5]
    assert [v["text"] for _, v in kept(table)] == ["First row is fine.", "Third row.", "Fourth row."]
    [(line, problem)] = problems(table)
    assert line == 3 and problem.startswith("a double quote on line 3 is never closed")
    assert table.records[1].raw == '"He said stop,violence'


def test_thousands_of_rows_behind_one_stray_quote_are_all_read() -> None:
    rows = "".join(f"Good row number {i} about the weather.,other\n" for i in range(1, 3501))
    data = ('text,label\nRow one is fine.,other\n"He said stop,violence\n' + rows).encode()
    table = read_table(data, "big.csv")
    assert len(kept(table)) == 3501 and [line for line, _ in problems(table)] == [3]
    assert kept(table)[-1] == (3503, {"text": "Good row number 3500 about the weather.", "label": "other"})


def test_a_stray_quote_closed_by_a_later_rows_quote_still_rejects_only_its_line() -> None:
    data = b'text,label\n"He said stop,violence\nShe said "no" twice,other\n"Fine, quoted",other\n'
    table = read_table(data, "x.csv")
    assert [(r.line, r.problem is None) for r in table.records] == [(2, False), (3, True), (4, True)]
    assert [v["text"] for _, v in kept(table)] == ['She said "no" twice', "Fine, quoted"]


def test_a_stray_quote_in_the_label_column_closed_cleanly_later_still_swallows_nothing() -> None:
    # The quote on line 2 opens the label cell; a later cell that starts with a line break closes it
    # "cleanly". Line breaks belong in the text column only, so line 2 alone is rejected.
    data = b'text,label\nbad row,"other\nrow three,other\n"\nrow four",other\n'
    table = read_table(data, "x.csv")
    assert [(r.line, r.end_line, r.problem is None) for r in table.records] == [
        (2, 2, False), (3, 3, True), (4, 5, True)]
    assert kept(table) == [(3, {"text": "row three", "label": "other"}), (4, {"text": "\nrow four", "label": "other"})]


def test_a_multi_line_record_with_the_wrong_number_of_cells_is_a_stray_quote() -> None:
    table = read_table(b'text,label\n"stray start\nrow two,other\n"\n', "x.csv")
    assert [(r.line, r.problem is None) for r in table.records] == [(2, False), (3, True), (4, False)]


def test_a_properly_closed_quoted_field_may_hold_line_breaks_and_quotes() -> None:
    data = b'text,label\n"First line,\nsecond ""quoted"" line",1\r\n"one\rtwo",0\nAfter.,1\n'
    table = read_table(data, "x.csv")
    assert kept(table) == [(2, {"text": 'First line,\nsecond "quoted" line', "label": "1"}),
                           (4, {"text": "one\rtwo", "label": "0"}), (6, {"text": "After.", "label": "1"})]
    assert [(r.line, r.end_line) for r in table.records] == [(2, 3), (4, 5), (6, 6)]


def test_text_after_a_closing_quote_rejects_the_row_with_the_fix() -> None:
    table = read_table(b'text,label\n"He said "stop" now",1\nFine.,0\n', "x.csv")
    [(line, problem)] = problems(table)
    assert line == 2 and "ends a quoted text early" in problem and '("")' in problem
    assert kept(table) == [(3, {"text": "Fine.", "label": "0"})]


def test_a_quote_inside_an_unquoted_field_is_text() -> None:
    table = read_table(b'text,label\nHe said "hi" to me,1\n', "x.csv")
    assert kept(table) == [(2, {"text": 'He said "hi" to me', "label": "1"})]


def test_a_record_longer_than_the_limit_is_one_reject_not_a_field_limit_error() -> None:
    long_line = "x" * (MAX_RECORD_CHARS + 5)
    data = f'text\n{long_line}\n"open {long_line[:200]}\n' + "row\n" * 700
    data += '"' + "y" * 1000 + "\n" + ("z" * 1000 + "\n") * 120 + 'end"\nlast\n'
    table = read_table(data.encode(), "x.csv")
    assert [line for line, _ in problems(table)] == [2, 3, 704]
    assert "characters long" in problems(table)[0][1]
    assert len(kept(table)) == 700 + 120 + 2


def test_more_cells_than_columns_is_a_problem_but_trailing_empty_cells_are_not() -> None:
    table = read_table(b"text,label\nHe hit me, twice,1\nTrailing.,0,,\n", "x.csv")
    assert problems(table) == [(2, "3 fields but the header has 2 columns; a comma inside the text needs the "
                                   "text in double quotes")]
    assert kept(table) == [(3, {"text": "Trailing.", "label": "0"})]


def test_every_physical_line_is_a_header_blank_or_record_line() -> None:
    data = b'\nsep=,\n\ntext,label\n\n"two\nlines",1\n,,\n   \n"stray,0\nok,1\n'
    table = read_table(data, "x.csv")
    assert (table.lines, table.header_lines, table.blank_lines, table.record_lines) == (11, 2, 5, 4)
    assert accounted(table) == table.lines
    assert [(r.line, r.end_line, r.problem is None) for r in table.records] == [(6, 7, True), (10, 10, False),
                                                                                 (11, 11, True)]


# --- JSON Lines and plain text ---------------------------------------------------------------


def test_a_json_line_that_does_not_parse_is_rejected_and_the_next_line_is_read() -> None:
    lines = [json.dumps({"text": "One.", "label": ["x"]}), '{"text": "broken", ', "",
             json.dumps(["not", "an", "object"]), json.dumps({"Text": "Two."})]
    table = read_table("\n".join(lines).encode(), "x.jsonl")
    assert kept(table) == [(1, {"text": "One.", "label": ["x"]}), (5, {"Text": "Two."})]
    assert [line for line, _ in problems(table)] == [2, 4]
    assert problems(table)[0][1].startswith("not valid JSON: Expecting property name")
    assert table.columns == ("text", "label", "Text") and accounted(table) == table.lines == 5


def test_a_json_array_is_refused_with_what_to_write_instead() -> None:
    with pytest.raises(ImportFileError, match="one JSON array, not JSON Lines"):
        read_table(b'[{"text": "a"},\n {"text": "b"}]\n', "x.jsonl")


def test_plain_text_is_one_record_a_line_and_blank_lines_can_be_kept_for_predict() -> None:
    data = "One.\n\nTwo.\u2028still two\r\n".encode()
    assert [(r.line, r.values) for r in read_table(data, "x.txt").records] == [
        (1, {"text": "One."}), (3, {"text": "Two.\u2028still two"})]
    assert [r.values["text"] for r in read_table(data, "x.txt", blank_records=True).records] == [
        "One.", "", "Two.\u2028still two"]


# --- label cells -----------------------------------------------------------------------------


@pytest.mark.parametrize(("cell", "label"), [
    ("1.0", "1"), ("0.0", "0"), (" 1 ", "1"), (1.0, "1"), (3, "3"), ("", None), (None, None), (float("nan"), None),
    ('["insult"]', "insult"), ("['insult']", "insult"), (["insult"], "insult"), ([], None), ("[]", None),
    (["Insult", "insult "], "Insult"), ("violence", "violence"), ("1.5", "1.5"),
])
def test_label_cells_as_people_write_them(cell, label) -> None:
    assert label_cell(cell) == (label, None)


@pytest.mark.parametrize(("cell", "problem"), [
    (["insult", "violence"], "2 labels ('insult', 'violence'); this project takes one label a sentence"),
    ('["a", "b", "c"]', "3 labels ('a', 'b', 'c')"),
    ([[0, 5, "PER"]], "a list of spans"),
    ({"choices": ["x"]}, "JSON object"),
    (True, "label true is not"),
])
def test_label_cells_that_are_not_one_label_say_why(cell, problem) -> None:
    label, reason = label_cell(cell)
    assert label is None and problem in reason


def test_a_stray_quote_that_closes_on_a_real_multi_line_cell_leaves_that_cell_whole() -> None:
    # Line 2's stray quote would close on line 3's opening quote, leaving `words",other` with a quote
    # inside unquoted text: the other reading (line 2 stray, lines 3-4 one cell) is clean, so it wins.
    data = b'text,label\n"Stray quote here,other\n",She said\n it twice",violence\nLast row.,other\n'
    table = read_table(data, "x.csv")
    assert kept(table) == [(3, {"text": ",She said\n it twice", "label": "violence"}),
                           (5, {"text": "Last row.", "label": "other"})]
    assert [line for line, _ in problems(table)] == [2]


def test_a_real_multi_line_cell_before_a_stray_quote_is_kept() -> None:
    data = b'text,label\n"She said\n it twice",violence\n"Stray quote here,other\nLast row.,other\n'
    table = read_table(data, "x.csv")
    assert kept(table) == [(2, {"text": "She said\n it twice", "label": "violence"}),
                           (5, {"text": "Last row.", "label": "other"})]
    assert [line for line, _ in problems(table)] == [4]
