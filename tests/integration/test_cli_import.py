"""`import` and `predict` from the command line on files in the shapes people bring (subprocesses)."""
from __future__ import annotations

import json

from tests.integration.test_cli import cli


def test_a_non_utf8_import_names_the_encoding_and_imports_with_it_given(tmp_path):
    source = tmp_path / "latin.csv"
    source.write_bytes("text,label\nCafé owner was beaten.,1.0\nNaïve question.,0.0\n".encode("latin-1"))
    refused = cli(tmp_path, "import", str(source), "--project", "p")
    assert refused.returncode == 1 and refused.stdout == ""
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: 'latin.csv' is not UTF-8 text") and "--encoding cp1252" in line

    done = cli(tmp_path, "import", str(source), "--project", "p", "--encoding", "cp1252")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "created project 'p' with labels 0, 1",
        "added 2 sentences, merged 0 duplicates, 2 labels, rejected 0 rows",
        "read 2 rows as csv, comma-separated, encoding cp1252 (as chosen)",
        "'1.0' was read as '1'",
        "'0.0' was read as '0'",
    ]
    stats = json.loads(cli(tmp_path, "stats", "--project", "p", "--json").stdout)
    assert stats["per_label"] == {"0": 1, "1": 1}


def test_a_label_studio_export_is_offered_then_read_with_label_column(tmp_path):
    source = tmp_path / "ls.csv"
    source.write_text("annotation_id,annotator,id,sentiment,text\n7,3,101,violence,He threw a brick.\n"
                      "8,3,102,other,The library closes at six.\n", encoding="utf-8")
    first = cli(tmp_path, "import", str(source), "--project", "p", "--labels", "other,violence")
    assert first.returncode == 0, first.stderr
    assert "ignored columns: annotation_id, id, sentiment" in first.stdout
    assert ("no `label` column, but 'sentiment' holds only this project's label names: import again with "
            "--label-column sentiment to use it") in first.stdout
    second = cli(tmp_path, "import", str(source), "--project", "p", "--label-column", "sentiment")
    assert second.returncode == 0, second.stderr
    assert "added 0 sentences, merged 2 duplicates, 2 labels, rejected 0 rows" in second.stdout
    stats = json.loads(cli(tmp_path, "stats", "--project", "p", "--json").stdout)
    assert stats["per_label"] == {"other": 1, "violence": 1}


def test_predict_refuses_an_unreadable_input_in_one_line(tmp_path):
    assert cli(tmp_path, "import", str(_write(tmp_path / "seed.csv", "text,label\nA.,a\nB.,b\n")),
               "--project", "p").returncode == 0
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,text\n1,Café owner was beaten outside.\n".encode("latin-1"))
    for bad, expected in ((latin, "looks like cp1252"),
                          (_write(tmp_path / "bad.jsonl", '{"text": "ok"}\n{"text": \n'), "line 2: not valid JSON")):
        result = cli(tmp_path, "predict", "--project", "p", "--input", str(bad), "--output", str(tmp_path / "o.csv"))
        assert result.returncode == 1
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("error: ") and expected in line
    assert not (tmp_path / "o.csv").exists()


def _write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path
