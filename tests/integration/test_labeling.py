"""Labelling on a real SQLite file: history, undo, queue order, concurrent moderators, demo project."""
from __future__ import annotations

import pytest

from core.demo import DEMO_PROJECT_NAME, demo_sentences, ensure_demo_project
from core.errors import InvalidInput, NotFound
from core.importing import ImportRow, ParsedFile, commit_import
from core.labeling import (
    QueueFilter,
    get_sentence,
    history,
    label_conflicts,
    next_sentence,
    save_label,
    save_labels,
    sentence_table,
    undo_last,
)
from core.projects import create_project, get_project, project_stats
from tests.helpers import ADMIN, moderator


def _import(db, project, texts, doc="doc-1"):
    rows = tuple(ImportRow(i + 1, t, None, None, doc, i) for i, t in enumerate(texts))
    commit_import(db, ADMIN, project.id, ParsedFile("test", rows, (), 0))
    return [s for s in sentence_table(db, project.id, limit=1000)[0]["id"]]


def test_labels_are_history_and_latest_is_current(db, project):
    [sid] = _import(db, project, ["He pushed me into the wall."])
    save_label(db, moderator("ana"), sid, 0)
    save_label(db, moderator("ana"), sid, 1, note="pushing is contact")
    view = get_sentence(db, sid)
    assert view.label == 1 and view.labelled_by == "ana" and view.note == "pushing is contact"
    assert [(a.label, a.annotator) for a in history(db, sid)] == [(0, "ana"), (1, "ana")]


def test_undo_restores_previous_label_and_keeps_history(db, project):
    a, b = _import(db, project, ["first sentence here", "second sentence here"])
    save_label(db, moderator("ana"), a, 1)
    save_label(db, moderator("ana"), b, 0)
    save_label(db, moderator("ana"), b, 1)
    assert undo_last(db, moderator("ana"), project.id) == b
    assert get_sentence(db, b).label == 0
    assert undo_last(db, moderator("ana"), project.id) == b
    assert get_sentence(db, b).label is None
    assert undo_last(db, moderator("ana"), project.id) == a
    assert get_sentence(db, a).label is None
    assert undo_last(db, moderator("ana"), project.id) is None
    assert [x.source for x in history(db, b)] == ["ui", "ui", "undo", "undo"]
    assert project_stats(db, project.id).labelled == 0


def test_undo_refuses_when_someone_else_labelled_since(db, project):
    [sid] = _import(db, project, ["a contested sentence"])
    save_label(db, moderator("ana"), sid, 1)
    save_label(db, moderator("ben"), sid, 0)
    with pytest.raises(InvalidInput, match="Someone else"):
        undo_last(db, moderator("ana"), project.id)
    assert get_sentence(db, sid).label == 0


def test_two_moderators_on_one_sentence_both_kept_and_flagged(db, project):
    [sid] = _import(db, project, ["who is right about this one"])
    save_label(db, moderator("ana"), sid, 1)
    save_label(db, moderator("ben"), sid, 0)
    assert len(history(db, sid)) == 2
    assert get_sentence(db, sid).label == 0
    assert label_conflicts(db, project.id) == [sid]


def test_an_invalid_label_is_refused(db, project):
    [sid] = _import(db, project, ["some sentence"])
    with pytest.raises(InvalidInput, match="not one of this project's labels"):
        save_label(db, moderator("ana"), sid, 7)
    assert history(db, sid) == []


def test_a_table_cannot_label_a_sentence_of_another_project(db, project):
    # The table's row ids come back from the browser: an id from elsewhere is refused, and nothing is saved.
    [mine] = _import(db, project, ["some sentence"])
    other = create_project(db, ADMIN, "other project", ["a", "b"])
    commit_import(db, ADMIN, other.id, ParsedFile("test", (ImportRow(1, "elsewhere", None, None, "d", 0),), (), 0))
    theirs = int(sentence_table(db, other.id)[0]["id"][0])
    with pytest.raises(NotFound, match="Some of these sentences are not in this project"):
        save_labels(db, moderator("ana"), project.id, {mine: 1, theirs: 1})
    assert history(db, mine) == [] and history(db, theirs) == []


def test_queue_serves_unlabelled_in_document_order_with_context(db, project):
    ids = _import(db, project, ["one.", "two.", "three.", "four."])
    first = next_sentence(db, project.id)
    assert first.text == "one." and first.before == () and first.after == ("two.", "three.")
    save_label(db, moderator("ana"), ids[0], 0)
    second = next_sentence(db, project.id)
    assert second.text == "two." and second.before == ("one.",)
    assert next_sentence(db, project.id, exclude_ids=[ids[1]]).text == "three."  # skipped


def test_shuffled_order_is_stable_and_different_from_document_order(db, project):
    _import(db, project, [f"sentence number {i}" for i in range(30)])
    seen = []
    for _ in range(10):
        v = next_sentence(db, project.id, order="shuffled", exclude_ids=seen)
        seen.append(v.id)
    again = []
    for _ in range(10):
        again.append(next_sentence(db, project.id, order="shuffled", exclude_ids=again).id)
    assert seen == again
    assert seen != sorted(seen)


def test_revisit_filter_by_label_and_search(db, project):
    a, b, c = _import(db, project, ["he hit me", "we had tea", "he hit the table"])
    save_label(db, moderator("ana"), a, 1)
    save_label(db, moderator("ana"), b, 0)
    save_label(db, moderator("ana"), c, 0)
    v = next_sentence(db, project.id, queue_filter=QueueFilter(unlabelled_only=False, label=1))
    assert v.id == a
    v = next_sentence(db, project.id, queue_filter=QueueFilter(unlabelled_only=False, label=0, search="HIT"))
    assert v.id == c
    assert next_sentence(db, project.id) is None


def test_table_mode_saves_many_and_pages_in_sql(db, project):
    ids = _import(db, project, [f"row {i}" for i in range(120)])
    assert save_labels(db, moderator("ana"), project.id, {ids[0]: 1, ids[1]: 0}) == 2
    assert save_labels(db, moderator("ana"), project.id, {ids[0]: 1}) == 0  # unchanged rows are not re-annotated
    page, total = sentence_table(db, project.id, offset=100, limit=50)
    assert total == 120 and len(page) == 20
    page, total = sentence_table(db, project.id, unlabelled_only=True)
    assert total == 118
    stats = project_stats(db, project.id)
    assert stats.labelled == 2 and stats.per_label == {1: 1, 0: 1}


def test_demo_project_created_once_with_prelabelled_sentences(db):
    created = ensure_demo_project(db)
    assert created is not None and ensure_demo_project(db) is None
    project = get_project(db, DEMO_PROJECT_NAME)
    stats = project_stats(db, project.id)
    sentences = demo_sentences()
    assert stats.total == len(sentences) >= 150
    assert stats.labelled == sum(s.prelabelled for s in sentences)
    assert [label.name for label in project.labels] == ["other", "physical violence"]
    assert stats.per_split["train"][0] > 0 and stats.per_split["test"][0] > 0
