"""How well the suspected-label-error check finds flipped labels.

    python bench/bench_suspects.py --data ../shared/data/sst2            # 5 seeds, about 4 minutes here

Per seed: 200 SST-2 train sentences (100 per class), 10% of their labels flipped; train the fast preset on
the noisy labels as the app would, then rank the labels with the app's check (core.active: cleanlab's
`find_label_issues` on out-of-fold logistic heads over the new version's embeddings) and, in the same
run, with the hand-written rule it replaced (a label looks wrong when another class's out-of-fold
probability reaches that class's mean and beats the given label; on the base body's embeddings, as the
app ran it). Also printed: the cleanlab check on each view (base, fine-tuned, both concatenated) and
over the head's C, which is how the app's view and C were chosen.

Figures, against the goals of issue 12: recall in the top 2 x (number flipped) of the suspect list, and
precision in its top 20. A random order finds 2 x 10% = 0.20 recall and 0.10 precision.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench._sst2 import read_sst2, sample  # noqa: E402
from core.active import out_of_fold_probs, suspect_labels  # noqa: E402
from core.classifier import TrainingHooks  # noqa: E402
from core.config import Settings  # noqa: E402
from core.params import PRESETS  # noqa: E402

GOAL_RECALL = 0.5
GOAL_TOP20 = 0.5
C_VALUES = (0.1, 1.0, 10.0, 100.0)


def old_rule(oof: np.ndarray, given: np.ndarray) -> list[int]:
    """The hand-written confident-learning rule the app used before cleanlab, kept here as the baseline."""
    n_classes = oof.shape[1]
    thresholds = np.array([oof[given == c, c].mean() if np.any(given == c) else 1.0 for c in range(n_classes)])
    flagged = []
    for i, (p, y) in enumerate(zip(oof, given)):
        if any(c != y and p[c] >= thresholds[c] and p[c] > p[y] for c in range(n_classes)):
            flagged.append((1.0 - p[y], i))
    return [i for _, i in sorted(flagged, key=lambda t: -t[0])]


def cleanlab_check(emb: np.ndarray, given: np.ndarray, c: float = 1.0) -> list[int]:
    """The app's check (core.active), given the embeddings of the labelled sentences."""
    return [s.index for s in suspect_labels(out_of_fold_probs(emb, given, 2, c=c), given)]


def ranked_by(oof: np.ndarray, given: np.ndarray, rank: str) -> list[int]:
    from cleanlab.filter import find_label_issues

    return [int(i) for i in find_label_issues(given, oof, filter_by="predicted_neq_given",
                                              return_indices_ranked_by=rank, n_jobs=1)]


def cross_fitted(settings, texts: list[str], given: np.ndarray, seed: int) -> np.ndarray:
    """Two-fold cross-fitted SetFit: a model fine-tuned on each half (stratified by the given label) scores
    the other half, so no sentence is scored by a body that saw its (possibly wrong) label."""
    from sklearn.model_selection import StratifiedKFold

    from core.setfit_adapter import SetFitClassifier

    oof = np.zeros((len(texts), 2))
    for train, held in StratifiedKFold(n_splits=2, shuffle=True, random_state=seed).split(texts, given):
        clf = SetFitClassifier.from_base(settings.base_model, ["negative", "positive"], settings.base_model_name)
        clf.fit([texts[i] for i in train], [int(given[i]) for i in train], [], [], TrainingHooks(), PRESETS["fast"])
        oof[held] = clf.predict_proba([texts[i] for i in held])
    return oof


def knn_oof(emb: np.ndarray, given: np.ndarray, k: int) -> np.ndarray:
    """Out-of-fold probabilities from the k nearest labelled neighbours (cosine), each sentence left out."""
    sims = emb @ emb.T
    np.fill_diagonal(sims, -np.inf)
    nearest = np.argsort(-sims, axis=1)[:, :k]
    share = given[nearest].mean(axis=1)
    p1 = (share * k + 0.5) / (k + 1.0)  # smoothed: never exactly 0 or 1
    return np.stack([1 - p1, p1], axis=1)


def figures(order: list[int], flipped: set[int]) -> tuple[float, float, int]:
    """Recall in the top 2 x flipped, precision in the top 20, and how many were flagged."""
    return (len(set(order[:2 * len(flipped)]) & flipped) / len(flipped), len(set(order[:20]) & flipped) / 20,
            len(order))


