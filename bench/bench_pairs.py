"""Which cosine makes two labelled sentences "near-duplicates" for contradicting pairs (core/suggestions.py).

    python bench/bench_pairs.py --data ../shared/data/sst2          # about a minute here

With the base body (the one pairs use), on SST-2 train sentences:
- edited copies: each of 500 sentences with one word replaced (by a word from another sentence), one word
  dropped, one word added, or its punctuation and case changed; the share whose cosine with the original
  reaches each threshold (what a pair list should catch);
- distinct sentences: every pair among the first 3,000 different sentences; how many reach each threshold
  per 1,000 labelled sentences (what it should not list).
"""
from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench._sst2 import read_sst2  # noqa: E402
from core.config import Settings  # noqa: E402

THRESHOLDS = (0.8, 0.85, 0.9, 0.95)


def edits(text: str, vocabulary: list[str], rng: random.Random) -> dict[str, str]:
    words = text.split()
    i = rng.randrange(len(words))
    return {
        "one word replaced": " ".join(words[:i] + [rng.choice(vocabulary)] + words[i + 1:]),
        "one word dropped": " ".join(words[:i] + words[i + 1:]),
        "one word added": " ".join(words[:i] + [rng.choice(vocabulary)] + words[i:]),
        "punctuation and case": re.sub(r"\s*[.,!?;:]\s*", " ", text).strip().upper(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/sst2")
    parser.add_argument("--distinct", type=int, default=3000)
    parser.add_argument("--edited", type=int, default=500)
    args = parser.parse_args()
    settings = Settings.from_env()
    from core.setfit_adapter import SetFitClassifier, set_threads

    set_threads(settings.torch_threads)
    body = SetFitClassifier.from_base(settings.base_model, ["a", "b"], settings.base_model_name)

    def embed(texts: list[str]) -> np.ndarray:
        emb = body.embed(texts)
        return emb / np.linalg.norm(emb, axis=1, keepdims=True)  # as the embedding cache stores them

    texts = list(dict.fromkeys(t for t, _ in read_sst2(Path(args.data) / "train.txt")))[:args.distinct]
    rng = random.Random(0)
    vocabulary = sorted({w for t in texts for w in t.split() if w.isalpha() and len(w) > 3})
    originals = [t for t in rng.sample(texts, args.edited) if len(t.split()) >= 4]
    kinds: dict[str, list[str]] = {}
    for text in originals:
        for kind, edited in edits(text, vocabulary, rng).items():
            kinds.setdefault(kind, []).append(edited)
    base = embed(originals)
    print(f"edited copies of {len(originals)} sentences: share with cosine >= threshold")
    print(f"  {'edit':<22}" + "".join(f"{t:>8}" for t in THRESHOLDS) + "  median")
    for kind, edited in kinds.items():
        cos = np.sum(base * embed(edited), axis=1)
        print(f"  {kind:<22}" + "".join(f"{np.mean(cos >= t):>8.2f}" for t in THRESHOLDS) + f"  {np.median(cos):.3f}")
    emb = embed(texts)
    sims = emb @ emb.T
    upper = sims[np.triu_indices(len(texts), k=1)]
    print(f"\ndistinct sentences ({len(texts)}, {upper.size:,} pairs): pairs at or above the threshold")
    print(f"  {'':<22}" + "".join(f"{t:>8}" for t in THRESHOLDS))
    print(f"  {'pairs':<22}" + "".join(f"{int(np.sum(upper >= t)):>8}" for t in THRESHOLDS))
    per_thousand = [np.sum(upper >= t) / (len(texts) / 1000) ** 2 for t in THRESHOLDS]
    print(f"  {'per 1,000 sentences':<22}" + "".join(f"{x:>8.2f}" for x in per_thousand))
    i, j = np.unravel_index(np.argmax(np.triu(sims, k=1)), sims.shape)
    print(f"\nmost similar distinct pair ({sims[i, j]:.3f}):\n  {texts[i]}\n  {texts[j]}")


if __name__ == "__main__":
    main()
