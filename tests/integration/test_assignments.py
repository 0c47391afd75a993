"""Assignments with an overlap share, blind double labelling, adjudication, and what training takes."""
from __future__ import annotations

import pandas as pd
import pytest

from core.accounts import create_user, disable_user
from core.assignments import assign_work, moderator_work
from core.errors import InvalidInput, PermissionDenied
from core.importing import ImportRow, ParsedFile, commit_import
from core.labeling import QueueFilter, get_sentence, next_sentence, save_label, sentence_table, undo_last
from core.runs import take_snapshot
from core.suggestions import DISAGREE, check_queue, resolve_check
from db.models import Assignment, AnnotationSource, Annotation
from tests.helpers import ADMIN, moderator

ANA, BEN, CAL = moderator("ana"), moderator("ben"), moderator("cal")


def _sentences(db, project, n: int) -> list[int]:
    rows = tuple(ImportRow(i + 1, f"Sentence number {i} of the test.", None, "train", f"d{i // 10}", i % 10)
                 for i in range(n))
    commit_import(db, ADMIN, project.id, ParsedFile("test", rows, (), 0))
    from core.labeling import sentence_table as table
    frame, _ = table(db, project.id, limit=n)
    return [int(x) for x in frame["id"]]


def _team(db, *names: str) -> None:
    for name in names:
        create_user(db, ADMIN, name, "moderator", "a long enough password")


def _assignments(db) -> dict[int, list[str]]:
    with db.read() as session:
        out: dict[int, list[str]] = {}
        for a in session.query(Assignment).order_by(Assignment.annotator):
            out.setdefault(a.sentence_id, []).append(a.annotator)
    return out


def test_the_overlap_share_is_met_on_1000_sentences_and_the_work_is_spread_evenly(db, project):
    _sentences(db, project, 1000)
    _team(db, "ana", "ben", "cal")
    summary = assign_work(db, ADMIN, project.id, ["ana", "ben", "cal"], 0.2, seed=7)
    assert (summary.assigned, summary.doubled) == (1000, 200)
    by_sentence = _assignments(db)
    assert len(by_sentence) == 1000
    doubles = [s for s, names in by_sentence.items() if len(names) == 2]
    assert abs(len(doubles) / 1000 - 0.20) <= 0.02
    assert all(len(set(names)) == len(names) for names in by_sentence.values())  # two different people
    assert sum(summary.per_moderator.values()) == 1200
    assert max(summary.per_moderator.values()) - min(summary.per_moderator.values()) <= 1
    pairs = {tuple(by_sentence[s]) for s in doubles}
    assert pairs == {("ana", "ben"), ("ana", "cal"), ("ben", "cal")}  # every pair shares some: pairwise kappa
    assert [(w.annotator, w.assigned, w.done) for w in moderator_work(db, project.id)] == [
        ("ana", 400, 0), ("ben", 400, 0), ("cal", 400, 0)]


def test_assigning_again_only_assigns_sentences_nobody_has_and_keeps_the_rest(db, project):
    ids = _sentences(db, project, 30)
    _team(db, "ana", "ben")
    assign_work(db, ADMIN, project.id, ["ana", "ben"], 0.5)
    before = _assignments(db)
    save_label(db, ANA, ids[0], 1)  # labelled sentences are never assigned anew
    more = _sentences_more(db, project, 10)
    summary = assign_work(db, ADMIN, project.id, ["ana", "ben"], 0.0)
    after = _assignments(db)
    assert summary.assigned == 10 and summary.doubled == 0
    assert {s: after[s] for s in before} == before
    assert sorted(s for s in after if s not in before) == sorted(more)


def _sentences_more(db, project, n: int) -> list[int]:
    rows = tuple(ImportRow(i + 1, f"A later sentence {i}.", None, "train", "later", i) for i in range(n))
    commit_import(db, ADMIN, project.id, ParsedFile("later", rows, (), 0))
    frame, _ = sentence_table(db, project.id, search="A later sentence", limit=100)
    return [int(x) for x in frame["id"]]


def test_assigning_checks_who_asks_and_to_whom(db, project):
    _sentences(db, project, 5)
    _team(db, "ana", "ben")
    with pytest.raises(PermissionDenied):
        assign_work(db, ANA, project.id, ["ana", "ben"], 0.2)
    with pytest.raises(InvalidInput, match="no account named 'zed'"):
        assign_work(db, ADMIN, project.id, ["ana", "zed"], 0.2)
    with pytest.raises(InvalidInput, match="at least two moderators"):
        assign_work(db, ADMIN, project.id, ["ana"], 0.2)
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        assign_work(db, ADMIN, project.id, ["ana", "ben"], 20)
    disable_user(db, ADMIN, "ben")
    with pytest.raises(InvalidInput, match="'ben' is disabled"):
        assign_work(db, ADMIN, project.id, ["ana", "ben"], 0.2)
    assert _assignments(db) == {}


