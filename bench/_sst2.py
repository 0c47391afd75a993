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


def prepare(data: str, test_limit: int = 0):
    """Settings, torch threads, and the SST-2 train rows and (optionally shortened) test rows."""
    from core.config import Settings
    from core.setfit_adapter import set_threads

    settings = Settings.from_env()
    set_threads(settings.torch_threads)
    folder = Path(data)
    train_rows, test = read_sst2(folder / "train.txt"), read_sst2(folder / "test.txt")
    return settings, train_rows, test[:test_limit] if test_limit else test
