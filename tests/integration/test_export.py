"""Exporting a real SQLite project: spreadsheet-safe CSV, JSONL round trip, and the training CSV."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

import pandas as pd
import pytest
from sqlalchemy import select

from core.errors import InvalidInput, NotFound
from core.exporting import (
    EXPORT_COLUMNS,
    escape_formula,
    export_frame,
    export_project,
    to_csv,
    to_jsonl,
    to_training_csv,
)
from core.importing import commit_import, parse_file
from db.models import Annotation, Sentence
from tests.helpers import ADMIN

FORMULAS = ["=SUM(A1:A2) hits", "+1 punch", "-2 kicks", "@admin hit me", "\tTabbed", "\rReturn"]


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def seed(db, project, data: bytes, annotator: str = "import") -> None:
    commit_import(db, ADMIN, project.id, parse_file(data, "seed.csv"), annotator=annotator)


def sentence_ids(db, project_id: int) -> dict[str, int]:
    with db.read() as session:
        return dict(session.execute(select(Sentence.text, Sentence.id).where(Sentence.project_id == project_id)).all())


def add_note(db, sentence_id: int, note: str, label: int | None = 1) -> None:
    with db.write() as session:
        session.add(Annotation(sentence_id=sentence_id, label=label, annotator="bob", note=note, source="ui"))


@pytest.mark.parametrize("value", FORMULAS)
def test_escape_formula_prefixes_an_apostrophe(value: str) -> None:
    assert escape_formula(value) == "'" + value


@pytest.mark.parametrize("value", ["He hit me.", "", "a=b", "'quoted", 5, -3, None, 1.5, True])
def test_escape_formula_leaves_everything_else_alone(value) -> None:
    assert escape_formula(value) == value


def test_csv_escapes_formula_cells_in_every_text_column() -> None:
    frame = pd.DataFrame({
        "text": FORMULAS + ["Plain text."],
        "label": pd.array([1, 0, 1, None, 0, 1, 0], dtype="Int64"),
        "note": ["=cmd|' /C calc'!A0", "", "", "", "", "", "-note"],
    })
    rows = read_csv(to_csv(frame))
    assert [row["text"] for row in rows] == ["'" + v for v in FORMULAS] + ["Plain text."]
    assert [row["label"] for row in rows] == ["1", "0", "1", "", "0", "1", "0"]
    assert rows[0]["note"] == "'=cmd|' /C calc'!A0" and rows[-1]["note"] == "'-note"


def test_exported_csv_from_the_database_is_escaped_and_complete(db, project) -> None:
    seed(db, project, "text,label,source\n=1+1 hit,1,d\n+2 kick,0,d\n- list item,,d\n@mod look,1,\nCafé ok.,0,d\n".encode())
    ids = sentence_ids(db, project.id)
    add_note(db, ids["Café ok."], "=IMPORTXML(evil)", label=0)
    rows = read_csv(export_project(db, ADMIN, project.id, "csv"))
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    by_id = {int(row["id"]): row for row in rows}
    assert by_id[ids["=1+1 hit"]]["text"] == "'=1+1 hit"
    assert by_id[ids["+2 kick"]]["text"] == "'+2 kick"
    assert by_id[ids["- list item"]]["text"] == "'- list item"
    assert by_id[ids["@mod look"]]["text"] == "'@mod look"
    assert by_id[ids["Café ok."]]["text"] == "Café ok."
    assert by_id[ids["Café ok."]]["note"] == "'=IMPORTXML(evil)"
    assert by_id[ids["- list item"]]["label"] == "" and by_id[ids["- list item"]]["label_name"] == ""
    assert by_id[ids["=1+1 hit"]]["label_name"] == "physical violence"
    assert by_id[ids["+2 kick"]]["doc_id"] == "d" and by_id[ids["+2 kick"]]["position"] == "1"


def test_export_frame_columns_types_and_latest_note(db, project) -> None:
    seed(db, project, b"text,label,split\nHe hit me.,1,test\nWe ate.,,\n", annotator="alice")
    ids = sentence_ids(db, project.id)
    add_note(db, ids["He hit me."], "first note")
    add_note(db, ids["He hit me."], "second note")

    frame = export_frame(db, project.id)
    assert tuple(frame.columns) == EXPORT_COLUMNS
    assert list(frame["id"]) == sorted(ids.values())
    hit = frame.set_index("text").loc["He hit me."]
    assert (hit["label"], hit["label_name"], hit["split"], hit["annotator"]) == (1, "physical violence", "test", "alice")
    assert hit["note"] == "second note" and not hit["unsure"]
    assert datetime.fromisoformat(hit["labelled_at"]).tzinfo == timezone.utc
    ate = frame.set_index("text").loc["We ate."]
    assert pd.isna(ate["label"]) and ate["note"] == "" and ate["label_name"] == ""

    labelled = export_frame(db, project.id, labelled_only=True)
    assert list(labelled["text"]) == ["He hit me."]


def test_jsonl_round_trips_text_label_annotator_time_and_split(db, project) -> None:
    seed(db, project, 'text,label,split\n=not escaped,physical violence,test\n"Ünïcödé, ""quoted""",0,train\nNo label.,,\n'
         .encode(), annotator="alice")
    with db.read() as session:
        truth = {row.text: row for row in session.scalars(select(Sentence).where(Sentence.project_id == project.id))}

    data = export_project(db, ADMIN, project.id, "jsonl")
    assert "Ünïcödé".encode() in data, "ensure_ascii=False keeps text readable"
    lines = data.decode("utf-8").splitlines()
    assert len(lines) == 3
    records = {record["text"]: record for record in map(json.loads, lines)}
    assert set(records) == set(truth)
    for text, record in records.items():
        row = truth[text]
        assert set(record) == set(EXPORT_COLUMNS)
        assert record["id"] == row.id
        assert record["label"] == row.label
        assert record["split"] == row.split.value
        assert record["annotator"] == row.labelled_by
        if row.labelled_at is None:
            assert record["labelled_at"] is None
        else:
            assert datetime.fromisoformat(record["labelled_at"]) == row.labelled_at.replace(tzinfo=timezone.utc)
    assert records["=not escaped"]["label"] == 1 and records["=not escaped"]["annotator"] == "alice"
    assert records["=not escaped"]["split"] == "test"
    assert records["No label."]["label"] is None and records["No label."]["annotator"] is None


