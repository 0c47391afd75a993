"""AppTest: the content note before labelling, blurred sentences until revealed, the break reminder."""
from __future__ import annotations

from datetime import timedelta

from streamlit.testing.v1 import AppTest

from core.care import preferences
from core.demo import DEMO_CONTENT_NOTE
from core.permissions import Actor, Role
from tests.app.conftest import signed_in_as
from tests.conftest import ROOT
from ui.care import LABELLING_SINCE_KEY
from ui.common import get_db


def _fresh(name: str = "sam", role: str = "moderator") -> AppTest:
    at = signed_in_as(AppTest.from_file(str(ROOT / "app.py"), default_timeout=60), name, role)
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_content_note_comes_first_and_once_per_account(app_env, through_the_frame):
    at = _fresh()
    assert "#### Before you start" in [m.value for m in at.markdown]
    assert [t.value for t in at.text] == [DEMO_CONTENT_NOTE]  # as written: text, never Markdown
    assert "current_id" not in at.session_state and not [b for b in at.button if b.key == "label-1"]
    at.button(key="content-note-ok").click().run()
    assert at.button(key="label-0").label == "other"
    at.run()
    assert not [b for b in at.button if b.key == "content-note-ok"]  # read: not asked again
    other = _fresh("kim")
    assert other.button(key="content-note-ok")  # another account reads it too


def test_blurred_until_revealed_when_chosen_in_the_sidebar(app_env, through_the_frame):
    at = _fresh()
    at.button(key="content-note-ok").click().run()
    assert not [b for b in at.button if b.key.startswith("reveal-")]
    at.sidebar.toggle(key="care_blur").set_value(True).run()
    assert preferences(get_db(), Actor("sam", Role.moderator)).blur_sentences is True
    current = at.session_state["current_id"]
    reveal = at.button(key=f"reveal-{current}")
    assert reveal.label == "Reveal"
    assert any("filter: blur(7px)" in h.body for h in at.get("html"))
    reveal.click().run()
    assert not [b for b in at.button if b.key == f"reveal-{current}"]
    at.button(key="label-1").click().run()
    assert at.button(key=f"reveal-{at.session_state['current_id']}")  # the next sentence starts blurred again


def test_a_break_reminder_after_the_set_minutes(app_env, through_the_frame, monkeypatch):
    monkeypatch.setenv("BREAK_REMINDER_MINUTES", "30")
    at = _fresh()
    at.button(key="content-note-ok").click().run()
    assert not [b for b in at.button if b.key == "break-done"]
    at.session_state[LABELLING_SINCE_KEY] = at.session_state[LABELLING_SINCE_KEY] - timedelta(minutes=31)
    at.run()
    assert [m.value for m in at.markdown if m.value.startswith("**You have been labelling")] == [
        "**You have been labelling for 31 minutes.** Time for a short break: stand up, look at something far "
        "away, have a drink of water. The queue will wait."]
    at.button(key="break-done").click().run()
    assert not [b for b in at.button if b.key == "break-done"]


def test_an_admin_changes_the_content_note_and_it_is_shown_again(app_env, through_the_frame):
    at = _fresh("Ada", "admin")
    at.button(key="content-note-ok").click().run()
    at.switch_page("pages/data.py").run()
    project_id = at.session_state["project_id"]
    at.text_area(key=f"content_note-{project_id}").input("Violence, and threats of self-harm.\nAnd **insults**.")
    at.button(key=f"FormSubmitter:project-settings-{project_id}-Save").click().run()
    assert not at.exception
    at.switch_page("pages/label.py").run()
    assert [t.value for t in at.text] == ["Violence, and threats of self-harm.\nAnd **insults**."]
