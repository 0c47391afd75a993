"""The learning curve: test accuracy of models trained on growing shares of the labelled train split.

A run of kind `RunKind.learning_curve`; the worker (core/worker.py) executes it with `measure_learning_curve`
and keeps no model version. Its points are the run's metrics_json, {"points": [...]}, which the Train page
reads with `learning_curve_points`.
"""
from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from sqlalchemy import select

from core.classifier import Classifier, TrainingHooks
from core.errors import AppError
from core.runs import Example, Job, finishing_run
from db.engine import Database
from db.models import RunKind, RunStatus, TrainingRun, utcnow

LEARNING_CURVE_FRACTIONS = (0.25, 0.5, 0.75, 1.0)
NO_MODEL_NOTE = "learning curve (no model version is kept)"


@dataclass(frozen=True)
class CurvePoint:
    fraction: float
    n_labels: int
    accuracy: float


def curve_subsets(train: tuple[Example, ...], seed: int) -> list[tuple[float, list[Example]]]:
    """The growing training sets: shares of the train split shuffled by the run's seed, each including the
    one before; a share with fewer than two labels in it is skipped (nothing to contrast)."""
    shuffled = list(train)
    random.Random(seed).shuffle(shuffled)
    subsets = []
    for fraction in LEARNING_CURVE_FRACTIONS:
        subset = shuffled[: max(2, int(round(len(shuffled) * fraction)))]
        if len({example.label for example in subset}) >= 2:
            subsets.append((fraction, subset))
    return subsets


def measure_learning_curve(job: Job, new_classifier: Callable[[], Classifier], hooks: TrainingHooks,
                           on_point: Callable[[list[CurvePoint]], None]) -> list[CurvePoint]:
    """Train a fresh classifier per share and measure it on the test split; `on_point` gets the points so far
    after each one. Progress counts shares (hooks.on_progress), the phase names the share being trained."""
    if not job.test:
        raise AppError("A learning curve needs labelled test sentences to measure accuracy on.")
    test_texts = [example.text for example in job.test]
    subsets = curve_subsets(job.train, job.params.seed)
    points: list[CurvePoint] = []
    hooks.on_progress(0, len(subsets))
    for step, (fraction, subset) in enumerate(subsets, start=1):
        hooks.on_phase(f"training on {len(subset)} labels ({fraction:.0%})")
        classifier = new_classifier()
        # No test texts: a curve point needs only accuracy, not the card's validation loss.
        classifier.fit([e.text for e in subset], [e.label for e in subset], [], [],
                       TrainingHooks(should_cancel=hooks.should_cancel), job.params)
        probs = classifier.predict_proba(test_texts)  # one column per project label
        predicted = [job.label_values[int(i)] for i in probs.argmax(axis=1)]
        accuracy = float(np.mean([p == example.label for p, example in zip(predicted, job.test)]))
        points.append(CurvePoint(fraction, len(subset), accuracy))
        on_point(list(points))
        hooks.on_progress(step, len(subsets))
    return points


def points_json(points: list[CurvePoint]) -> str:
    return json.dumps({"points": [asdict(point) for point in points]})


def finish_learning_curve(db: Database, run_id: int, points: list[CurvePoint]) -> None:
    """The curve's last step: succeeded with its points, in one transaction; never a model version."""
    with db.write() as session:
        run = finishing_run(session, run_id)
        run.status, run.finished_at, run.phase = RunStatus.succeeded, utcnow(), ""
        run.metrics_json, run.activation_note = points_json(points), NO_MODEL_NOTE


def learning_curve_points(db: Database, project_id: int) -> list[dict]:
    """The newest learning-curve job's points: [{"fraction", "n_labels", "accuracy"}, ...]."""
    with db.read() as session:
        metrics = session.scalar(
            select(TrainingRun.metrics_json).where(TrainingRun.project_id == project_id,
                                                   TrainingRun.kind == RunKind.learning_curve,
                                                   TrainingRun.metrics_json.is_not(None))
            .order_by(TrainingRun.id.desc()).limit(1)
        )
    return json.loads(metrics).get("points", []) if metrics else []
