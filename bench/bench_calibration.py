"""Does calibrating the head make the app's confidence mean what it says? Measured, not assumed.

    python bench/bench_calibration.py --data ../shared/data/sst2 --seeds 3

Per seed: 78 labelled SST-2 train sentences (48 negative / 30 positive, like the seed card), the app's
fast preset trains a model (SetFitClassifier, as the worker does), then its head and three calibrated
variants score two held-out sets the model never saw (SST-2 test and dev samples):

  as is        the head SetFit trained (LogisticRegression, C = 1), what the app ships
  cv-C         LogisticRegressionCV: C chosen by 5-fold log loss on the train embeddings
  temperature  the head's logits divided by one temperature fitted (log loss) on out-of-fold logits of
               the train embeddings (Guo et al. 2017, "On Calibration of Modern Neural Networks")
  platt        scikit-learn's CalibratedClassifierCV(method="sigmoid", cv=5) on the train embeddings
               (Platt 1999)

Prints, per variant, the mean over seeds of the expected calibration error (core.evaluation.reliability:
10 equal-width bins, the Evaluation page's figure), accuracy, log loss, and the mean confidence of right
and wrong predictions. A variant is worth keeping only if it lowers the error on both held-out sets at
equal accuracy. Times nothing.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench._sst2 import prepare, sample  # noqa: E402
from core.classifier import TrainingHooks  # noqa: E402
from core.evaluation import reliability  # noqa: E402
from core.params import PRESETS  # noqa: E402

NAMES = ["negative", "positive"]
VARIANTS = ("as is", "cv-C", "temperature", "platt")


def _temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 that minimises the log loss of sigmoid(logit / T) (binary) on these out-of-fold logits."""
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        return float(np.mean(np.logaddexp(0.0, z) - labels * z))

    return float(np.exp(minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded").x))


def variants(head, train_emb: np.ndarray, train_y: np.ndarray, seed: int):
    """Each variant as a function from embeddings to probabilities (n, 2)."""
    from sklearn.base import clone
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    cv_c = LogisticRegressionCV(Cs=10, cv=cv, scoring="neg_log_loss", max_iter=1000).fit(train_emb, train_y)
    oof_logits = cross_val_predict(clone(head), train_emb, train_y, cv=cv, method="decision_function")
    t = _temperature(oof_logits, train_y)
    platt = CalibratedClassifierCV(clone(head), method="sigmoid", cv=cv).fit(train_emb, train_y)

    def scaled(emb: np.ndarray) -> np.ndarray:
        p1 = 1.0 / (1.0 + np.exp(-head.decision_function(emb) / t))
        return np.stack([1 - p1, p1], axis=1)

    return {"as is": head.predict_proba, "cv-C": cv_c.predict_proba, "temperature": scaled,
            "platt": platt.predict_proba}, {"C": float(cv_c.C_[0]), "T": t}


def scores(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    conf = probs.max(axis=1)
    right = probs.argmax(axis=1) == y
    rel = reliability(conf.tolist(), right.tolist())
    p_true = np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0)
    return {"ece": rel.ece, "accuracy": float(right.mean()), "log loss": float(-np.mean(np.log(p_true))),
            "conf right": rel.mean_confidence_right or float("nan"),
            "conf wrong": rel.mean_confidence_wrong or float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/sst2")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--held-out", type=int, default=800, help="sentences per held-out set")
    args = parser.parse_args()
    from core.setfit_adapter import SetFitClassifier
    from bench._sst2 import read_sst2

    settings, train_rows, test_rows = prepare(args.data)
    dev_rows = read_sst2(Path(args.data) / "dev.txt")
    held = {"SST-2 test": random.Random(1).sample(test_rows, min(args.held_out, len(test_rows))),
            "SST-2 dev": random.Random(2).sample(dev_rows, min(args.held_out, len(dev_rows)))}
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for seed in range(args.seeds):
        train = sample(train_rows, {0: 48, 1: 30}, seed)
        params = PRESETS["fast"].with_overrides({"seed": str(seed)})
        clf = SetFitClassifier.from_base(settings.base_model, NAMES, settings.base_model_name)
        clf.fit([t for t, _ in train], [y for _, y in train], [], [], TrainingHooks(), params)
        train_emb = clf.embed([t for t, _ in train], batch_size=128)
        train_y = np.array([y for _, y in train])
        funcs, fitted = variants(clf.model.model_head, train_emb, train_y, seed)
        print(f"seed {seed}: cv-C chose C = {fitted['C']:.3g}; temperature T = {fitted['T']:.3f}", flush=True)
        for name, rows in held.items():
            emb = clf.embed([t for t, _ in rows], batch_size=128)
            y = np.array([l for _, l in rows])
            for variant, predict in funcs.items():
                results.setdefault((name, variant), []).append(scores(predict(emb), y))
    columns = ["ece", "accuracy", "log loss", "conf right", "conf wrong"]
    for name in held:
        print(f"\n{name} ({len(held[name])} sentences), mean over {args.seeds} seeds")
        print(f"{'variant':<12}" + "".join(f"{c:>12}" for c in columns))
        for variant in VARIANTS:
            rows = results[(name, variant)]
            print(f"{variant:<12}" + "".join(f"{statistics.mean(r[c] for r in rows):>12.4f}" for c in columns))
    base = {name: statistics.mean(r["ece"] for r in results[(name, "as is")]) for name in held}
    for variant in VARIANTS[1:]:
        lower = all(statistics.mean(r["ece"] for r in results[(name, variant)]) < base[name] for name in held)
        same_acc = all(statistics.mean(r["accuracy"] for r in results[(name, variant)])
                       >= statistics.mean(r["accuracy"] for r in results[(name, "as is")]) - 0.005 for name in held)
        print(f"{variant}: lower error on both held-out sets: {'yes' if lower else 'no'}; "
              f"accuracy within 0.5 point or better: {'yes' if same_acc else 'no'}")


if __name__ == "__main__":
    main()