def test_a_double_is_blind_the_second_moderator_never_sees_the_first_label(db, project):
    ids = _sentences(db, project, 10)
    _team(db, "ana", "ben")
    assign_work(db, ADMIN, project.id, ["ana", "ben"], 1.0)  # every sentence to both
    first = next_sentence(db, project.id, annotator="ana")
    save_label(db, ANA, first.id, 1, note="ana thinks so")
    # ben's queue: the same sentence is still his, with nothing of ana's label or note
    served = [next_sentence(db, project.id, annotator="ben", exclude_ids=seen)
              for seen in ([], *[ids[:k] for k in range(1, 10)])]
    mine = [v for v in served if v is not None and v.id == first.id]
    assert mine and all(v.label is None and v.labelled_by is None and v.note == "" for v in mine)
    view = get_sentence(db, first.id, viewer="ben")
    assert (view.label, view.labelled_by, view.note) == (None, None, "")
    assert get_sentence(db, first.id, viewer="ana").label == 1  # her own label she sees
    # nor in his table, nor through a label filter
    frame, _ = sentence_table(db, project.id, viewer="ben", limit=100)
    row = frame[frame["id"] == first.id].iloc[0]
    assert row["labelled_by"] == "" and pd.isna(row["label"])
    frame, total = sentence_table(db, project.id, label=1, viewer="ben")
    assert total == 0
    assert next_sentence(db, project.id, annotator="ben",
                         queue_filter=QueueFilter(unlabelled_only=False, label=1)) is None
    # once ben has labelled it, it is no longer blind for him
    save_label(db, BEN, first.id, 0)
    assert get_sentence(db, first.id, viewer="ben").label == 0


def test_own_assignments_come_first_then_unassigned_sentences_never_a_colleagues(db, project):
    ids = _sentences(db, project, 6)
    _team(db, "ana", "ben")
    assign_work(db, ADMIN, project.id, ["ana", "ben"], 0.0)
    ana_ids = {s for s, names in _assignments(db).items() if names == ["ana"]}
    late = _sentences_more(db, project, 2)  # imported after assigning: nobody's yet
    served = []
    while (view := next_sentence(db, project.id, annotator="ana", exclude_ids=served)) is not None:
        served.append(view.id)
    assert set(served[:len(ana_ids)]) == ana_ids
    assert set(served[len(ana_ids):]) == set(late)
    assert not set(served) & (set(ids) - ana_ids)


def test_an_undone_label_puts_the_assignment_back_in_the_queue(db, project):
    _sentences(db, project, 4)
    _team(db, "ana")
    assign_work(db, ADMIN, project.id, ["ana"], 0.0)
    view = next_sentence(db, project.id, annotator="ana")
    save_label(db, ANA, view.id, 1)
    assert moderator_work(db, project.id)[0].done == 1
    undo_last(db, ANA, project.id)
    assert moderator_work(db, project.id)[0].done == 0
    assert next_sentence(db, project.id, annotator="ana").id == view.id


def test_a_disagreement_waits_for_an_admin_and_training_leaves_it_out_until_then(db, project):
    ids = _sentences(db, project, 4)
    _team(db, "ana", "ben")
    assign_work(db, ADMIN, project.id, ["ana", "ben"], 1.0)  # blind doubles
    save_label(db, ANA, ids[0], 1)
    save_label(db, BEN, ids[0], 0)
    save_label(db, ANA, ids[1], 1)
    save_label(db, BEN, ids[1], 1)
    with db.read() as session:
        snapshot = take_snapshot(session, project.id)
    assert [row[0] for row in snapshot.rows] == [ids[1]] and snapshot.disputed == 1
    # moderators do not see it (a colleague's label), admins do, with both votes
    assert [i.reason for i in check_queue(db, project.id, ANA)] == []
    [item] = check_queue(db, project.id, ADMIN)
    assert (item.sentence_id, item.reason, item.votes) == (ids[0], DISAGREE, (("ana", 1), ("ben", 0)))
    with pytest.raises(PermissionDenied, match="adjudicate"):
        resolve_check(db, ANA, ids[0], 1)
    resolve_check(db, ADMIN, ids[0], 0)
    assert check_queue(db, project.id, ADMIN) == []
    with db.read() as session:
        snapshot = take_snapshot(session, project.id)
        source = session.query(Annotation).order_by(Annotation.id.desc()).first().source
    assert source == AnnotationSource.adjudication
    assert sorted(row[:2] for row in snapshot.rows) == sorted([(ids[0], 0), (ids[1], 1)])  # the admin's label
    assert snapshot.disputed == 0


