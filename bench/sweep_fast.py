"""The sweep behind the fast preset: accuracy and time of candidate settings on SST-2 (78 labels).

    python bench/sweep_fast.py --data ../shared/data/sst2 --seeds 0 1 2 \
        --candidate "batch_size=16 max_steps=44 body_learning_rate=1e-4" --candidate "..."

Each candidate overrides the fast preset; prints seconds and accuracy per seed and the means.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._sst2 import prepare, sample  # noqa: E402
from bench.bench_presets import run_once  # noqa: E402
from core.params import PRESETS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/sst2")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--candidate", action="append", required=True)
    parser.add_argument("--test-limit", type=int, default=0)
    args = parser.parse_args()
    settings, train_rows, test = prepare(args.data, args.test_limit)
    for candidate in args.candidate:
        params = PRESETS["fast"].with_overrides(dict(kv.split("=", 1) for kv in candidate.split()))
        results = [run_once(settings, params, sample(train_rows, {0: 48, 1: 30}, seed), test) for seed in args.seeds]
        per_seed = "  ".join(f"{s:.1f}s/{a:.4f}" for s, a in results)
        print(f"{candidate:<70} mean {statistics.mean(s for s, _ in results):5.1f}s "
              f"acc {statistics.mean(a for _, a in results):.4f}   [{per_seed}]", flush=True)


if __name__ == "__main__":
    main()
