"""A small classifier implementing core.classifier.Classifier for fast worker tests: a logistic head on
the bag-of-words CountingEncoder (tests/helpers.py). Real SetFit training is exercised in tests/slow."""
from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from core.classifier import FitResult, RunCancelled, TrainingHooks, align_proba, head_classes
from core.model_store import HEAD_FILE
from core.params import TrainingParams
from core.run_metrics import RunMetrics
from tests.helpers import CountingEncoder

VIOLENT_STEMS = ("punch", "stab", "kick", "hit", "beat", "slam", "smash", "attack", "shove", "shov", "push",
                 "slap", "grab", "pin", "pull", "scratch", "chok", "threw")


def encode(texts: Sequence[str]) -> np.ndarray:
    """A violence-word dimension (by stem, so the three-label sentences count) plus hashed words,
    L2-normalized like all-MiniLM-L6-v2's output (the embedding cache normalizes what it stores)."""
    base = CountingEncoder()(list(texts))
    for row, text in zip(base, texts):
        row[0] = 3.0 * sum(any(w.startswith(s) for s in VIOLENT_STEMS) for w in text.lower().split())
    return base / np.linalg.norm(base, axis=1, keepdims=True)


class FakeClassifier:
    def __init__(self, labels: list[str], head=None, aligned: bool = True) -> None:
        self._labels = list(labels)
        self.head = head
        self.aligned = aligned  # False: breaks the contract, returning the head's raw columns
        self.scored: list[str] = []  # every text this classifier embedded or scored, in order, repeats kept
        self.cards: list[RunMetrics] = []  # the metrics each write_card call recorded

    @property
    def labels(self) -> list[str]:
        return list(self._labels)

    @property
    def known_labels(self) -> list[int]:
        return head_classes(self.head) or []

    def fit(self, train_texts, train_labels, test_texts, test_labels, hooks: TrainingHooks,
            params: TrainingParams) -> FitResult:
        from sklearn.linear_model import LogisticRegression

        hooks.on_phase("fitting a fake head")
        if hooks.should_cancel():  # as SetFit's callback asks during training
            raise RunCancelled()
        hooks.on_progress(1, 1)
        self.head = LogisticRegression(max_iter=1000).fit(encode(train_texts), list(train_labels))
        return FitResult(train_seconds=0.01, n_eval_pairs=min(params.eval_max_pairs, len(test_texts)))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.predict_proba_from_embeddings(self.embed(texts))

    def predict_proba_from_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        probs = self.head.predict_proba(embeddings)
        return align_proba(probs, head_classes(self.head), len(self._labels)) if self.aligned else probs

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.scored.extend(texts)
        return encode(texts)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True)
        (directory / HEAD_FILE).write_bytes(pickle.dumps((self._labels, self.head)))

    def write_card(self, directory: Path, metrics: RunMetrics) -> None:
        self.cards.append(metrics)


class FakeFactory:
    """core.classifier.ClassifierFactory for FakeClassifier; `made` keeps every classifier it handed out."""

    device = "cpu"

    def __init__(self, aligned: bool = True, before_new: Callable[[int], object] | None = None) -> None:
        self.aligned = aligned
        self.made: list[FakeClassifier] = []
        self.before_new = before_new  # called with how many were made so far, e.g. to cancel after two

    def new(self, label_names: list[str], params: TrainingParams) -> FakeClassifier:
        if self.before_new is not None:
            self.before_new(len(self.made))
        classifier = FakeClassifier(label_names, aligned=self.aligned)
        self.made.append(classifier)
        return classifier

    def load(self, directory: Path) -> FakeClassifier:
        labels, head = pickle.loads((directory / HEAD_FILE).read_bytes())
        classifier = FakeClassifier(labels, head, self.aligned)
        self.made.append(classifier)
        return classifier
