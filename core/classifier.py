"""The small interface the rest of the code talks to; SetFit is one implementation (core/setfit_adapter.py).

Nothing here imports torch, so the web process can use these types without loading a model.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np


class RunCancelled(Exception):
    """Raised from inside training when a moderator pressed Cancel."""


@dataclass(frozen=True)
class LoggedLoss:
    epoch: float
    step: int
    training_loss: float | None = None
    validation_loss: float | None = None


@dataclass
class TrainingHooks:
    """Callbacks a trainer calls; the worker wires them to the database."""

    on_phase: Callable[[str], None] = lambda phase: None
    on_progress: Callable[[int, int], None] = lambda step, total: None
    on_loss: Callable[[LoggedLoss], None] = lambda loss: None
    should_cancel: Callable[[], bool] = lambda: False


@dataclass(frozen=True)
class FitResult:
    eval_accuracy: float | None
    train_seconds: float
    total_steps: int
    extra: dict = field(default_factory=dict)


class Classifier(Protocol):
    labels: list[str]

    def fit(
        self,
        train_texts: Sequence[str],
        train_labels: Sequence[int],
        test_texts: Sequence[str],
        test_labels: Sequence[int],
        hooks: TrainingHooks,
    ) -> FitResult: ...

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...

    def save(self, directory: Path) -> None: ...
