"""Review queries on a real SQLite file with stored predictions (the rows a finished run writes)."""
from __future__ import annotations

import pytest

from core.errors import EvaluationUnavailable
from core.labeling import history, save_label
from core.projects import project_stats
from core.review import (
    PredictionFilter,
    bulk_accept,
    cell_sentences,
    compare_runs,
    count_bulk_accept,
    evaluate_run,
    misclassified,
    operating_curve,
    prediction_rows,
    set_threshold,
)
from db.models import RunStatus, Sentence, TrainingRun
from tests.helpers import ADMIN, fake_succeeded_run, make_labelled_project, moderator
from core.permissions import Actor, Role


def _fake_run(db, project_id, version, p1_of):
    return fake_succeeded_run(db, project_id, version, p1_of)


@pytest.fixture
def reviewed(db, project):
    make_labelled_project(db, project)
    # The model is right on everything except the first two test "violent" sentences, which it calls 0.
    wrong = set()
    with db.read() as session:
        for s in session.query(Sentence).filter(Sentence.split == "test", Sentence.label == 1).order_by(Sentence.id).limit(2):
            wrong.add(s.id)

    def p1(s):
        if s.id in wrong:
            return 0.1 if len(wrong) and s.id == min(wrong) else 0.3
        if s.label is None:
            return 0.8
        return 0.9 if s.label == 1 else 0.2

    return _fake_run(db, project.id, 1, p1), wrong


def test_evaluation_matrix_and_misclassifications(db, project, reviewed):
    run_id, wrong = reviewed
    ev = evaluate_run(db, run_id)
    assert ev.metrics["confusion"] == [[3, 0], [2, 1]]
    assert ev.metrics["accuracy"] == pytest.approx(4 / 6)
    mistakes = misclassified(db, run_id)
    assert set(mistakes["id"]) == wrong
    assert mistakes["confidence"].tolist() == sorted(mistakes["confidence"], reverse=True)  # most confident first
    cell = cell_sentences(db, run_id, true_label=1, predicted=0)
    assert set(cell["id"]) == wrong


def test_relabel_from_a_cell_moves_the_sentence_and_counts(db, project, reviewed):
    run_id, wrong = reviewed
    target = sorted(wrong)[0]
    before = project_stats(db, project.id).per_label
    save_label(db, moderator("reviewer"), target, 0, source="review")  # "the label was wrong"
    assert history(db, target)[-1].source == "review"
    assert set(cell_sentences(db, run_id, 1, 0)["id"]) == wrong - {target}
    assert target in set(cell_sentences(db, run_id, 0, 0)["id"])
    assert evaluate_run(db, run_id).metrics["confusion"] == [[4, 0], [1, 1]]
    after = project_stats(db, project.id).per_label
    assert after[0] == before[0] + 1 and after[1] == before[1] - 1


def test_prediction_filters_sort_and_paging_in_sql(db, project, reviewed):
    run_id, wrong = reviewed
    page, total = prediction_rows(db, run_id, PredictionFilter(), sort="least sure first", limit=5)
    assert total == 25 and len(page) == 5
    assert page["confidence"].tolist() == sorted(page["confidence"])
    _, n = prediction_rows(db, run_id, PredictionFilter(agreement="disagrees"))
    assert n == 2
    _, n = prediction_rows(db, run_id, PredictionFilter(agreement="unlabelled"))
    assert n == 1
    _, n = prediction_rows(db, run_id, PredictionFilter(predicted=1, human=1))
    assert n == 10  # 12 violent sentences, 2 of them missed
    page, n = prediction_rows(db, run_id, PredictionFilter(search="KITCHEN"))
    assert n == 1 and "kitchen" in page["text"][0]
    _, n = prediction_rows(db, run_id, PredictionFilter(min_confidence=0.85))
    assert n == 11  # the 10 confident violent ones and the confident mistake (p1 = 0.1); "other" sits at 0.8


def test_bulk_accept_labels_only_unlabelled_above_confidence(db, project, reviewed):
    run_id, _ = reviewed
    f = PredictionFilter()
    assert count_bulk_accept(db, run_id, f, 0.9) == 0
    assert count_bulk_accept(db, run_id, f, 0.75) == 1
    assert bulk_accept(db, Actor("reviewer", Role.admin), run_id, f, 0.75) == 1
    assert project_stats(db, project.id).labelled == 25
    assert count_bulk_accept(db, run_id, f, 0.75) == 0


def test_threshold_is_stored_and_re_derives_predicted_labels(db, project, reviewed):
    run_id, wrong = reviewed
    curve = operating_curve(db, run_id)
    assert {"threshold", "precision", "recall"} <= set(curve.columns)
    set_threshold(db, ADMIN, run_id, 0.25)  # the 0.3 mistake now counts as label 1
    assert evaluate_run(db, run_id).metrics["confusion"] == [[3, 0], [1, 2]]
    with db.read() as session:
        assert session.get(TrainingRun, run_id).threshold == 0.25
    set_threshold(db, ADMIN, run_id, None)
    assert evaluate_run(db, run_id).metrics["confusion"] == [[3, 0], [2, 1]]


def test_compare_lists_flipped_sentences(db, project, reviewed):
    run_a, wrong = reviewed
    run_b = _fake_run(db, project.id, 2, lambda s: 0.9 if s.label == 1 else (0.8 if s.label is None else 0.2))
    comparison = compare_runs(db, run_a, run_b)
    assert set(comparison.flipped["id"]) == wrong
    assert comparison.deltas["accuracy"] == pytest.approx(2 / 6)
    assert (comparison.flipped["predicted_a"] == 0).all() and (comparison.flipped["predicted_b"] == 1).all()
    # the same 6 test sentences, paired: +2/6 with an interval that, at n = 6, cannot exclude 0
    assert (comparison.n_shared, comparison.shared_delta) == (6, pytest.approx(2 / 6))
    assert comparison.shared_interval.low <= 2 / 6 <= comparison.shared_interval.high
    assert comparison.shared_interval.contains(0.0) and not comparison.tells_apart


def test_run_without_predictions_is_a_clear_error(db, project):
    make_labelled_project(db, project)
    with db.write() as session:
        run = TrainingRun(project_id=project.id, version=1, status=RunStatus.failed, preset="fast",
                          params_json="{}", snapshot_json="[]", snapshot_hash="x")
        session.add(run)
        session.flush()
        run_id = run.id
    with pytest.raises(EvaluationUnavailable, match="did not succeed"):
        evaluate_run(db, run_id)


def test_evaluation_carries_the_reliability_of_its_confidences(db, project, reviewed):
    run_a, wrong = reviewed
    evaluation = evaluate_run(db, run_a)
    result = evaluation.reliability
    assert sum(n for _, _, n in result.bins) == evaluation.metrics["n_test"]
    right = evaluation.metrics["accuracy"] * evaluation.metrics["n_test"]
    assert sum(a * n for _, a, n in result.bins) == pytest.approx(right)
    assert 0.0 <= result.ece <= 1.0
