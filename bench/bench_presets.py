"""Seed-card preset vs the app's fast preset: wall time and SST-2 test accuracy, same command.

    python bench/bench_presets.py --data ../shared/data/sst2 --seeds 3

Samples 78 training sentences (48 negative / 30 positive, like the seed card) per seed, trains
with each preset through the app's own SetFit adapter (the plain SetFit Trainer underneath),
and scores the whole test file. Prints per-seed rows, the means and the time ratio.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._sst2 import prepare, sample  # noqa: E402
from core.classifier import TrainingHooks  # noqa: E402
from core.config import Settings  # noqa: E402
from core.params import PRESETS  # noqa: E402


def run_once(settings: Settings, params, train, test) -> tuple[float, float]:
    from core.setfit_adapter import SetFitClassifier

    started = time.perf_counter()
    clf = SetFitClassifier.from_base(settings.base_model, ["negative", "positive"], settings.base_model_name)
    clf.fit([t for t, _ in train], [l for _, l in train], [], [], TrainingHooks(), params)
    seconds = time.perf_counter() - started
    probs = clf.predict_proba([t for t, _ in test], batch_size=128)
    accuracy = sum(int(p.argmax() == l) for p, (_, l) in zip(probs, test)) / len(test)
    return seconds, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/sst2")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--test-limit", type=int, default=0, help="score only the first N test rows (0 = all)")
    parser.add_argument("--fast", action="append", default=[], metavar="KEY=VALUE", help="try a fast-preset variant")
    args = parser.parse_args()

    settings, train_rows, test = prepare(args.data, args.test_limit)
    fast = PRESETS["fast"].with_overrides(dict(kv.split("=", 1) for kv in args.fast))
    results: dict[str, list[tuple[float, float]]] = {"seed": [], "fast": []}
    print(f"fast preset: {fast}")
    print("seed  preset  seconds  accuracy")
    for seed in range(args.seeds):
        train = sample(train_rows, {0: 48, 1: 30}, seed)
        for name, params in (("seed", PRESETS["seed"]), ("fast", fast)):
            seconds, accuracy = run_once(settings, params, train, test)
            results[name].append((seconds, accuracy))
            print(f"{seed:>4}  {name:<6}  {seconds:7.1f}  {accuracy:.4f}", flush=True)
    mean = {k: (statistics.mean(s for s, _ in v), statistics.mean(a for _, a in v),
                statistics.pstdev(a for _, a in v)) for k, v in results.items()}
    for k, (s, a, sd) in mean.items():
        print(f"{k:<5} mean time {s:6.1f} s   mean accuracy {a:.4f} ± {sd:.4f}")
    print(f"time ratio fast/seed = {mean['fast'][0] / mean['seed'][0]:.3f}  "
          f"(must be ≤ 0.2)   accuracy delta fast-seed = {mean['fast'][1] - mean['seed'][1]:+.4f}")


if __name__ == "__main__":
    main()