def _unit(emb: np.ndarray) -> np.ndarray:
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)  # as the embedding cache stores them


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/sst2")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--flip", type=float, default=0.10)
    parser.add_argument("--cross-fit", action="store_true", help="also train two SetFit models per seed, each "
                        "on half the labels, and rank the other half by its out-of-fold probabilities (slower)")
    parser.add_argument("--cache", default="", help="folder keeping each seed's embeddings, so that trying "
                        "another ranking does not train again (leave empty to train every time)")
    args = parser.parse_args()
    settings = Settings.from_env()
    from core.setfit_adapter import SetFitClassifier, set_threads

    set_threads(settings.torch_threads)
    rows = read_sst2(Path(args.data) / "train.txt")
    base_model = SetFitClassifier.from_base(settings.base_model, ["negative", "positive"], settings.base_model_name)
    app, old = "app: cleanlab, fine-tuned", "old rule, base (before)"
    methods: dict[str, Callable[[dict[str, np.ndarray], np.ndarray], list[int]]] = {
        app: lambda v, y: cleanlab_check(v["fine-tuned"], y),
        old: lambda v, y: old_rule(out_of_fold_probs(v["base"], y, 2), y),
    }
    for view in ("base", "fine-tuned", "concatenated"):
        for c in C_VALUES:
            methods[f"cleanlab, {view}, C={c:g}"] = lambda v, y, view=view, c=c: cleanlab_check(v[view], y, c)
    # Other rankings of the same out-of-fold heads, measured before choosing.
    methods["cleanlab, mean of base + fine-tuned heads"] = lambda v, y: [s.index for s in suspect_labels(
        (out_of_fold_probs(v["base"], y, 2) + out_of_fold_probs(v["fine-tuned"], y, 2)) / 2, y)]
    for rank in ("normalized_margin", "confidence_weighted_entropy"):
        methods[f"cleanlab, fine-tuned, by {rank}"] = lambda v, y, rank=rank: ranked_by(
            out_of_fold_probs(v["fine-tuned"], y, 2), y, rank)
    if args.cross_fit:
        methods["cleanlab, 2-fold cross-fitted SetFit"] = lambda v, y: [s.index for s in suspect_labels(v["cross-fit"], y)]
        methods["cleanlab, mean of cross-fitted + fine-tuned heads"] = lambda v, y: [s.index for s in suspect_labels(
            (v["cross-fit"] + out_of_fold_probs(v["fine-tuned"], y, 2)) / 2, y)]
    methods["cleanlab, fine-tuned, 10 folds"] = lambda v, y: [s.index for s in suspect_labels(
        out_of_fold_probs(v["fine-tuned"], y, 2, folds=10), y)]
    for k in (10, 25):
        methods[f"cleanlab, kNN k={k}, base"] = lambda v, y, k=k: [s.index for s in suspect_labels(knn_oof(v["base"], y, k), y)]
        methods[f"cleanlab, kNN k={k}, fine-tuned"] = lambda v, y, k=k: [
            s.index for s in suspect_labels(knn_oof(v["fine-tuned"], y, k), y)]
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in methods}
    ceiling: list[int] = []  # sentences a head fitted on the *true* labels still gets wrong (out-of-fold)
    n_flipped = int(200 * args.flip)
    for seed in range(args.seeds):
        data = sample(rows, {0: 100, 1: 100}, 1000 + seed)
        texts = [t for t, _ in data]
        truth = np.array([label for _, label in data])
        flipped = set(random.Random(seed).sample(range(len(data)), n_flipped))
        given = np.array([1 - label if i in flipped else label for i, label in enumerate(truth)])
        cached = Path(args.cache) / f"seed{seed}-flip{args.flip:g}.npz" if args.cache else None
        if cached is not None and cached.exists():
            views = dict(np.load(cached))
        else:
            clf = SetFitClassifier.from_base(settings.base_model, ["negative", "positive"], settings.base_model_name)
            clf.fit(texts, list(given), [], [], TrainingHooks(), PRESETS["fast"])
            views = {"base": _unit(base_model.embed(texts)), "fine-tuned": _unit(clf.embed(texts))}
        if args.cross_fit and "cross-fit" not in views:
            views["cross-fit"] = cross_fitted(settings, texts, given, seed)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cached, **views)
        views["concatenated"] = np.hstack([views["base"], views["fine-tuned"]])
        for name, method in methods.items():
            results[name].append(figures(method(views, given), flipped))
        ceiling.append(int(np.sum(out_of_fold_probs(views["fine-tuned"], truth, 2).argmax(axis=1) != truth)))
        for name in (app, old):
            recall, top, flagged = results[name][-1]
            print(f"seed {seed}  {name:<26} flagged {flagged:>3}  recall@{2 * n_flipped} {recall:.2f}  "
                  f"precision@20 {top:.2f}", flush=True)

    def summary(name: str) -> str:
        recall = [r[0] for r in results[name]]
        top = [r[1] for r in results[name]]
        sd = (lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0)
        return (f"recall@{2 * n_flipped} {statistics.mean(recall):.3f} ± {sd(recall):.3f}  "
                f"precision@20 {statistics.mean(top):.3f} ± {sd(top):.3f}  "
                f"flagged {statistics.mean(r[2] for r in results[name]):.0f}")

    print(f"\n{args.seeds} seeds, 200 labels, {n_flipped} flipped (mean ± sd over seeds):")
    for name in methods:
        print(f"  {name:<32} {summary(name)}")
    print(f"  {'random order':<32} recall@{2 * n_flipped} {2 * args.flip:.3f}  precision@20 {args.flip:.3f}")
    print(f"why precision@20 is hard here: a head fitted on the true labels (fine-tuned embeddings, out-of-fold) "
          f"gets {statistics.mean(ceiling):.1f} of 200 wrong, against {n_flipped} flipped")
    recall = statistics.mean(r[0] for r in results[app])
    top = statistics.mean(r[1] for r in results[app])
    old_recall = statistics.mean(r[0] for r in results[old])
    old_top = statistics.mean(r[1] for r in results[old])
    print(f"\ngoal: recall@{2 * n_flipped} >= {GOAL_RECALL}: {recall:.3f} ({'met' if recall >= GOAL_RECALL else 'NOT met'}; "
          f"old rule {old_recall:.3f})")
    print(f"goal: precision@20 >= {GOAL_TOP20}: {top:.3f} ({'met' if top >= GOAL_TOP20 else 'NOT met'}; "
          f"old rule {old_top:.3f})")
    met = recall >= GOAL_RECALL and top >= GOAL_TOP20
    print(f"verdict: {'met' if met else 'NOT met'} (recall {recall:.3f}, precision@20 {top:.3f} over {args.seeds} seeds)")


if __name__ == "__main__":
    main()