def test_to_jsonl_writes_plain_json_types() -> None:
    frame = pd.DataFrame({"id": [1, 2], "label": pd.array([3, None], dtype="Int64"), "unsure": [True, False]})
    assert to_jsonl(frame).decode().splitlines() == [
        '{"id": 1, "label": 3, "unsure": true}',
        '{"id": 2, "label": null, "unsure": false}',
    ]


def test_training_csv_has_only_labelled_rows_as_text_label(db, project, tmp_path) -> None:
    from datasets import load_dataset

    seed(db, project, ('text,label\n=SUM(1) is not a formula here,1\n"Commas, and ""quotes""",0\nUnlabelled.,\n'
                       "He kicked me.,physical violence\nÜnïcödé.,other\n").encode())
    data = export_project(db, ADMIN, project.id, "training")
    assert data.decode("utf-8").splitlines()[0] == "text,label"
    path = tmp_path / "train.csv"
    path.write_bytes(data)

    dataset = load_dataset("csv", data_files=str(path), cache_dir=str(tmp_path / "hf-cache"))["train"]
    assert dataset.column_names == ["text", "label"]
    assert sorted(zip(dataset["text"], dataset["label"])) == sorted([
        ("=SUM(1) is not a formula here", 1),
        ('Commas, and "quotes"', 0),
        ("He kicked me.", 1),
        ("Ünïcödé.", 0),
    ])


def test_training_csv_of_a_frame_drops_unlabelled_rows() -> None:
    frame = pd.DataFrame({"text": ["a", "b", "c"], "label": pd.array([None, 1, 0], dtype="Int64"), "split": ["train"] * 3})
    assert to_training_csv(frame).decode() == "text,label\r\nb,1\r\nc,0\r\n"


def test_unknown_format_and_project_are_refused(db, project) -> None:
    with pytest.raises(InvalidInput, match="csv, jsonl, training"):
        export_project(db, ADMIN, project.id, "xlsx")
    with pytest.raises(NotFound):
        export_project(db, ADMIN, 999, "csv")


def test_empty_project_exports_headers_only(db, project) -> None:
    assert read_csv(export_project(db, ADMIN, project.id, "csv")) == []
    assert export_project(db, ADMIN, project.id, "jsonl") == b""
    assert export_project(db, ADMIN, project.id, "training").decode() == "text,label\r\n"
