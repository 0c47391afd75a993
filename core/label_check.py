"""The cross-fitted label check: suspected label errors judged by models that never saw the label.

A run of kind `RunKind.label_check`, asked for on the Check page (or `python -m core train --kind label-check`); the
worker (core/worker.py) executes it with `cross_fitted_probs` and keeps no model version. Its suspects
replace the project's, like those the worker finds after every training run, until the next run of
either kind.

Why a second check: after each training run the suspects come from logistic heads fitted out-of-fold on
the new version's embeddings (core/suggestions.find_suspects), but that body was fine-tuned on every
label, the wrong ones included, and fine-tuning pulls a mislabelled sentence towards its wrong label's
cluster, which hides it. Here the labels are split into stratified folds and each fold is scored by a
SetFit model trained (fine-tuned body and head) on the other folds only: out-of-fold probabilities as
confident learning asks for (Northcutt, Jiang & Chuang, "Confident Learning", JAIR 2021), ranked by
cleanlab (core.active.suspect_labels). It costs one training per fold; on bench/bench_suspects.py (SST-2,
200 labels, 20 flipped, 5 seeds x 3 fold splits) it finds 0.68 of the flipped labels in its top 40
against 0.54 for the check after training, and 0.48 of its top 20 are flipped against 0.40 (README,
Benchmarks).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from core.classifier import Classifier, TrainingHooks
from core.errors import AppError
from core.runs import Example, Job, finishing_run
from core.suggestions import suspect_rows, write_suspects
from db.engine import Database
from db.models import RunKind, RunStatus, TrainingRun, utcnow

CHECK_FOLDS = 5
NO_MODEL_NOTE = "label check (no model version is kept)"


def fold_count(labels: Sequence[int], folds: int = CHECK_FOLDS) -> int:
    """How many folds the labels allow: `folds`, or fewer when a label has fewer examples than that (each
    fold holds at least one of every label). Raises AppError below two examples of two labels."""
    counts = np.bincount(np.asarray(labels, dtype=int)) if len(labels) else np.zeros(0, dtype=int)
    present = counts[counts > 0]
    k = int(min(folds, present.min())) if len(present) >= 2 else 0
    if k < 2:
        raise AppError("The label check needs at least two labelled sentences of at least two labels.")
    return k


def cross_fitted_probs(examples: Sequence[Example], n_classes: int, new_classifier: Callable[[], Classifier],
                       params, hooks: TrainingHooks, folds: int = CHECK_FOLDS, seed: int = 0) -> np.ndarray:
    """Out-of-fold probabilities, shape (len(examples), n_classes): the examples are split into stratified
    folds (scikit-learn's StratifiedKFold, shuffled with `seed`), and a fresh classifier trained on the
    other folds with `params` scores each one. `hooks` gets the folds as progress and a phase per fold;
    a cancel stops it between and during trainings (RunCancelled). Raises AppError when the labels allow
    fewer than two folds."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.array([example.label for example in examples], dtype=int)
    k = fold_count(labels, folds)
    probs = np.zeros((len(examples), n_classes))
    hooks.on_progress(0, k)
    splits = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels)
    for step, (train, held) in enumerate(splits, start=1):
        hooks.on_phase(f"fold {step} of {k}: training on {len(train)}")  # the phase column holds 40 characters
        classifier = new_classifier()
        # No test texts: scoring the held-out fold needs no validation loss.
        classifier.fit([examples[i].text for i in train], [int(labels[i]) for i in train], [], [],
                       TrainingHooks(should_cancel=hooks.should_cancel), params)
        probs[held] = classifier.predict_proba([examples[i].text for i in held])  # one column per label
        hooks.on_progress(step, k)
    return probs


@dataclass(frozen=True)
class CheckResult:
    folds: int
    labels: int
    suspects: int


def run_label_check(db: Database, run_id: int, job: Job, new_classifier: Callable[[], Classifier],
                    hooks: TrainingHooks) -> CheckResult:
    """Check every label of the run's snapshot (both splits) and, in one transaction, replace the
    project's suspects and end the run succeeded. Raises AppError when there are too few labels."""
    examples = [*job.train, *job.test]
    labels = [example.label for example in examples]
    folds = fold_count(labels)
    probs = cross_fitted_probs(examples, len(job.label_values), new_classifier, job.params, hooks, folds,
                               seed=job.params.seed)
    rows = suspect_rows(job.project_id, run_id, [example.sentence_id for example in examples], probs, labels)
    result = CheckResult(folds, len(examples), len(rows))
    with db.write() as session:
        run = finishing_run(session, run_id)
        write_suspects(session, job.project_id, rows)
        run.status, run.finished_at, run.phase = RunStatus.succeeded, utcnow(), ""
        run.metrics_json, run.activation_note = json.dumps(result.__dict__), NO_MODEL_NOTE
    return result


@dataclass(frozen=True)
class SuspectSource:
    """Which run found the project's current suspects."""

    run_id: int
    version: int
    kind: RunKind
    finished_at: object  # datetime (UTC) or None


def suspect_source(db: Database, project_id: int) -> SuspectSource | None:
    """The run whose suspects the Check page shows, or None when there are none."""
    from db.models import Suspect

    with db.read() as session:
        run_id = session.scalar(select(Suspect.run_id).where(Suspect.project_id == project_id).limit(1))
        if run_id is None:
            return None
        run = session.get(TrainingRun, run_id)
        if run is None:
            return None
        return SuspectSource(run.id, run.version, run.kind, run.finished_at)


@dataclass(frozen=True)
class LastCheck:
    """A cross-fitted check as the Check page reports it; `folds`, `labels`, `suspects` only once it
    succeeded (its suspects may since have been replaced)."""

    run_id: int
    version: int
    status: RunStatus
    error: str | None
    finished_at: object  # datetime (UTC) or None
    folds: int = 0
    labels: int = 0
    suspects: int = 0


def label_check_history(db: Database, project_id: int) -> tuple[LastCheck | None, LastCheck | None]:
    """(the project's newest cross-fitted check whatever its status, its newest succeeded one). A few
    columns only, never the runs' label snapshots: the Check page asks on every rerun."""
    with db.read() as session:
        rows = session.execute(
            select(TrainingRun.id, TrainingRun.version, TrainingRun.status, TrainingRun.error,
                   TrainingRun.finished_at, TrainingRun.metrics_json)
            .where(TrainingRun.project_id == project_id, TrainingRun.kind == RunKind.label_check)
            .order_by(TrainingRun.id.desc())).all()
    checks = [LastCheck(run_id, version, status, error, finished_at,
                        **(json.loads(metrics) if status == RunStatus.succeeded and metrics else {}))
              for run_id, version, status, error, finished_at, metrics in rows]
    newest = checks[0] if checks else None
    return newest, next((c for c in checks if c.status == RunStatus.succeeded), None)
