"""Project agreement and per-moderator figures from the labels as stored."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from core.agreement import moderator_stats, project_agreement
from core.errors import PermissionDenied
from core.importing import ImportRow, ParsedFile, commit_import
from core.labeling import save_label, sentence_table, undo_last
from core.suggestions import resolve_check
from db.models import Annotation
from tests.helpers import ADMIN, moderator

ANA, BEN, CAL = moderator("ana"), moderator("ben"), moderator("cal")


def _ids(db, project, n: int) -> list[int]:
    rows = tuple(ImportRow(i + 1, f"Unit {i}.", None, "train", "d", i) for i in range(n))
    commit_import(db, ADMIN, project.id, ParsedFile("t", rows, (), 0))
    frame, _ = sentence_table(db, project.id, limit=n)
    return [int(x) for x in frame["id"]]


def test_alpha_and_pairwise_kappa_of_three_moderators_match_the_hand_computed_values(db, project):
    u = _ids(db, project, 5)
    # The three-rater example of tests/unit/test_agreement.py (alpha 1/3); unit 5 has one label only.
    for who, labels in ((ANA, [0, 0, 1, 1]), (BEN, [0, 1, 1, 0]), (CAL, [0, None, 1, 1])):
        for sid, label in zip(u, labels):
            if label is not None:
                save_label(db, who, sid, label)
    save_label(db, ANA, u[4], 1)
    save_label(db, CAL, u[1], 1)  # cal's label of unit 2, then undone: missing again
    undo_last(db, CAL, project.id)
    result = project_agreement(db, ADMIN, project.id)
    assert result.n_items == 4 and result.annotators == ("ana", "ben", "cal")
    assert result.alpha.value == pytest.approx(1 / 3)
    kappas = {(p.a, p.b): (p.n_items, p.n_agree, p.kappa.value) for p in result.pairs}
    # ana-ben: po 0.5, pe 0.5 -> 0; ana-cal: identical on 3 -> 1; ben-cal: po 2/3, pe 4/9 -> 0.4.
    assert kappas[("ana", "ben")] == (4, 2, pytest.approx(0.0))
    assert kappas[("ana", "cal")] == (3, 3, pytest.approx(1.0))
    assert kappas[("ben", "cal")] == (3, 2, pytest.approx(0.4))
    assert result.n_disagree == 2


def test_an_adjudication_is_not_a_vote_and_scores_each_moderator(db, project):
    u = _ids(db, project, 3)
    save_label(db, ANA, u[0], 1, unsure=True)
    save_label(db, BEN, u[0], 0)
    save_label(db, ANA, u[1], 1)
    save_label(db, BEN, u[1], 0)
    resolve_check(db, ADMIN, u[0], 1)
    resolve_check(db, ADMIN, u[1], 1)
    result = project_agreement(db, ADMIN, project.id)
    assert result.annotators == ("ana", "ben") and result.n_disagree == 2
    stats = {s.annotator: s for s in moderator_stats(db, ADMIN, project.id)}
    assert set(stats) == {"ana", "ben"}  # the admin adjudicated; that is not labelling
    assert (stats["ana"].labels, stats["ana"].adjudicated, stats["ana"].agree_with_adjudicated) == (2, 2, 1.0)
    assert (stats["ben"].adjudicated, stats["ben"].agree_with_adjudicated) == (2, 0.0)
    assert stats["ana"].unsure_share == 0.5 and stats["ben"].unsure_share == 0.0


def test_speed_is_the_median_gap_between_labels_with_breaks_left_out(db, project):
    u = _ids(db, project, 5)
    for sid in u:
        save_label(db, ANA, sid, 0)
    start = datetime(2026, 1, 1, 9, 0, 0)
    gaps = [0, 4, 10, 3600 + 14, 6]  # seconds after the previous; the hour is a break
    with db.write() as session:
        at = start
        for annotation, gap in zip(session.query(Annotation).order_by(Annotation.id), gaps):
            at += timedelta(seconds=gap)
            annotation.created_at = at
    [ana] = moderator_stats(db, ADMIN, project.id)
    assert ana.labels == 5 and ana.seconds_per_label == 6.0  # median of 4, 10, 6


def test_moderators_cannot_read_the_teams_figures(db, project):
    with pytest.raises(PermissionDenied):
        project_agreement(db, ANA, project.id)
    with pytest.raises(PermissionDenied):
        moderator_stats(db, ANA, project.id)
