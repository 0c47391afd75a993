"""Care for the people labelling: blur preference per account, content notes read once, break timing."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from core.accounts import create_user
from core.audit import audit_log
from core.care import (
    CarePreferences,
    acknowledge_content_note,
    break_due,
    content_note_to_show,
    preferences,
    set_blur_sentences,
)
from core.errors import InvalidInput, NotFound
from core.permissions import CLI_ACTOR
from core.projects import create_project, get_project, set_content_note
from db.models import AuditAction
from tests.helpers import ADMIN, moderator

NOTE = "Descriptions of violence in relationships."


@pytest.fixture
def sam(db):
    create_user(db, CLI_ACTOR, "sam", "moderator", "a long password")
    create_user(db, CLI_ACTOR, "kim", "moderator", "a long password")
    return moderator("sam")


def test_blurring_is_off_until_chosen_and_kept_per_account(db, sam):
    assert preferences(db, sam) == CarePreferences(blur_sentences=False)
    set_blur_sentences(db, sam, True)
    assert preferences(db, sam).blur_sentences is True
    assert preferences(db, moderator("kim")).blur_sentences is False
    assert preferences(db, CLI_ACTOR).blur_sentences is False  # no account: the default
    with pytest.raises(NotFound, match="No account named 'cli'"):
        set_blur_sentences(db, CLI_ACTOR, True)


def test_a_content_note_shows_until_read_and_again_when_it_changes(db, sam):
    project = create_project(db, ADMIN, "posts", ["other", "violence"], content_note=f"  {NOTE} ")
    assert content_note_to_show(db, sam, project) == NOTE
    acknowledge_content_note(db, sam, project)
    assert content_note_to_show(db, sam, project) is None
    assert content_note_to_show(db, moderator("kim"), project) == NOTE  # each account reads it
    set_content_note(db, ADMIN, project.id, "Descriptions of violence, and of self-harm.")
    changed = get_project(db, project.id)
    assert content_note_to_show(db, sam, changed) == "Descriptions of violence, and of self-harm."


def test_a_project_without_a_note_shows_none(db, sam, project):
    assert content_note_to_show(db, sam, project) is None


def test_setting_a_content_note_is_audited_and_bounded(db):
    project = create_project(db, ADMIN, "posts", ["other", "violence"])
    set_content_note(db, ADMIN, project.id, NOTE)
    set_content_note(db, ADMIN, project.id, "")
    rows, _ = audit_log(db, ADMIN, action=AuditAction.content_note_updated)
    assert [r.details for r in rows] == ["(removed)", NOTE]
    with pytest.raises(InvalidInput, match="at most 1000 characters; this one has 1001"):
        set_content_note(db, ADMIN, project.id, "x" * 1001)


def test_a_break_is_due_after_the_set_minutes_and_never_when_off():
    start = datetime(2026, 1, 1, 9, 0)
    assert not break_due(start, start + timedelta(minutes=44, seconds=59), 45)
    assert break_due(start, start + timedelta(minutes=45), 45)
    assert not break_due(start, start + timedelta(hours=5), 0)
    assert not break_due(None, start, 45)
