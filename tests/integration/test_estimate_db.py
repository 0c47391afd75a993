"""Estimate on the stream, on a real database: the stratified sample of the active version, its batch in
the Label queue, labels going to the test split, the figures, staleness and reuse by the next version."""
from __future__ import annotations

import pytest
from sqlalchemy import select, update

from core.errors import EvaluationUnavailable, PermissionDenied
from core.estimate import batch_progress, estimate, request_estimate
from core.importing import ImportRow, ParsedFile, commit_import
from core.labeling import QueueFilter, count_queue, next_sentence, save_label
from core.review import PredictionFilter, bulk_accept, set_threshold
from db.models import AuditAction, AuditEntry, EstimateSample, Sentence, Split, TrainingRun
from tests.helpers import ADMIN, fake_succeeded_run, moderator

SAM = moderator("sam")
BATCH = QueueFilter(unlabelled_only=False, evaluation_batch=True)


def _stream(db, project, n: int = 300) -> None:
    """n unlabelled sentences, ten per document: sentence i is document i // 10, position i % 10."""
    rows = tuple(ImportRow(i + 1, f"Stream post {i} says something.", None, "train", f"d{i // 10:03d}", i % 10)
                 for i in range(n))
    commit_import(db, ADMIN, project.id, ParsedFile("stream", rows, (), 0))


def _predicts_one(s) -> float:
    """The fake version's P(label 1): it calls every document's first sentence 1 (30 of 300)."""
    return 0.9 if s.position == 0 else 0.2


def _truth(s) -> int:
    """What a person says: the first sentences of documents 0-19 are 1, every other sentence 0."""
    return int(s.position == 0 and int(s.doc_id[1:]) < 20)


def _sample(db, run_id: int) -> dict[int, int]:
    with db.read() as session:
        return dict(session.execute(select(EstimateSample.sentence_id, EstimateSample.stratum)
                                    .where(EstimateSample.run_id == run_id)).all())


def _label_the_batch(db, project_id: int, limit: int | None = None) -> list[int]:
    """Label the batch as the Label page serves it, each with its true label; returns the ids in order."""
    served = []
    while limit is None or len(served) < limit:
        view = next_sentence(db, project_id, queue_filter=BATCH, annotator=SAM.name)
        if view is None:
            break
        with db.read() as session:
            sentence = session.get(Sentence, view.id)
        save_label(db, SAM, view.id, _truth(sentence))
        served.append(view.id)
    return served


@pytest.fixture
def stream(db, project):
    _stream(db, project)
    run_id = fake_succeeded_run(db, project.id, 1, _predicts_one, activate=True)
    return project, run_id


def test_the_sample_is_stratified_by_the_predicted_label_and_seeded(db, stream):
    project, run_id = stream
    assert estimate(db, project.id) is None and batch_progress(db, project.id) is None
    asked = request_estimate(db, ADMIN, project.id, target_half_width=0.2)
    assert (asked.version, asked.per_stratum, asked.sampled, asked.reused, asked.to_label) == (1, 21, 42, 0, 42)
    assert asked.strata == {0: (270, 21), 1: (30, 21)}
    first = _sample(db, run_id)
    with db.read() as session:
        positions = {s.id: s.position for s in session.scalars(select(Sentence).where(Sentence.id.in_(first)))}
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.estimate_requested))
    assert all((positions[i] == 0) == (stratum == 1) for i, stratum in first.items())
    assert entry.details == "version 1: 42 sentences in 2 strata, 0 already labelled, target ±0.20, seed 0"
    # Asking again with the same seed draws the same sentences (replacing the sample); another seed others.
    request_estimate(db, ADMIN, project.id, target_half_width=0.2)
    assert _sample(db, run_id) == first
    request_estimate(db, ADMIN, project.id, target_half_width=0.2, seed=1)
    assert len(_sample(db, run_id)) == 42 and set(_sample(db, run_id)) != set(first)


def test_only_an_admin_asks_and_only_for_a_finished_active_version(db, project):
    _stream(db, project, 20)
    with pytest.raises(PermissionDenied, match="Only an admin can ask for an estimate on the stream"):
        request_estimate(db, SAM, project.id)
    with pytest.raises(EvaluationUnavailable, match="No model version is active yet"):
        request_estimate(db, ADMIN, project.id)
    run_id = fake_succeeded_run(db, project.id, 1, _predicts_one, activate=True)
    with db.write() as session:
        session.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(scored=5, score_total=20))
    with pytest.raises(EvaluationUnavailable, match=r"Version 1 is still scoring sentences \(5 of 20\)"):
        request_estimate(db, ADMIN, project.id)
    with db.write() as session:
        session.execute(update(TrainingRun).where(TrainingRun.id == run_id).values(scored=20))
        session.execute(update(Sentence).where(Sentence.project_id == project.id).values(label=0))
    with pytest.raises(EvaluationUnavailable, match="Every sentence version 1 scored has a label already"):
        request_estimate(db, ADMIN, project.id)


