"""AppTest: the admins' Assignments & agreement page."""
from __future__ import annotations

import pandas as pd

from core.demo import DEMO_PROJECT_NAME
from core.labeling import next_sentence, save_label
from core.projects import get_project
from tests.app.conftest import account
from tests.helpers import moderator
from ui.common import get_db


def _plain(text: str) -> str:
    return text.replace("\\", "")


def test_assigning_with_overlap_then_agreement_and_figures_show(make_app):
    account("ana", "moderator")
    account("ben", "moderator")
    at = make_app("pages/team.py")
    db = get_db()
    project = get_project(db, DEMO_PROJECT_NAME)
    assert "Nothing assigned in this project yet" in _plain(" ".join(c.value for c in at.caption))
    assert at.multiselect(key="assign-people").value == ["ana", "ben"]  # the moderators, by default
    at.slider(key="assign-overlap").set_value(50)
    at.button(key="FormSubmitter:assign-Assign unassigned sentences").click().run()
    assert not at.exception, at.exception
    [done] = [s.value for s in at.success]
    assert _plain(done).startswith("Assigned ") and "of them to two moderators (ana " in _plain(done)
    work = at.dataframe[0].value
    assert list(work["moderator"]) == ["ana", "ben"] and list(work["labelled"]) == [0, 0]

    # both label the same three doubles; they disagree on one
    shared = []
    while len(shared) < 3:
        view = next_sentence(db, project.id, annotator="ana", exclude_ids=shared)
        shared.append(view.id)
    for i, sid in enumerate(shared):
        save_label(db, moderator("ana"), sid, 1)
        save_label(db, moderator("ben"), sid, 1 if i else 0)
    at.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Sentences labelled by two or more"] == "3" and metrics["Disagreements"] == "1"
    pairs = at.dataframe[1].value
    assert (pairs.iloc[0]["moderator A"], pairs.iloc[0]["moderator B"], pairs.iloc[0]["sentences"]) == ("ana", "ben", 3)
    assert pairs.iloc[0]["agree"] == "67%"
    figures = at.dataframe[2].value
    assert list(figures["moderator"]) == ["ana", "ben"] and list(figures["labels"]) == [3, 3]


def test_without_doubles_agreement_says_what_to_do(make_app):
    at = make_app("pages/team.py")
    assert not at.exception
    assert any("No sentence has labels from two people yet" in _plain(i.value) for i in at.info)


def test_the_table_shows_a_pending_double_without_the_colleagues_label(make_app):
    from core.assignments import assign_work
    from tests.helpers import ADMIN

    account("ana", "moderator")
    at = make_app("pages/table.py", user="ben", role="moderator")  # the first run makes the demo project
    db = get_db()
    project = get_project(db, DEMO_PROJECT_NAME)
    assign_work(db, ADMIN, project.id, ["ana", "ben"], 1.0)
    first = next_sentence(db, project.id, order="document", annotator="ana")
    save_label(db, moderator("ana"), first.id, 1)
    at.run()
    [editor] = at.dataframe
    row = editor.value[editor.value["text"] == first.text].iloc[0]
    assert pd.isna(row["label"]) and row["labelled_by"] == ""
    other = make_app("pages/table.py", user="cleo", role="moderator")  # not assigned to it: sees ana's label
    [editor] = other.dataframe
    row = editor.value[editor.value["text"] == first.text].iloc[0]
    assert (row["label"], row["labelled_by"]) == ("1 · physical violence", "ana")
