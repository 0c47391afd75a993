"""Import speed for 100,000 sentences, against the floor: a bare sqlite3 executemany of the same rows.

    python bench/bench_import.py [--rows 100000]

Both run in this process on a fresh WAL database file each; prints seconds, rows/s and the ratio.
"""
from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import Settings  # noqa: E402
from core.db import open_database  # noqa: E402
from core.importing import commit_import, parse_file  # noqa: E402
from core.permissions import CLI_ACTOR  # noqa: E402
from core.projects import create_project  # noqa: E402

WORDS = ("he she they we said told left called hit pushed court police friend sister kids home night "
         "door car phone money afraid tired safe help order weekend work again never always").split()


def make_csv(n: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    lines = ["text,label,document"]
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18))) + f" {i}."
        label = rng.choice(["", "", "", "0", "1"])
        lines.append(f"{text},{label},doc-{i // 8}")
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    data = make_csv(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(Settings.from_env({"DATA_DIR": f"{tmp}/app"}))
        project = create_project(db, CLI_ACTOR, "bench", ["other", "violence"])
        started = time.perf_counter()
        parsed = parse_file(data, "bench.csv", max_rows=args.rows + 1, max_bytes=len(data) + 1)
        parse_s = time.perf_counter() - started
        result = commit_import(db, CLI_ACTOR, project.id, parsed)
        app_s = time.perf_counter() - started

        rows = [(r.text, str(hash(r.text)), r.doc_id, r.position) for r in parsed.rows]
        raw = sqlite3.connect(f"{tmp}/raw.db")
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("CREATE TABLE s (id INTEGER PRIMARY KEY, text TEXT, h TEXT UNIQUE, doc TEXT, pos INT)")
        started = time.perf_counter()
        with raw:
            raw.executemany("INSERT INTO s (text, h, doc, pos) VALUES (?, ?, ?, ?)", rows)
        raw_s = time.perf_counter() - started
    print(f"rows: {args.rows}  added: {result.added}  labels: {result.labelled}")
    print(f"app import (parse + dedup + split + annotations): {app_s:.2f} s  ({args.rows / app_s:,.0f} rows/s; parse {parse_s:.2f} s)")
    print(f"baseline bare executemany of the same rows:        {raw_s:.2f} s")
    print(f"ratio app/baseline = {app_s / raw_s:.1f}x")


if __name__ == "__main__":
    main()
