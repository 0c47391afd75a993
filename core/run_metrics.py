"""What a training run measured, as one frozen value: the worker builds it, `finish_run` stores it.

Stored as the run's metrics_json in the shape the pages and the CLI have always read:
{"train_seconds", "accuracy", "n_test", "labels", "per_label": {"<value>": {precision, recall, f1, support}},
"confusion"}, the test keys only when the run had labelled test sentences. Fields added later are optional
and left out of the JSON while unset, so older rows read as newer ones and the other way round.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.evaluation import compute_metrics


@dataclass(frozen=True)
class LabelMetrics:
    label: int
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class RunMetrics:
    train_seconds: float
    accuracy: float | None = None  # None: no labelled test sentences to measure on
    n_test: int = 0
    labels: tuple[int, ...] = ()
    per_label: tuple[LabelMetrics, ...] = ()
    confusion: tuple[tuple[int, ...], ...] = ()  # rows true labels, columns predicted, in `labels` order
    n_eval_pairs: int | None = None  # how many test pairs the card's Validation Loss was computed on
    # The run's profile: seconds per worker phase, in order (loading, fine-tuning, exporting, scoring...).
    phase_seconds: tuple[tuple[str, float], ...] = ()

    @classmethod
    def measured(cls, y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[int], *,
                 train_seconds: float, n_eval_pairs: int | None = None) -> "RunMetrics":
        """Test metrics from the given labels and predictions (core.evaluation.compute_metrics)."""
        return cls.from_dict({**compute_metrics(y_true, y_pred, labels), "train_seconds": train_seconds,
                              "n_eval_pairs": n_eval_pairs})

    def for_label(self, value: int) -> LabelMetrics:
        return next(m for m in self.per_label if m.label == value)

    def to_dict(self) -> dict:
        data: dict = {"train_seconds": round(self.train_seconds, 2)}
        if self.accuracy is not None:
            data.update({
                "accuracy": self.accuracy,
                "n_test": self.n_test,
                "labels": list(self.labels),
                "per_label": {str(m.label): {"precision": m.precision, "recall": m.recall, "f1": m.f1,
                                             "support": m.support} for m in self.per_label},
                "confusion": [list(row) for row in self.confusion],
            })
        if self.n_eval_pairs is not None:
            data["n_eval_pairs"] = self.n_eval_pairs
        if self.phase_seconds:
            data["phase_seconds"] = dict(self.phase_seconds)
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> "RunMetrics":
        per_label = tuple(
            LabelMetrics(int(label), float(m["precision"]), float(m["recall"]), float(m["f1"]), int(m["support"]))
            for label, m in (data.get("per_label") or {}).items()
        )
        accuracy = data.get("accuracy")
        return cls(
            train_seconds=float(data.get("train_seconds", 0.0)),
            accuracy=None if accuracy is None else float(accuracy),
            n_test=int(data.get("n_test", 0)),
            labels=tuple(int(v) for v in data.get("labels", ())),
            per_label=per_label,
            confusion=tuple(tuple(int(n) for n in row) for row in data.get("confusion", ())),
            n_eval_pairs=data.get("n_eval_pairs"),
            phase_seconds=tuple((str(k), float(v)) for k, v in (data.get("phase_seconds") or {}).items()),
        )
