"""Predictions-page server time on 100,000 sentences: SQL paging/filtering vs loading everything into pandas.

    python bench/bench_review.py [--rows 100000]

Builds a project with N sentences and one run's predictions, then times the queries one page render
makes (page of 50 + count, with filters) against the anti-pattern (whole table into pandas, filter,
sort, slice) in the same process. Prints medians and the ratio.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from core.config import Settings  # noqa: E402
from core.db import open_database  # noqa: E402
from core.importing import ImportRow, ParsedFile, commit_import  # noqa: E402
from core.permissions import CLI_ACTOR  # noqa: E402
from core.projects import create_project  # noqa: E402
from core.review import PredictionFilter, evaluate_run, prediction_rows  # noqa: E402
from db.models import Prediction, RunStatus, Sentence, TrainingRun  # noqa: E402

FILTERS = {
    "no filter, least sure first": PredictionFilter(),
    "disagrees": PredictionFilter(agreement="disagrees"),
    "predicted 1, conf 0.6-0.9": PredictionFilter(predicted=1, min_confidence=0.6, max_confidence=0.9),
    "text search": PredictionFilter(search="police"),
}


def build(db, n: int) -> int:
    rng = random.Random(0)
    words = "he she hit pushed police court home kids night door safe tired friend again".split()
    project = create_project(db, CLI_ACTOR, "bench", ["other", "violence"])
    rows = tuple(ImportRow(i, " ".join(rng.choice(words) for _ in range(10)) + f" {i}",
                           rng.choice([None, None, "0", "1"]), None, f"d{i // 8}", i % 8) for i in range(n))
    commit_import(db, CLI_ACTOR, project.id, ParsedFile("bench", rows, (), 0))
    with db.write() as session:
        run = TrainingRun(project_id=project.id, version=1, status=RunStatus.succeeded, preset="fast", params_json="{}",
                          snapshot_json="[]", snapshot_hash="x", metrics_json="{}")
        session.add(run)
        session.flush()
        run_id = run.id
        ids = list(session.scalars(select(Sentence.id).where(Sentence.project_id == project.id)))
    for start in range(0, len(ids), 5000):
        batch = []
        for sid in ids[start:start + 5000]:
            p1 = rng.random()
            batch.append({"run_id": run_id, "sentence_id": sid, "label": int(p1 > 0.5), "confidence": max(p1, 1 - p1),
                          "probs_json": json.dumps([1 - p1, p1])})
        with db.write() as session:
            session.execute(insert(Prediction), batch)
    return run_id


def pandas_page(db, run_id: int, f: PredictionFilter) -> pd.DataFrame:
    with db.read() as session:
        frame = pd.read_sql(
            select(Sentence.id, Sentence.text, Sentence.label, Sentence.split, Prediction.label.label("predicted"),
                   Prediction.confidence).join(Prediction, Prediction.sentence_id == Sentence.id)
            .where(Prediction.run_id == run_id), session.connection())
    if f.agreement == "disagrees":
        frame = frame[frame["label"].notna() & (frame["label"] != frame["predicted"])]
    if f.predicted is not None:
        frame = frame[frame["predicted"] == f.predicted]
    frame = frame[(frame["confidence"] >= f.min_confidence) & (frame["confidence"] <= f.max_confidence)]
    if f.search:
        frame = frame[frame["text"].str.contains(f.search, case=False)]
    return frame.sort_values("confidence").head(50)


def median_ms(fn, repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(Settings.from_env({"DATA_DIR": tmp}))
        run_id = build(db, args.rows)
        print(f"{args.rows} sentences with predictions")
        total_sql = total_pd = 0.0
        for name, f in FILTERS.items():
            sql_ms = median_ms(lambda: prediction_rows(db, run_id, f, offset=100, limit=50))
            pd_ms = median_ms(lambda: pandas_page(db, run_id, f), repeats=3)
            total_sql += sql_ms
            total_pd += pd_ms
            print(f"  {name:<30} SQL page+count {sql_ms:7.1f} ms   pandas full table {pd_ms:8.1f} ms   ratio {pd_ms / sql_ms:5.1f}x")
        eval_ms = median_ms(lambda: evaluate_run(db, run_id), repeats=3)
        print(f"evaluation metrics on the test split: {eval_ms:.1f} ms")
        print(f"overall: SQL {total_sql:.1f} ms vs pandas {total_pd:.1f} ms for the {len(FILTERS)} views: ratio {total_pd / total_sql:.1f}x")


if __name__ == "__main__":
    main()
