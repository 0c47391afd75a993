"""Downloaded files are named from ids and versions only: a project's or an upload's name is user text."""
from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.exporting import export_file_name, export_format_file_name


@pytest.mark.parametrize("args,name", [
    ((3, "annotations", "csv"), "project-3-annotations.csv"),
    ((3, "annotations", "jsonl"), "project-3-annotations.jsonl"),
    ((12, "training", "csv"), "project-12-training.csv"),
    ((3, "model", "zip", 2), "project-3-model-v2.zip"),
    ((7, "rejected-rows", "csv"), "project-7-rejected-rows.csv"),
])
def test_a_file_name_is_built_from_the_project_id_kind_and_version(args, name) -> None:
    assert export_file_name(*args) == name


@pytest.mark.parametrize("fmt,name", [("csv", "project-5-annotations.csv"), ("jsonl", "project-5-annotations.jsonl"),
                                      ("training", "project-5-training.csv")])
def test_each_export_format_has_its_file_name(fmt, name) -> None:
    assert export_format_file_name(5, fmt) == name


@pytest.mark.parametrize("args", [
    (3, "../../etc/passwd", "csv"),           # a kind is one of a few words, never text from outside
    (3, "My project <script>", "csv"),
    (3, "annotations", "csv/../x"),           # a suffix is a few letters or digits
    (3, "annotations", ""),
    ("3; rm -rf /", "annotations", "csv"),    # ids and versions are whole numbers
    (3, "model", "zip", "v2 [click me](https://evil.example)"),
    (-1, "annotations", "csv"),
    (True, "annotations", "csv"),
])
def test_anything_but_ids_and_known_words_is_refused(args) -> None:
    with pytest.raises(InvalidInput):
        export_file_name(*args)


def test_an_unknown_export_format_is_refused() -> None:
    with pytest.raises(InvalidInput, match="Unknown export format 'xlsx'"):
        export_format_file_name(5, "xlsx")
