"""`predict` with a real trained model (tiny budget): every input row comes back, in order, with its columns."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT, env_for, make_labelled_project

pytestmark = pytest.mark.slow


def _cli(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env_for(settings.data_dir),
                          capture_output=True, text=True, timeout=600)


def test_predict_keeps_every_row_its_id_and_order_for_csv_and_jsonl(settings, db, project, tmp_path):
    make_labelled_project(db, project)
    trained = _cli(settings, "train", "--project", project.name, "--wait", "--param", "max_steps=4",
                   "--param", "num_iterations=1")
    assert trained.returncode == 0, trained.stderr[-2000:]

    source = tmp_path / "in.csv"
    source.write_text("id,text\n1,He choked me until I nearly blacked out.\n2,\n3,The bakery sells fresh bread.\n",
                      encoding="utf-8")
    out = tmp_path / "out.csv"
    result = _cli(settings, "predict", "--project", project.name, "--input", str(source), "--output", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == f"wrote 3 predictions to {out}"
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    assert list(rows[0]) == ["id", "text", "label", "label_name", "confidence", "p_other", "p_physical violence"]
    assert rows[1] == {"id": "2", "text": "", "label": "", "label_name": "", "confidence": "",
                       "p_other": "", "p_physical violence": ""}
    for row in (rows[0], rows[2]):
        assert row["label_name"] in ("other", "physical violence")
        assert row["label"] == str(["other", "physical violence"].index(row["label_name"]))
        assert abs(float(row["p_other"]) + float(row["p_physical violence"]) - 1) < 1e-3

    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text(json.dumps({"id": "a", "text": "He punched me in the stomach."}) + "\n"
                     + json.dumps({"id": "b", "text": ""}) + "\n", encoding="utf-8")
    out_jsonl = tmp_path / "out.jsonl"
    result = _cli(settings, "predict", "--project", project.name, "--input", str(jsonl), "--output", str(out_jsonl),
                  "--format", "jsonl")
    assert result.returncode == 0, result.stderr[-2000:]
    first, second = [json.loads(line) for line in out_jsonl.read_text(encoding="utf-8").splitlines()]
    assert (first["id"], first["text"]) == ("a", "He punched me in the stomach.")
    assert first["label_name"] in ("other", "physical violence") and 0.5 <= first["confidence"] <= 1
    assert second == {"id": "b", "text": "", "label": None, "label_name": None, "confidence": None,
                      "p_other": None, "p_physical violence": None}
