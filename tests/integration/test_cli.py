"""The CLI as a user runs it: a subprocess with DATA_DIR pointing at a temporary directory."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DATA_DIR=str(tmp_path / "data"), WORKER_AUTOSTART="0", HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_help_lists_commands(tmp_path):
    result = cli(tmp_path, "--help")
    assert result.returncode == 0
    for name in ("init", "import", "export", "projects", "stats", "train", "runs", "predict", "worker"):
        assert name in result.stdout


def test_init_import_stats_export_round_trip(tmp_path):
    assert cli(tmp_path, "init").returncode == 0
    source = tmp_path / "in.csv"
    source.write_text("text,label\nHe shoved me.,physical violence\nWe talked.,other\n=cmd(),\n", encoding="utf-8")
    result = cli(tmp_path, "import", str(source), "--project", "p", "--labels", "other,physical violence")
    assert result.returncode == 0, result.stderr
    assert "added 3" in result.stdout
    stats = json.loads(cli(tmp_path, "stats", "--project", "p", "--json").stdout)
    assert stats["sentences"] == 3 and stats["labelled"] == 2
    assert stats["per_label"] == {"other": 1, "physical violence": 1}
    out = tmp_path / "out.csv"
    assert cli(tmp_path, "export", "--project", "p", "--format", "csv", "--output", str(out)).returncode == 0
    assert "'=cmd()" in out.read_text(encoding="utf-8")
    listed = json.loads(cli(tmp_path, "projects", "--json").stdout)
    assert [p["name"] for p in listed] == ["p"]


def test_errors_exit_non_zero_with_one_line(tmp_path):
    result = cli(tmp_path, "stats", "--project", "nope")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: No project 'nope'")
    assert len(result.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence_text\nhello\n", encoding="utf-8")
    result = cli(tmp_path, "import", str(bad), "--project", "p", "--labels", "a,b")
    assert result.returncode == 1 and "text" in result.stderr
    assert cli(tmp_path, "export", "--project", "p", "--format", "xml", "--output", "x").returncode == 2
    assert cli(tmp_path, "import", str(tmp_path / "missing.csv"), "--project", "p").returncode == 1


def test_init_demo_creates_demo_project(tmp_path):
    result = cli(tmp_path, "init", "--demo")
    assert result.returncode == 0 and "demo project" in result.stdout
    listed = json.loads(cli(tmp_path, "projects", "--json").stdout)
    assert listed[0]["sentences"] >= 150 and listed[0]["labelled"] > 30


def test_next_and_suspects_before_any_model(tmp_path):
    assert cli(tmp_path, "init", "--demo").returncode == 0
    result = cli(tmp_path, "next", "--project", "Demo: physical violence", "--n", "5", "--strategy", "random", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 5 and all(r["reason"] == "random" for r in rows)
    useful = json.loads(cli(tmp_path, "next", "--project", "Demo: physical violence", "--n", "3", "--json").stdout)
    assert len(useful) == 3 and all("not ranked yet" in r["reason"] for r in useful)
    suspects = cli(tmp_path, "suspects", "--project", "Demo: physical violence")
    assert suspects.returncode == 0 and "no suspected label errors" in suspects.stdout
    assert cli(tmp_path, "next", "--project", "missing").returncode == 1
