"""AppTest for the labelling pages: the demo project is created on first start and can be labelled."""
from __future__ import annotations

from core.demo import DEMO_PROJECT_NAME
from core.labeling import history
from core.projects import get_project, project_stats
from ui.common import get_db, safe_text
from tests.helpers import ADMIN


def _stats():
    db = get_db()
    return project_stats(db, get_project(db, DEMO_PROJECT_NAME).id)


def test_label_page_labels_skips_and_undoes(make_app):
    at = make_app()
    before = _stats().labelled
    first = at.session_state["current_id"]
    at.button(key="label-1").click().run()
    assert not at.exception
    assert _stats().labelled == before + 1
    assert [a.label for a in history(get_db(), first)] == [1]
    second = at.session_state["current_id"]
    assert second != first
    at.button(key="skip").click().run()
    assert at.session_state["current_id"] not in (first, second)
    at.button(key="undo").click().run()
    assert at.session_state["current_id"] == first
    assert _stats().labelled == before


def test_user_text_is_escaped_not_rendered(make_app):
    from core.importing import ImportRow, ParsedFile, commit_import
    from core.projects import create_project

    at = make_app()
    hostile = "<img src=x onerror=alert(1)> **bold** [link](http://example.invalid) # heading :red[x]"
    project = create_project(get_db(), ADMIN, "hostile <b>name</b>", ["a_b", "c*d"])
    commit_import(get_db(), ADMIN, project.id, ParsedFile("t", (ImportRow(1, hostile, None, None, "d", 0),), (), 0))
    at.session_state["project_id"] = project.id
    at.run()
    shown = [m.value for m in at.markdown if "onerror" in m.value]
    assert shown, "the sentence is on the page"
    # Every Markdown/HTML character arrives backslash-escaped, so it is displayed, not interpreted.
    assert "\\<img src\\=x onerror\\=alert\\(1\\)\\>" in shown[0]
    assert "\\*\\*bold\\*\\*" in shown[0] and "\\[link\\]\\(\u2060http\\:" in shown[0]
    assert "\\:red\\[x\\]" in shown[0] and "\\# heading" in shown[0]


def test_table_page_shows_a_page_of_sentences(make_app):
    at = make_app("pages/table.py")
    [editor] = at.dataframe
    assert len(editor.value) == 50 and {"text", "label", "split"} <= set(editor.value.columns)
    assert at.button(key="table_save").disabled
    assert any("Page 1 of" in c.value for c in at.caption)


def test_data_page_renders_tabs_and_creates_project(make_app):
    at = make_app("pages/data.py")
    assert [t.label for t in at.tabs] == ["Import", "Export", "This project", "New project"]
    at.text_input(key="new_name").input("Second project")
    at.text_input(key="new_labels").input("keep, remove")
    next(b for b in at.button if b.label == "Create project").click().run()
    assert not at.exception
    from core.projects import list_projects

    assert [p.name for p in list_projects(get_db())][-1] == "Second project"
    assert [l.name for l in list_projects(get_db())[-1].labels] == ["keep", "remove"]


def test_data_page_bad_labels_show_a_clear_error(make_app):
    at = make_app("pages/data.py")
    at.text_input(key="new_name").input("One label")
    at.text_input(key="new_labels").input("only")
    next(b for b in at.button if b.label == "Create project").click().run()
    assert any("at least two labels" in e.value for e in at.error)


def test_most_useful_first_serves_the_precomputed_order_and_says_why(make_app):
    from core.labeling import QueueFilter, next_sentence
    from core.suggestions import refresh_suggestions, suggestion_for
    from tests.helpers import CountingEncoder

    at = make_app()  # the first start creates the demo project, with some pre-labelled sentences
    db = get_db()
    project = get_project(db, DEMO_PROJECT_NAME)
    refresh_suggestions(db, project.id, "base", CountingEncoder())  # what the worker does between runs
    first = next_sentence(db, project.id, order="useful", queue_filter=QueueFilter())
    second = next_sentence(db, project.id, order="useful", queue_filter=QueueFilter(), exclude_ids=[first.id])
    plain = next_sentence(db, project.id, order="document", queue_filter=QueueFilter())
    assert first.id != plain.id  # otherwise the order would not be under test

    at.selectbox(key="label_order").set_value("useful").run()
    assert not at.exception
    assert at.session_state["current_id"] == first.id
    reason = suggestion_for(db, first.id).reason
    assert reason.startswith(("model unsure", "likeliest", "random"))
    assert "Why this one: " + safe_text(reason) in [c.value for c in at.caption]  # escaped, never markup
    at.button(key="label-0").click().run()
    assert at.session_state["current_id"] == second.id