def test_a_later_label_given_in_view_of_the_first_is_a_correction_and_trains(db, project):
    ids = _sentences(db, project, 2)
    save_label(db, ANA, ids[0], 1)
    save_label(db, BEN, ids[0], 0, source=AnnotationSource.review)  # ben fixed it from Predictions
    with db.read() as session:
        snapshot = take_snapshot(session, project.id)
    assert [row[:2] for row in snapshot.rows] == [(ids[0], 0)] and snapshot.disputed == 0


def test_the_second_moderator_undoing_a_double_has_it_pending_again(db, project):
    _sentences(db, project, 2)
    _team(db, "ana", "ben")
    assign_work(db, ADMIN, project.id, ["ana", "ben"], 1.0)
    view = next_sentence(db, project.id, annotator="ana")
    save_label(db, ANA, view.id, 1)
    save_label(db, BEN, view.id, 0)
    undo_last(db, BEN, project.id)  # the undo row restores ana's label 1: it is not ben's judgement
    assert {w.annotator: w.done for w in moderator_work(db, project.id)} == {"ana": 1, "ben": 0}
    again = next_sentence(db, project.id, annotator="ben")
    assert again.id == view.id and again.label is None


def test_a_blind_label_that_matches_the_colleagues_is_recorded_from_the_table_too(db, project):
    from core.labeling import save_labels

    ids = _sentences(db, project, 2)
    _team(db, "ana", "ben")
    assign_work(db, ADMIN, project.id, ["ana", "ben"], 1.0)
    save_label(db, BEN, ids[0], 1)
    assert save_labels(db, ANA, project.id, {ids[0]: 1}) == 1  # "Saved 1", not 0: nothing leaks, it counts
    assert {w.annotator: w.done for w in moderator_work(db, project.id)}["ana"] == 1


def test_a_moderator_neither_sees_a_pending_double_among_suspects_nor_settles_a_dispute(db, project):
    from core.suggestions import write_suspects

    ids = _sentences(db, project, 3)
    _team(db, "ana", "ben")
    assign_work(db, ADMIN, project.id, ["ana", "ben"], 1.0)
    save_label(db, BEN, ids[0], 1)
    with db.write() as session:
        write_suspects(session, project.id, [
            {"project_id": project.id, "sentence_id": ids[0], "run_id": 1, "given_label": 1, "suggested_label": 0,
             "score": 0.9, "probs_json": "[0.9, 0.1]"}])
    assert [i.sentence_id for i in check_queue(db, project.id, ANA)] == []  # pending for ana: ben's label hidden
    assert [i.sentence_id for i in check_queue(db, project.id, BEN)] == [ids[0]]
    save_label(db, ANA, ids[0], 0)  # now a dispute
    with pytest.raises(PermissionDenied, match="adjudicate"):
        resolve_check(db, ANA, ids[0], 0)


def test_a_disabled_moderators_pending_assignments_go_back_to_the_queue(db, project):
    _sentences(db, project, 4)
    _team(db, "ana", "ben")
    assign_work(db, ADMIN, project.id, ["ana", "ben"], 0.0)
    ben_ids = {s for s, names in _assignments(db).items() if names == ["ben"]}
    disable_user(db, ADMIN, "ben")
    served = []
    while (view := next_sentence(db, project.id, annotator="ana", exclude_ids=served)) is not None:
        served.append(view.id)
    assert ben_ids <= set(served)
    assert assign_work(db, ADMIN, project.id, ["ana"], 0.0).assigned == len(ben_ids)


def test_review_lists_leave_out_the_viewers_pending_doubles(db, project):
    from core.review import PredictionFilter, compare_runs, prediction_rows
    from tests.helpers import fake_succeeded_run

    ids = _sentences(db, project, 4)
    rows = tuple(ImportRow(i + 1, f"A labelled test sentence {i}.", str(i % 2), "test", "t", i) for i in range(4))
    commit_import(db, ADMIN, project.id, ParsedFile("tests", rows, (), 0))  # compare needs a test split
    _team(db, "ana", "ben")
    assign_work(db, ADMIN, project.id, ["ana", "ben"], 1.0)
    save_label(db, BEN, ids[0], 1)
    run_a = fake_succeeded_run(db, project.id, 1, lambda s: 0.2)
    run_b = fake_succeeded_run(db, project.id, 2, lambda s: 0.9)
    listed = lambda who: set(prediction_rows(db, run_a, PredictionFilter(viewer=who), limit=100)[0]["id"])  # noqa: E731
    assert ids[0] not in listed("ana") and ids[0] in listed("ben") and ids[0] in listed(None)
    assert ids[0] not in set(compare_runs(db, run_a, run_b, viewer="ana").flipped["id"])
    assert ids[0] in set(compare_runs(db, run_a, run_b, viewer="ben").flipped["id"])
