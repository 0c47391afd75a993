"""Simulated labelling on SST-2: the "Most useful first" queue against random picks.

    python bench/bench_active.py --data ../shared/data/sst2 --seeds 3

Per seed: start from 8 labelled sentences per class drawn from a pool of SST-2 train sentences; each
round trains the fast preset (the app's SetFit adapter), records test accuracy, then 16 more pool
sentences get their known label, chosen by the app's ranking (core.active.rank_useful on the new
model's probabilities and embeddings) or at random. Prints both curves (mean over seeds) and how many
labels the queue needs to reach the accuracy random picking has at the last point (128 labels).
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench._sst2 import read_sst2  # noqa: E402
from core.active import rank_useful  # noqa: E402
from core.classifier import TrainingHooks  # noqa: E402
from core.config import Settings  # noqa: E402
from core.params import PRESETS  # noqa: E402


CLUSTERS = 0


def simulate(settings, strategy, pool, test, seed, start_per_class, step, until):
    from core.setfit_adapter import SetFitClassifier

    rng = random.Random(seed)
    labelled = [i for c in (0, 1) for i in rng.sample([i for i, (_, l) in enumerate(pool) if l == c], start_per_class)]
    curve = []
    while True:
        clf = SetFitClassifier.from_base(settings.base_model, ["negative", "positive"], settings.base_model_name)
        clf.fit([pool[i][0] for i in labelled], [pool[i][1] for i in labelled], [], [], TrainingHooks(), PRESETS["fast"])
        probs = clf.predict_proba([t for t, _ in test], batch_size=128)
        accuracy = float(np.mean([p.argmax() == l for p, (_, l) in zip(probs, test)]))
        curve.append((len(labelled), accuracy))
        print(f"  seed {seed} {strategy:<6} {len(labelled):>4} labels  accuracy {accuracy:.4f}", flush=True)
        if len(labelled) >= until:
            return curve
        remaining = [i for i in range(len(pool)) if i not in set(labelled)]
        if strategy == "random":
            picked = rng.sample(remaining, step)
        else:
            emb = clf.embed([pool[i][0] for i in remaining], batch_size=128)
            emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
            pool_probs = clf.predict_proba_from_embeddings(emb)
            ranked = rank_useful(remaining, pool_probs, emb, ["negative", "positive"], seed=seed, clusters=CLUSTERS)
            picked = [p.sentence_id for p in ranked[:step]]
        labelled += picked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/sst2")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--pool", type=int, default=1500, help="SST-2 train sentences the queue may pick from")
    parser.add_argument("--test-limit", type=int, default=800)
    parser.add_argument("--start", type=int, default=8, help="labelled sentences per class to start from")
    parser.add_argument("--step", type=int, default=16)
    parser.add_argument("--until", type=int, default=128)
    parser.add_argument("--clusters", type=int, default=0, help="k-means clusters for the useful ranking (0 = none)")
    parser.add_argument("--strategies", default="random,useful")
    args = parser.parse_args()
    global CLUSTERS
    CLUSTERS = args.clusters
    settings = Settings.from_env()
    from core.setfit_adapter import set_threads

    set_threads(settings.torch_threads)
    data = Path(args.data)
    train, test = read_sst2(data / "train.txt"), read_sst2(data / "test.txt")
    test = random.Random(1).sample(test, min(args.test_limit, len(test)))
    curves: dict[str, list[list[tuple[int, float]]]] = {"useful": [], "random": []}
    for seed in range(args.seeds):
        pool = random.Random(100 + seed).sample(train, args.pool)
        for strategy in args.strategies.split(","):
            curves[strategy].append(simulate(settings, strategy, pool, test, seed, args.start, args.step, args.until))
    print("\nlabels  random   useful   (mean test accuracy over seeds)")
    curves = {s: c for s, c in curves.items() if c}
    mean = {s: [statistics.mean(c[k][1] for c in curves[s]) for k in range(len(curves[s][0]))] for s in curves}
    ns = [n for n, _ in next(iter(curves.values()))[0]]
    if len(curves) < 2:
        for k, n in enumerate(ns):
            print(f"{n:>6}  " + "  ".join(f"{s} {mean[s][k]:.4f}" for s in curves))
        return
    for k, n in enumerate(ns):
        print(f"{n:>6}  {mean['random'][k]:.4f}   {mean['useful'][k]:.4f}")
    target = mean["random"][-1]
    reach = next((n for n, a in zip(ns, mean["useful"]) if a >= target), None)
    print(f"\nrandom picking at {ns[-1]} labels: {target:.4f}")
    if reach is None:
        print(f"the useful queue did not reach it within {ns[-1]} labels")
    else:
        print(f"the useful queue reaches it with {reach} labels: {reach / ns[-1]:.2f} of random's labels")


if __name__ == "__main__":
    main()