def test_the_batch_is_served_in_its_order_goes_to_the_test_split_and_gives_the_figures(db, stream):
    project, run_id = stream
    # Target ±0.05 asks 100 per stratum: the 30 predicted 1 are all drawn, 100 of the 270 predicted 0.
    asked = request_estimate(db, ADMIN, project.id, target_half_width=0.05)
    assert asked.strata == {0: (270, 100), 1: (30, 30)}
    assert count_queue(db, project.id, BATCH, annotator=SAM.name) == 130
    served = _label_the_batch(db, project.id, limit=10)
    with db.read() as session:
        order = list(session.scalars(select(EstimateSample.sentence_id).where(EstimateSample.run_id == run_id)
                                     .order_by(EstimateSample.position)))
        labelled = session.scalars(select(Sentence).where(Sentence.id.in_(served))).all()
    assert served == order[:10]
    assert {(s.split, s.split_explicit, s.labelled_by) for s in labelled} == {(Split.test, True, "sam")}
    partial = estimate(db, project.id)
    assert (partial.requested, partial.labelled, partial.to_go) == (130, 10, 120)
    assert batch_progress(db, project.id).to_go == 120 == count_queue(db, project.id, BATCH)

    _label_the_batch(db, project.id)
    assert next_sentence(db, project.id, queue_filter=BATCH) is None
    done = estimate(db, project.id)
    assert (done.version, done.labelled, done.to_go, done.stale, done.stale_reason) == (1, 130, 0, False, "")
    assert (done.stream_size, done.project_size) == (300, 300)
    zero, one = done.per_label
    # By hand: stratum 1 (30, all drawn) holds 20 true 1s; stratum 0 (270) holds none.
    assert one.precision == pytest.approx(20 / 30) and one.recall == pytest.approx(1.0)
    assert one.prevalence == pytest.approx(20 / 300)
    assert zero.precision == pytest.approx(1.0) and zero.recall == pytest.approx(270 / 280)
    assert zero.prevalence == pytest.approx(280 / 300)
    assert one.prevalence_interval.contains(20 / 300) and one.precision_interval.contains(20 / 30)
    assert (one.predicted, one.sampled, one.labelled, zero.predicted, zero.sampled, zero.labelled) == (
        30, 30, 30, 270, 100, 100)


def test_a_new_version_makes_the_estimate_stale_and_reuses_its_labels(db, stream):
    project, run_id = stream
    request_estimate(db, ADMIN, project.id, target_half_width=0.2)
    _label_the_batch(db, project.id)
    first = set(_sample(db, run_id))
    fake_succeeded_run(db, project.id, 2, _predicts_one, activate=True)
    stale = estimate(db, project.id)
    assert (stale.version, stale.stale) == (1, True)
    assert stale.stale_reason == ("Version 2 is active now; this estimate is of version 1. Ask for a new estimate: "
                                  "labels given so far are reused where they still fit.")
    # The same predictions: the same sample, every label reused, nothing to ask.
    again = request_estimate(db, ADMIN, project.id, target_half_width=0.2)
    assert (again.version, again.sampled, again.reused, again.to_label) == (2, 42, 42, 0)
    assert batch_progress(db, project.id).to_go == 0 and not estimate(db, project.id).stale
    # Version 3 also calls the second sentence of documents 0-9 "1": its strata move, most labels still fit.
    v3 = fake_succeeded_run(db, project.id, 3, lambda s: 0.9 if s.position == 0 or (
        s.position == 1 and int(s.doc_id[1:]) < 10) else 0.2, activate=True)
    moved = request_estimate(db, ADMIN, project.id, target_half_width=0.2)
    assert moved.strata == {0: (260, 21), 1: (40, 21)}
    now = set(_sample(db, v3))
    assert moved.reused == len(now & first) == 35 and moved.to_label == 7
    assert count_queue(db, project.id, BATCH) == 7
    assert next_sentence(db, project.id, queue_filter=BATCH).id not in first


def test_a_moved_threshold_makes_the_estimate_stale(db, stream):
    project, run_id = stream
    request_estimate(db, ADMIN, project.id, target_half_width=0.2)
    set_threshold(db, ADMIN, run_id, 0.95)
    assert estimate(db, project.id).stale_reason == (
        "Version 1's threshold changed since this sample was drawn; ask for a new estimate to measure it at "
        "the new threshold.")


def test_labels_accepted_in_bulk_do_not_count_and_chosen_labels_leave_the_stream(db, stream):
    project, run_id = stream
    # A moderator's own picks are not part of the stream the sample is drawn from.
    save_label(db, SAM, next_sentence(db, project.id).id, 0)
    asked = request_estimate(db, ADMIN, project.id, target_half_width=0.2)
    assert sum(size for size, _ in asked.strata.values()) == 299
    # The model's own labels, accepted in bulk, are no person's reading: the batch still waits for people.
    accepted = bulk_accept(db, ADMIN, run_id, PredictionFilter(), 0.0)
    assert accepted == 299
    progress = batch_progress(db, project.id)
    assert (progress.requested, progress.labelled, progress.to_go) == (42, 0, 42)
    assert estimate(db, project.id).labelled == 0
    view = next_sentence(db, project.id, queue_filter=BATCH, annotator=SAM.name)
    assert view is not None and view.split == "train"
    save_label(db, SAM, view.id, 1)
    assert batch_progress(db, project.id).labelled == 1
    assert next_sentence(db, project.id, queue_filter=BATCH).id != view.id
