"""The small interface the rest of the code talks to; SetFit is one implementation (core/setfit_adapter.py).

Nothing here imports torch, so the web process can use these types without loading a model.

The contract every classifier keeps: probabilities come back with one column per *project* label, in
label-value order (label values are 0..n-1, core/projects.py), whatever subset of labels the head was
trained on. A head fitted without examples of a label has no column for it; `align_proba` puts each
column it does have under its label and gives the missing ones probability 0.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from core.params import TrainingParams
from core.run_metrics import RunMetrics


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
    train_seconds: float
    n_eval_pairs: int = 0  # test pairs the validation loss was computed on (0: no test sentences)


def align_proba(probs: np.ndarray, classes: Sequence[int] | np.ndarray | None, n_labels: int) -> np.ndarray:
    """A head's probabilities as an (n, n_labels) array in label-value order.

    `classes` are the label values of the head's columns (sklearn's `classes_`), e.g. [0, 2] for a head
    that never saw label 1: column 0 goes under label 0, column 1 under label 2, label 1 gets 0. Without
    `classes` (a head that does not record them) the columns must already be the labels in order.
    """
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2:
        raise ValueError(f"probabilities must be a 2-d array, got shape {probs.shape}")
    if classes is None:
        classes = range(probs.shape[1])
    columns = [int(c) for c in classes]
    if len(columns) != probs.shape[1]:
        raise ValueError(f"{probs.shape[1]} probability columns but {len(columns)} classes")
    outside = [c for c in columns if not 0 <= c < n_labels]
    if outside:
        raise ValueError(f"the head knows label values {outside} that the project's {n_labels} labels do not have")
    aligned = np.zeros((probs.shape[0], n_labels))
    aligned[:, columns] = probs
    return aligned


def head_classes(head) -> list[int] | None:
    """The label values a fitted head's probability columns stand for, when it records them."""
    classes = getattr(head, "classes_", None)
    return None if classes is None else [int(c) for c in classes]


class Classifier(Protocol):
    """What the worker needs from a model: train, score (aligned to the project's labels), embed, save.

    `fit` does not measure the test split: the worker scores every sentence once after training and takes
    the test metrics from those scores, then hands them back with `write_card`."""

    @property
    def labels(self) -> list[str]: ...

    @property
    def known_labels(self) -> list[int]:
        """The label values the trained head has seen examples of."""
        ...

    def fit(
        self,
        train_texts: Sequence[str],
        train_labels: Sequence[int],
        test_texts: Sequence[str],
        test_labels: Sequence[int],
        hooks: TrainingHooks,
        params: TrainingParams,
    ) -> FitResult:
        """Train on the train split; the test texts serve only the validation loss (a bounded sample)."""
        ...

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), len(labels)) probabilities in label-value order."""
        ...

    def predict_proba_from_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """Like predict_proba, on embeddings this classifier's `embed` produced."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def save(self, directory: Path) -> None:
        """Write the model and its card into `directory`, a folder that does not exist yet."""
        ...

    def write_card(self, directory: Path, metrics: RunMetrics) -> None:
        """Record the run's test metrics in the card of the model saved in `directory`."""
        ...


class ClassifierFactory(Protocol):
    """How the worker gets classifiers: a fresh one over the base model, or a saved version."""

    device: str  # the torch device type its classifiers run on ("cpu", "cuda"), recorded on each run

    def new(self, label_names: list[str], params: TrainingParams) -> Classifier: ...

    def load(self, directory: Path) -> Classifier: ...
