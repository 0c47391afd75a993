"""Retrain, end to end: the app's fast preset vs plain SetFit with the seed card's hyperparameters.

    python bench/bench_retrain.py --data ../shared/data/sst2 --seeds 3

Both sides are whole processes, timed from start to exit with the same boundaries:
start Python, import, load the base model, train, score the project's test sentences.

* app:   `python -m core train --project P --preset fast --wait` on a fresh DATA_DIR holding the
         project (no worker alive, so the CLI trains in its own process). It does more than the
         baseline: it also saves the version, scores every sentence of the project and looks for
         suspicious labels.
* plain: bench/_plain_setfit.py: SetFitModel.from_pretrained + setfit.Trainer with the seed card's
         hyperparameters (batch 8, 1 epoch, 25 iterations, oversampling, body lr 2e-5, head lr 0.01,
         CosineSimilarityLoss, seed 42), then predict on the same test sentences.

Projects: SST-2 (78 labelled train sentences, 48 negative / 30 positive like the seed card, and 300
labelled test sentences, both sampled per seed) and the demo project (its own train/test split).
Importing the project is not timed. Accuracy is on the project's labelled test sentences.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._sst2 import read_sst2, sample  # noqa: E402
from core.config import bundled_base_model_path  # noqa: E402

PROJECT = "bench"


def _env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ, DATA_DIR=str(data_dir), WORKER_AUTOSTART="0", HF_HUB_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", PYTHONPATH=str(ROOT))
    env.setdefault("BASE_MODEL", bundled_base_model_path() or "")
    env.pop("DATABASE_URL", None)
    env.pop("MODELS_DIR", None)
    return env


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=_env(data_dir),
                          capture_output=True, text=True, check=True)


def sst2_project(data_dir: Path, data: Path, seed: int, n_test: int) -> tuple[list, list]:
    train = sample(read_sst2(data / "train.txt"), {0: 48, 1: 30}, seed)
    test_rows = read_sst2(data / "test.txt")
    test = sample(test_rows, {0: n_test // 2, 1: n_test - n_test // 2}, seed)
    path = data_dir / "project.csv"
    data_dir.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "split"])
        writer.writerows([(t, l, "train") for t, l in train] + [(t, l, "test") for t, l in test])
    _cli(data_dir, "import", str(path), "--project", PROJECT, "--labels", "negative,positive")
    return train, test


def demo_project(data_dir: Path) -> tuple[list, list, str]:
    _cli(data_dir, "init", "--demo")
    from core.config import Settings
    from core.db import open_database
    from core.demo import DEMO_PROJECT_NAME
    from core.projects import get_project
    from db.models import Sentence

    db = open_database(Settings.from_env({"DATA_DIR": str(data_dir)}), migrate=False)
    project = get_project(db, DEMO_PROJECT_NAME)
    with db.read() as session:
        rows = session.query(Sentence.text, Sentence.label, Sentence.split).filter(
            Sentence.project_id == project.id, Sentence.label.is_not(None)).all()
    train = [(t, int(l)) for t, l, s in rows if s.value == "train"]
    test = [(t, int(l)) for t, l, s in rows if s.value == "test"]
    return train, test, DEMO_PROJECT_NAME


def run_app(data_dir: Path, project: str, seed: int) -> tuple[float, float, dict]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "core", "train", "--project", project, "--preset", "fast",
                           "--param", f"seed={seed}", "--wait"],
                          cwd=ROOT, env=_env(data_dir), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"app training failed:\n{done.stderr[-3000:]}")
    run = json.loads(done.stdout)
    if run["status"] != "succeeded":
        raise SystemExit(f"app run {run['status']}: {run.get('error')}")
    return seconds, float(run["metrics"]["accuracy"]), run


def run_plain(work: Path, train: list, test: list, seed: int) -> tuple[float, float]:
    payload = work / f"plain-{seed}.json"
    payload.write_text(json.dumps({"train": train, "test": test, "seed": 42}), encoding="utf-8")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "_plain_setfit.py"), str(payload)],
                          cwd=ROOT, env=_env(work), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"plain SetFit failed:\n{done.stderr[-3000:]}")
    return seconds, float(json.loads(done.stdout.strip().splitlines()[-1])["accuracy"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/sst2")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--test", type=int, default=300, help="labelled SST-2 test sentences in the project")
    parser.add_argument("--projects", default="sst2,demo")
    parser.add_argument("--skip-plain", action="store_true", help="time the app only (no ratio)")
    args = parser.parse_args()

    print(__doc__.split("\n\n")[0].strip())
    print("Whole processes, same boundaries: start, import, load, train, score the test sentences.")
    summary = {}
    with tempfile.TemporaryDirectory(prefix="bench-retrain-") as tmp:
        for name in args.projects.split(","):
            rows = {"app": [], "plain": []}
            print(f"\n[{name}]  seed  side   seconds  accuracy")
            for seed in range(args.seeds):
                data_dir = Path(tmp) / f"{name}-{seed}"
                if name == "sst2":
                    train, test = sst2_project(data_dir, Path(args.data), seed, args.test)
                    project = PROJECT
                else:
                    train, test, project = demo_project(data_dir)
                seconds, accuracy, run = run_app(data_dir, project, seed)
                rows["app"].append((seconds, accuracy))
                print(f"[{name}]  {seed:>4}  app    {seconds:7.1f}  {accuracy:.4f}   "
                      f"({len(train)} train / {len(test)} test; backend {run.get('scoring_backend')})\n"
                      f"        profile (s): {run['metrics'].get('phase_seconds', {})}", flush=True)
                if not args.skip_plain:
                    seconds, accuracy = run_plain(Path(tmp), train, test, seed)
                    rows["plain"].append((seconds, accuracy))
                    print(f"[{name}]  {seed:>4}  plain  {seconds:7.1f}  {accuracy:.4f}", flush=True)
            summary[name] = rows
    print()
    for name, rows in summary.items():
        app_s, app_a = statistics.mean(s for s, _ in rows["app"]), statistics.mean(a for _, a in rows["app"])
        line = f"{name}: app fast preset {app_s:.1f} s, accuracy {app_a:.4f}"
        if rows["plain"]:
            plain_s = statistics.mean(s for s, _ in rows["plain"])
            plain_a = statistics.mean(a for _, a in rows["plain"])
            ratio = app_s / plain_s
            verdict = "met" if ratio <= 0.20 and app_a >= plain_a else "NOT met"
            line += (f"; plain SetFit seed card {plain_s:.1f} s, accuracy {plain_a:.4f}; "
                     f"time ratio {ratio:.3f} (goal ≤ 0.20, stretch ≤ 0.10), accuracy delta {app_a - plain_a:+.4f} "
                     f"→ goal {verdict}")
        print(line)


if __name__ == "__main__":
    main()
