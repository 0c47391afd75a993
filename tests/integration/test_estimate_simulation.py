"""The sampled estimate lands within its own 95% interval in at least 90 of 100 seeded draws, on a
constructed stream whose true labels are known: 2,000 sentences, 10% of them label 1, a fake version
that finds 80% of those and raises 5% false alarms on the rest (stored as prediction rows, as a run
leaves them). Each draw asks for an estimate through core, labels its batch with the true labels (direct
writes, as a person's labels land in the row) and reads the estimate back; then the labels are cleared
for the next draw."""
from __future__ import annotations

import numpy as np
from sqlalchemy import select, update

from core.estimate import estimate, request_estimate
from core.importing import ImportRow, ParsedFile, commit_import
from db.models import EstimateSample, Sentence
from tests.helpers import ADMIN, fake_succeeded_run

N = 2000
DRAWS = 100


def test_the_estimate_covers_the_true_prevalence_precision_and_recall(db, project):
    rng = np.random.default_rng(2024)
    truth = (rng.random(N) < 0.10).astype(int)
    found = rng.random(N)
    predicted = np.where(truth == 1, found < 0.80, found < 0.05).astype(int)
    rows = tuple(ImportRow(i + 1, f"Post {i} of the stream.", None, None, f"doc{i}", 0) for i in range(N))
    commit_import(db, ADMIN, project.id, ParsedFile("stream", rows, (), 0))
    index = {f"Post {i} of the stream.": i for i in range(N)}
    run_id = fake_succeeded_run(db, project.id, 1, lambda s: 0.9 if predicted[index[s.text]] else 0.1, activate=True)
    with db.read() as session:
        true_label = {sid: int(truth[index[text]]) for sid, text in
                      session.execute(select(Sentence.id, Sentence.text).where(Sentence.project_id == project.id))}
    # The truth of this stream, counted: what the estimate should cover.
    prevalence = truth.mean()
    precision = truth[predicted == 1].mean()
    recall = (truth & predicted).sum() / truth.sum()
    assert (truth.sum(), predicted.sum(), (truth & predicted).sum()) == (186, 250, 151)

    covered = {"prevalence": 0, "precision": 0, "recall": 0}
    for seed in range(DRAWS):
        asked = request_estimate(db, ADMIN, project.id, seed=seed)
        assert asked.strata == {0: (1750, 93), 1: (250, 93)} and asked.to_label == 186
        with db.write() as session:
            drawn = list(session.scalars(select(EstimateSample.sentence_id).where(EstimateSample.run_id == run_id)))
            session.execute(update(Sentence), [{"id": sid, "label": true_label[sid]} for sid in drawn])
        figures = estimate(db, project.id, seed=seed)
        assert figures.labelled == 186 and not figures.stale
        one = figures.per_label[1]
        covered["prevalence"] += one.prevalence_interval.contains(prevalence)
        covered["precision"] += one.precision_interval.contains(precision)
        covered["recall"] += one.recall_interval.contains(recall)
        with db.write() as session:
            session.execute(update(Sentence).where(Sentence.id.in_(drawn)).values(label=None))
    assert all(hits >= 90 for hits in covered.values()), covered
