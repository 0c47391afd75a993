"""Scoring speed: plain SetFitModel.predict_proba vs the ONNX fp32 and int8 backends, same texts, one command.

    python bench/bench_scoring.py --data ../shared/data/sst2                  # trains a fast-preset model
    python bench/bench_scoring.py --data ../shared/data/sst2 --model DIR      # a model the app saved
    python bench/bench_scoring.py --data ../shared/data/sst2 --score-100k     # and 100,000 sentences

Trains the app's fast preset on 78 SST-2 train sentences (48/30, like the seed card) unless --model is
given, exports it (core/onnx_scorer.py), lets `choose_backend` pick a backend on a stand-in for the
project's labelled sentences (SST-2 train sentences), then scores the SST-2 test and dev files (2,693
texts, never trained on) with each backend. The machine is shared, so the backends take turns for
--rounds rounds and each one's best round counts: ratios are measured against torch in the same command.
Agreement is the share of texts whose label equals torch's; accuracy is against SST-2's labels.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench._sst2 import prepare, read_sst2, sample  # noqa: E402

GOAL_SPEEDUP = 3.0
GOAL_AGREEMENT = 0.995
GOAL_ACCURACY_DELTA = 0.005


def train_model(settings, train_rows, seed: int, out: Path) -> Path:
    from core.classifier import TrainingHooks
    from core.params import PRESETS
    from core.setfit_adapter import SetFitClassifier

    train = sample(train_rows, {0: 48, 1: 30}, seed)
    started = time.perf_counter()
    clf = SetFitClassifier.from_base(settings.base_model, ["negative", "positive"], settings.base_model_name)
    clf.fit([t for t, _ in train], [l for _, l in train], [], [], TrainingHooks(), PRESETS["fast"])
    clf.save(out)
    print(f"trained the fast preset on {len(train)} sentences in {time.perf_counter() - started:.0f} s -> {out}")
    return out


def synthesize(rows: list[tuple[str, int]], n: int, seed: int) -> list[str]:
    """n distinct texts, each two SST-2 sentences joined (SST-2 alone has under 10,000)."""
    rng = random.Random(seed)
    texts = [t for t, _ in rows]
    made: dict[str, None] = {}
    while len(made) < n:
        made[f"{rng.choice(texts)} {rng.choice(texts)}"] = None
    return list(made)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/sst2")
    parser.add_argument("--model", help="a saved SetFit model folder (default: train one)")
    parser.add_argument("--workdir", help="where to save the trained model (default: a temporary folder)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calibration", type=int, default=500,
                        help="SST-2 train sentences standing in for the project's labelled sentences")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--score-100k", action="store_true", help="also score 100,000 sentences with the chosen backend")
    args = parser.parse_args()

    settings, train_rows, test = prepare(args.data)
    test = test + read_sst2(Path(args.data) / "dev.txt")
    texts, gold = [t for t, _ in test], np.array([l for _, l in test])
    threads = settings.torch_threads
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-scoring-"))

    from setfit import SetFitModel

    from core.onnx_scorer import Backend, OnnxScorer, choose_backend, export_onnx

    model_dir = Path(args.model) if args.model else train_model(settings, train_rows, args.seed, work / "model")
    started = time.perf_counter()
    exported = export_onnx(model_dir, threads=threads)
    print(f"export + int8 quantization: {time.perf_counter() - started:.1f} s (fused: {exported.fused}, "
          f"fp32 vs torch max |diff| {exported.max_abs_diff:.1e})")

    model = SetFitModel.from_pretrained(str(model_dir))
    model.predict_proba(texts[:64])  # first-call allocations

    project = [t for t, _ in random.Random(args.seed + 1).sample(train_rows, args.calibration)]
    started = time.perf_counter()
    project_probs = np.asarray(model.predict_proba(project, as_numpy=True))
    torch_seconds = time.perf_counter() - started
    choice = choose_backend(model_dir, project, project_probs, torch_seconds, threads=threads)
    print(f"\nchoose_backend on {len(project)} project sentences: {choice.summary()}")
    for m in choice.measurements:
        speed = f"{m.sentences_per_second:7.0f}/s" if m.sentences_per_second else "      -  "
        print(f"  {m.backend.value:<10} {speed}  agreement {m.agreement:.4f}  rechecked {m.rechecked:.3f}")
    print(f"  int8 recheck margin {choice.recheck_margin}")

    scorers = {
        "onnx": OnnxScorer.load(model_dir, Backend.ONNX, threads=threads),
        "onnx-int8": OnnxScorer.load(model_dir, Backend.ONNX_INT8, threads=threads),
        "int8, no recheck": OnnxScorer.load(model_dir, Backend.ONNX_INT8, threads=threads),
        "int8, intra-op": OnnxScorer.load(model_dir, Backend.ONNX_INT8, threads=threads, parallel_batches=False),
    }
    scorers["int8, no recheck"].recheck_margin = 0.0
    for scorer in scorers.values():
        scorer.predict_proba(texts[:64])

    runs = {"torch": lambda: np.asarray(model.predict_proba(texts, as_numpy=True))}
    for name, scorer in scorers.items():
        runs[name] = lambda scorer=scorer: scorer.predict_proba(texts)
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    probs: dict[str, np.ndarray] = {}
    rechecked = 0
    for _ in range(args.rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            probs[name] = run()
            seconds[name].append(time.perf_counter() - started)
            if name == "onnx-int8":
                rechecked = scorers[name].last_rechecked

    from core.onnx_scorer import _tokenizer

    tok = _tokenizer(exported.directory / "tokenizer.json", exported.max_seq_length)
    started = time.perf_counter()
    tok.encode_batch(texts)
    tokenize_seconds = time.perf_counter() - started

    reference = probs["torch"].argmax(axis=1)
    base = min(seconds["torch"])
    base_accuracy = float(np.mean(reference == gold))
    print(f"\n{len(texts)} SST-2 test+dev texts, {threads} threads, best of {args.rounds} interleaved rounds")
    # Two readings of the ratio: best round vs best round, and the median of each round's own ratio (the
    # backends of one round ran back to back, under about the same load from other processes).
    print(f"{'backend':<18} {'sent/s':>8} {'x torch':>8} {'x median':>9} {'agreement':>10} {'accuracy':>9}   rounds (s)")
    for name in runs:
        best = min(seconds[name])
        per_round = float(np.median([t / s for t, s in zip(seconds["torch"], seconds[name])]))
        labels = probs[name].argmax(axis=1)
        print(f"{name:<18} {len(texts) / best:8.0f} {base / best:8.2f} {per_round:9.2f} "
              f"{np.mean(labels == reference):10.4f} {np.mean(labels == gold):9.4f}   "
              f"{', '.join(f'{s:.2f}' for s in seconds[name])}")
    print(f"onnx-int8 re-embedded {rechecked} of {len(texts)} texts ({rechecked / len(texts):.1%}) in fp32; "
          f"tokenizing all texts took {tokenize_seconds:.2f} s "
          f"({tokenize_seconds / min(seconds['onnx-int8']):.0%} of an int8 pass)")
    print()
    for name in ("onnx", "onnx-int8"):
        speedup = min(base / min(seconds[name]),
                      float(np.median([t / s for t, s in zip(seconds["torch"], seconds[name])])))
        labels = probs[name].argmax(axis=1)
        agreement = float(np.mean(labels == reference))
        delta = float(np.mean(labels == gold)) - base_accuracy
        met = speedup >= GOAL_SPEEDUP and agreement >= GOAL_AGREEMENT and abs(delta) <= GOAL_ACCURACY_DELTA
        print(f"{name}: {speedup:.1f}x (the lower of the two readings), agreement {agreement:.1%}, accuracy {delta * 100:+.2f} points — "
              f"{'goal met' if met else 'goal not met'} (>= {GOAL_SPEEDUP:.0f}x, >= {GOAL_AGREEMENT:.1%}, "
              f"within {GOAL_ACCURACY_DELTA * 100:.1f} point)")
    print(f"chosen for this version: {choice.backend.value}")

    if args.score_100k:
        big = synthesize(train_rows, 100_000, args.seed)
        scorer = (OnnxScorer.load(model_dir, choice.backend, threads=threads)
                  if choice.backend != Backend.TORCH else None)
        started = time.perf_counter()
        done = 0
        for i in range(0, len(big), 10_000):  # chunks, as the worker scores with progress in between
            chunk = big[i:i + 10_000]
            if scorer is None:
                model.predict_proba(chunk)
            else:
                scorer.predict_proba(chunk)
            done += len(chunk)
        total = time.perf_counter() - started
        print(f"\n100,000 texts (two SST-2 sentences each, so about twice as long as the texts above) with "
              f"{choice.backend.value}: {total:.0f} s, {done / total:.0f} texts/s")


if __name__ == "__main__":
    main()
