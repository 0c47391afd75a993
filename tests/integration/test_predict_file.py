"""`predict`'s reading and writing of rows, without a model: the scores are given, the rows are real.

Scoring with a real trained model is in tests/slow/test_predict.py.
"""
from __future__ import annotations

import codecs
import csv
import io
import json

import numpy as np
import pytest

from core.errors import ImportFileError, InvalidInput
from core.predict import read_input, write_predictions
from core.projects import create_project
from tests.helpers import ADMIN


@pytest.fixture
def three(db):
    return create_project(db, ADMIN, "three", ["other", "insult", "violence"])


def scores(source, rows: dict[int, list[float]]) -> dict[int, np.ndarray]:
    assert set(rows) == {i for i, text in enumerate(source.texts) if text}, "only non-blank rows are scored"
    return {i: np.array(p) for i, p in rows.items()}


def test_csv_rows_keep_their_order_and_columns_and_a_blank_text_gets_an_empty_prediction(tmp_path, three) -> None:
    source_path = tmp_path / "in.csv"
    source_path.write_text("id,text\n1,They attacked the driver with bats.\n2,\n3,The bakery sells bread.\n",
                           encoding="utf-8")
    source = read_input(source_path)
    assert source.texts == ("They attacked the driver with bats.", "", "The bakery sells bread.")
    out = tmp_path / "out.csv"
    write_predictions(out, "csv", source, three, scores(source, {0: [0.1, 0.2, 0.7], 2: [0.8, 0.15, 0.05]}), None)
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows == [
        ["id", "text", "label", "label_name", "confidence", "p_other", "p_insult", "p_violence"],
        ["1", "They attacked the driver with bats.", "2", "violence", "0.7000", "0.1000", "0.2000", "0.7000"],
        ["2", "", "", "", "", "", "", ""],
        ["3", "The bakery sells bread.", "0", "other", "0.8000", "0.8000", "0.1500", "0.0500"],
    ]


def test_jsonl_is_read_by_its_text_field_and_written_back_with_every_key(tmp_path, three) -> None:
    lines = [{"id": "a", "text": "He shoved me.", "meta": {"src": "x"}}, {"id": "b", "text": "  "},
             {"id": "c", "Text": "You idiot."}]
    source_path = tmp_path / "in.jsonl"
    source_path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    source = read_input(source_path)
    assert source.texts == ("He shoved me.", "", "You idiot.")
    out = tmp_path / "out.jsonl"
    write_predictions(out, "jsonl", source, three, scores(source, {0: [0.1, 0.1, 0.8], 2: [0.2, 0.7, 0.1]}), None)
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert written[0] == {"id": "a", "text": "He shoved me.", "meta": {"src": "x"}, "label": 2,
                          "label_name": "violence", "confidence": 0.8, "p_other": 0.1, "p_insult": 0.1,
                          "p_violence": 0.8}
    assert written[1] == {"id": "b", "text": "  ", "label": None, "label_name": None, "confidence": None,
                          "p_other": None, "p_insult": None, "p_violence": None}
    assert (written[2]["Text"], written[2]["label_name"]) == ("You idiot.", "insult")


def test_a_labelled_input_keeps_its_label_as_input_label(tmp_path, three) -> None:
    source_path = tmp_path / "in.tsv"
    source_path.write_text("text\tlabel\nYou fool.\tinsult\n", encoding="utf-8")
    source = read_input(source_path)
    out = tmp_path / "out.csv"
    write_predictions(out, "csv", source, three, {0: np.array([0.1, 0.6, 0.3])}, None)
    header, row = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert header[:4] == ["text", "input_label", "label", "label_name"] and row[:4] == ["You fool.", "insult", "1", "insult"]


def test_plain_text_is_one_row_a_line_blank_lines_included(tmp_path) -> None:
    source_path = tmp_path / "in.txt"
    source_path.write_text("One.\n\nTwo.\n", encoding="utf-8")
    source = read_input(source_path)
    assert (source.columns, source.texts) == (("text",), ("One.", "", "Two."))


def test_semicolon_utf16_input_is_read_like_an_import(tmp_path) -> None:
    source_path = tmp_path / "in.csv"
    source_path.write_bytes(codecs.BOM_UTF16_LE + "id;text\r\n7;Café brawl\r\n".encode("utf-16-le"))
    source = read_input(source_path)
    assert (source.columns, source.rows, source.texts) == (("id", "text"), ({"id": "7", "text": "Café brawl"},),
                                                           ("Café brawl",))


def test_a_non_utf8_input_is_refused_with_the_encoding_it_looks_like(tmp_path) -> None:
    source_path = tmp_path / "latin1.csv"
    source_path.write_bytes("id,text\n1,Café owner was beaten outside.\n".encode("latin-1"))
    with pytest.raises(ImportFileError) as caught:
        read_input(source_path)
    assert "looks like cp1252" in str(caught.value) and "--encoding cp1252" in str(caught.value)
    assert read_input(source_path, encoding="cp1252").texts == ("Café owner was beaten outside.",)


def test_a_malformed_row_refuses_the_file_naming_the_line(tmp_path) -> None:
    source_path = tmp_path / "bad.csv"
    source_path.write_text('id,text\n1,Fine.\n2,"never closed\n3,Also fine.\n', encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"'bad.csv' line 3: a double quote on line 3 is never closed"):
        read_input(source_path)
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"text": "ok"}\n{"text": \n{"text": "x"}\n[1]\n', encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"line 2: not valid JSON.*\(1 more rows cannot be read either\)"):
        read_input(jsonl)


def test_an_input_without_a_text_column_says_so(tmp_path) -> None:
    source_path = tmp_path / "in.csv"
    source_path.write_text("id,message\n1,hello\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"no `text` column \(found: 'id', 'message'\)"):
        read_input(source_path)
