"""Roles are enforced in core: every function that changes data checks who acts, whatever page called it."""
from __future__ import annotations

import pytest

from core.accounts import create_user, disable_user, enable_user, list_users, reset_password
from core.audit import audit_log
from core.demo import create_demo_project
from core.errors import PermissionDenied
from core.exporting import export_project
from core.importing import commit_import, parse_file
from core.labeling import save_label, save_labels, sentence_table, undo_last
from core.params import FAST_PRESET
from core.projects import create_project, set_content_note, update_guidelines
from core.review import PredictionFilter, bulk_accept, set_threshold
from core.runs import cancel_run, list_runs, request_retrain, set_active
from core.suggestions import resolve_check
from db.models import Annotation, AuditAction, AuditEntry
from tests.helpers import ADMIN, fake_succeeded_run, make_labelled_project, moderator

SAM = moderator("sam")
ANY = PredictionFilter()


@pytest.fixture
def world(db, project):
    """A labelled project with one finished version and one queued run, a second labelled project with
    no run, an account to disable (kim) and a disabled one (lou)."""
    make_labelled_project(db, project)
    finished = fake_succeeded_run(db, project.id, 1, lambda s: 0.9)
    queued = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    idle = create_project(db, ADMIN, "idle project", ["other", "physical violence"], test_fraction=0.25)
    make_labelled_project(db, idle)
    create_user(db, ADMIN, "kim", "moderator", "a long password")
    create_user(db, ADMIN, "lou", "moderator", "a long password")
    disable_user(db, ADMIN, "lou")
    first = int(sentence_table(db, project.id)[0]["id"][0])
    return {"project": project.id, "finished": finished, "queued": queued.id, "sentence": first, "idle": idle.id}


ADMIN_ONLY = {
    "create_project": lambda db, w, who: create_project(db, who, "new", ["a", "b"]),
    "update_guidelines": lambda db, w, who: update_guidelines(db, who, w["project"], "Be kind."),
    "set_content_note": lambda db, w, who: set_content_note(db, who, w["project"], "Violence, described."),
    "create_demo_project": lambda db, w, who: create_demo_project(db, actor=who),
    "commit_import": lambda db, w, who: commit_import(db, who, w["project"], parse_file(b"One more.\n", "x.txt")),
    "export_project": lambda db, w, who: export_project(db, who, w["project"], "csv"),
    "request_retrain": lambda db, w, who: request_retrain(db, who, w["idle"], FAST_PRESET, "fast"),
    "cancel_run": lambda db, w, who: cancel_run(db, who, w["queued"]),
    "set_active": lambda db, w, who: set_active(db, who, w["project"], w["finished"], "by hand"),
    "set_threshold": lambda db, w, who: set_threshold(db, who, w["finished"], 0.3),
    "bulk_accept": lambda db, w, who: bulk_accept(db, who, w["finished"], ANY, 0.5),
    "create_user": lambda db, w, who: create_user(db, who, "lee", "moderator", "a long password"),
    "disable_user": lambda db, w, who: disable_user(db, who, "kim"),
    "enable_user": lambda db, w, who: enable_user(db, who, "lou"),
    "reset_password": lambda db, w, who: reset_password(db, who, "kim", "another long password"),
    "list_users": lambda db, w, who: list_users(db, who),
    "audit_log": lambda db, w, who: audit_log(db, who),
}

MODERATOR_MAY = {
    "save_label": lambda db, w, who: save_label(db, who, w["sentence"], 1),
    "save_labels": lambda db, w, who: save_labels(db, who, w["project"], {w["sentence"]: 0}),
    "undo_last": lambda db, w, who: undo_last(db, who, w["project"]),
    "resolve_check": lambda db, w, who: resolve_check(db, who, w["sentence"], 1),
}


def _audit_count(db) -> int:
    with db.read() as session:
        return session.query(AuditEntry).count()


@pytest.mark.parametrize("name", list(ADMIN_ONLY))
def test_a_moderator_calling_an_admin_function_is_refused_and_nothing_changes(db, world, name):
    before = _audit_count(db)
    with pytest.raises(PermissionDenied) as refused:
        ADMIN_ONLY[name](db, world, SAM)
    assert str(refused.value).startswith("Only an admin can ")
    assert str(refused.value).endswith("; you are signed in as 'sam', a moderator.")
    assert _audit_count(db) == before


@pytest.mark.parametrize("name", list(ADMIN_ONLY))
def test_an_admin_may_call_it_and_it_is_audited_where_it_acts(db, world, name):
    before = _audit_count(db)
    ADMIN_ONLY[name](db, world, ADMIN)
    reads = {"list_users", "audit_log"}
    created = {"create_demo_project": 2}  # the project, then its import
    assert _audit_count(db) - before == (0 if name in reads else created.get(name, 1))


@pytest.mark.parametrize("name", list(MODERATOR_MAY))
def test_a_moderator_may_label_and_check(db, world, name):
    MODERATOR_MAY[name](db, world, SAM)


def test_labels_are_recorded_under_the_actor_s_name(db, world):
    save_label(db, SAM, world["sentence"], 1)
    with db.read() as session:
        latest = session.query(Annotation).order_by(Annotation.id.desc()).first()
    assert (latest.annotator, latest.label) == ("sam", 1)


def test_undo_takes_back_only_the_actor_s_own_labels(db, world):
    save_label(db, moderator("kim"), world["sentence"], 1)
    assert undo_last(db, SAM, world["project"]) is None
    assert undo_last(db, moderator("kim"), world["project"]) == world["sentence"]


def test_audit_entries_say_who_did_what_in_which_project(db, world):
    set_active(db, ADMIN, world["project"], world["finished"], "rolled back by hand")
    cancel_run(db, ADMIN, world["queued"])
    rows, _ = audit_log(db, ADMIN, limit=3)
    assert [(r.actor, r.action, r.project, r.details) for r in rows] == [
        ("admin", AuditAction.run_cancelled, "test project", "version 2 (queued)"),
        ("admin", AuditAction.model_activated, "test project", "version 1: rolled back by hand"),
        ("admin", AuditAction.user_disabled, "", "lou (0 open session(s) ended)"),
    ]


def test_a_refused_action_leaves_no_audit_entry(db, world):
    cancel_run(db, ADMIN, world["queued"])
    before = _audit_count(db)
    with pytest.raises(Exception, match="already ended"):
        cancel_run(db, ADMIN, world["queued"])
    assert _audit_count(db) == before
    assert [r.status.value for r in list_runs(db, world["project"])] == ["cancelled", "succeeded"]
