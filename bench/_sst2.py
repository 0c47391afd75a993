"""SST-2 helpers for benchmarks: read `<label> <text>` lines, sample N per class with a seed."""
from __future__ import annotations

import random
from pathlib import Path


def read_sst2(path: Path) -> list[tuple[str, int]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        label, _, text = line.partition(" ")
        if text.strip():
            rows.append((text.strip(), int(label)))
    return rows


def sample(rows: list[tuple[str, int]], per_class: dict[int, int], seed: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    picked = []
    for label, n in per_class.items():
        pool = [r for r in rows if r[1] == label]
        picked += rng.sample(pool, n)
    rng.shuffle(picked)
    return picked
