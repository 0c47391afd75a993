"""How well the suspected-label-error ranking finds flipped labels.

    python bench/bench_suspects.py --data ../shared/data/sst2 --seeds 3

Per seed: 200 SST-2 train sentences (100 per class), 10% of their labels flipped; train the fast
preset on the noisy labels as the app would, then run the app's own check (out-of-fold logistic
heads, confident-learning rule) on two views: the base body's embeddings (what the app uses) and the
fine-tuned body's (which has seen the noisy labels). Prints precision and recall of the flagged set,
and precision in the top 20, against the 10% a random pick would find.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench._sst2 import read_sst2, sample  # noqa: E402
from core.active import out_of_fold_probs, suspect_labels  # noqa: E402
from core.classifier import TrainingHooks  # noqa: E402
from core.config import Settings  # noqa: E402
from core.params import PRESETS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/sst2")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--flip", type=float, default=0.10)
    args = parser.parse_args()
    settings = Settings.from_env()
    from core.setfit_adapter import SetFitClassifier, set_threads

    set_threads(settings.torch_threads)
    rows = read_sst2(Path(args.data) / "train.txt")
    base_model = SetFitClassifier.from_base(settings.base_model, ["negative", "positive"], settings.base_model_name)
    results: dict[str, list[tuple[float, float, float]]] = {"base (app)": [], "fine-tuned": []}
    for seed in range(args.seeds):
        data = sample(rows, {0: 100, 1: 100}, 1000 + seed)
        texts = [t for t, _ in data]
        truth = np.array([l for _, l in data])
        flipped = set(random.Random(seed).sample(range(len(data)), int(len(data) * args.flip)))
        given = np.array([1 - l if i in flipped else l for i, l in enumerate(truth)])
        clf = SetFitClassifier.from_base(settings.base_model, ["negative", "positive"], settings.base_model_name)
        clf.fit(texts, list(given), [], [], TrainingHooks(), PRESETS["fast"])
        for view, model in (("base (app)", base_model), ("fine-tuned", clf)):
            emb = model.embed(texts)
            emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
            found = suspect_labels(out_of_fold_probs(emb, given, 2), given)
            flagged = {s.index for s in found}
            hits = len(flagged & flipped)
            precision = hits / len(flagged) if flagged else 0.0
            recall = hits / len(flipped)
            top_precision = len({s.index for s in found[: len(flipped)]} & flipped) / len(flipped)
            results[view].append((precision, recall, top_precision))
            print(f"seed {seed} {view:<11} flagged {len(flagged):>3}  precision {precision:.3f}  recall {recall:.3f}  "
                  f"precision@{len(flipped)} {top_precision:.3f}", flush=True)
    for view, rows_ in results.items():
        p, r, t = (statistics.mean(x[i] for x in rows_) for i in range(3))
        print(f"{view:<11} mean: precision {p:.3f}  recall {r:.3f}  precision@{int(200 * args.flip)} {t:.3f}  "
              f"(ratio to random {p / args.flip:.1f}x)")
    print(f"baseline: a random pick finds flipped labels with precision {args.flip:.3f}")

if __name__ == "__main__":
    main()
