"""AppTest for the cross-fitted label check on the Check labels page: an admin queues it, sees it run, and
then sees where the suspects came from; a moderator has no button. The run itself is executed here by a
worker with the fake classifier of tests/fakes.py (tests/integration/test_label_check.py checks its folds)."""
from __future__ import annotations

import re

from core.importing import ImportRow, ParsedFile, commit_import
from core.params import FAST_PRESET
from core.projects import create_project
from core.runs import current_run, request_retrain
from core.suggestions import check_queue
from core.worker import TrainingWorker
from db.models import RunKind, RunStatus
from tests.fakes import FakeFactory
from tests.helpers import ADMIN, OTHER, VIOLENT
from ui.common import get_db, get_settings

WRONG = VIOLENT[3]


def _project() -> int:
    db = get_db()
    project = create_project(db, ADMIN, "checked", ["other", "violence"])
    rows = [ImportRow(i + 1, text, "other" if text == WRONG else "violence", "train" if i % 4 else "test", "", 0)
            for i, text in enumerate(VIOLENT)]
    rows += [ImportRow(100 + i, text, "other", "train" if i % 4 else "test", "", 0) for i, text in enumerate(OTHER)]
    commit_import(db, ADMIN, project.id, ParsedFile("t", tuple(rows), (), 0))
    return project.id


def _execute(run_id: int) -> None:
    worker = TrainingWorker(get_settings(), get_db(), worker_id="test-worker", classifiers=FakeFactory())
    assert worker.claim_next(run_id) == run_id
    assert worker.execute_any(run_id) == RunStatus.succeeded


def _check_page(make_app, role: str = "admin"):
    at = make_app(role=role)
    project_id = _project()
    at.session_state["project_id"] = project_id
    at.switch_page("pages/check.py").run()
    assert not at.exception
    return at, project_id


def _captions(at) -> list[str]:
    return [c.value.replace("\\", "") for c in at.caption]


def test_an_admin_queues_the_check_sees_it_run_then_sees_its_suspects_first(make_app):
    at, project_id = _check_page(make_app)
    button = at.button(key="cross-check-run")
    assert button.label == "Run the cross-fitted check" and not button.disabled
    button.click().run()
    assert not at.exception
    run = current_run(get_db(), project_id)
    assert run is not None and run.kind == RunKind.label_check and run.preset == "fast"
    assert not any(b.key == "cross-check-run" for b in at.button)  # no second one while it runs
    assert any(p.proto.text.startswith("Cross-fitted check queued: waiting for a worker") for p in at.get("progress"))

    _execute(run.id)
    at.run()
    assert not at.exception
    suspects = len(check_queue(get_db(), project_id))
    assert any(re.fullmatch(rf"The cross-fitted check \(v{run.version}, \d{{4}}-\d\d-\d\d \d\d:\d\d UTC\) found "
                            rf"{suspects} suspected label errors? in 24 labels, each judged by a model trained "
                            r"without it\.", c) for c in _captions(at)), _captions(at)
    shown = [m.value.replace("\\", "") for m in at.markdown]  # safe_text escapes Markdown's characters
    assert WRONG in shown, "the wrong label is the first to check"
    assert "**Why:** suspected label error. Current label: **other**" in shown
    assert at.button(key="cross-check-run").label == "Run the cross-fitted check"  # can be run again


def test_after_a_training_run_the_page_says_the_suspects_came_from_that_version(make_app):
    at, project_id = _check_page(make_app)
    run = request_retrain(get_db(), ADMIN, project_id, FAST_PRESET, "fast")
    _execute(run.id)
    at.run()
    assert not at.exception
    assert any(c.startswith("Found after training v1, by heads on that version's embeddings. The cross-fitted "
                            "check finds more of the wrong labels") for c in _captions(at))
    help_text = at.button(key="cross-check-run").help
    assert help_text.startswith("Splits the labels into 5 folds and trains a model per fold in the background")
    assert re.search(r", about \d+ (s|min) here \(5 × the active version's run\)\.", help_text), help_text


def test_a_moderator_sees_where_suspects_came_from_but_has_no_button(make_app):
    at, project_id = _check_page(make_app, role="moderator")
    assert not any(b.key == "cross-check-run" for b in at.button)
    run = request_retrain(get_db(), ADMIN, project_id, FAST_PRESET, "fast", kind=RunKind.label_check)
    _execute(run.id)
    at.run()
    assert not at.exception
    assert any(c.startswith("The cross-fitted check (v1, ") for c in _captions(at))
    assert not any(b.key == "cross-check-run" for b in at.button)


def test_a_training_after_the_check_says_its_suspects_replaced_the_checks(make_app):
    at, project_id = _check_page(make_app)
    check = request_retrain(get_db(), ADMIN, project_id, FAST_PRESET, "fast", kind=RunKind.label_check)
    _execute(check.id)
    model = request_retrain(get_db(), ADMIN, project_id, FAST_PRESET, "fast")
    _execute(model.id)
    at.run()
    assert not at.exception
    [line] = [c for c in _captions(at) if c.startswith("Found after training v2")]
    assert "The cross-fitted check (v1, " in line and line.endswith(
        "Its suspects were replaced by those of the training after it.")


def test_an_admin_cancels_the_check_from_the_page_and_is_told_how_it_ended(make_app):
    at, project_id = _check_page(make_app)
    at.button(key="cross-check-run").click().run()
    at.button(key="cross-check-cancel").click().run()  # still queued: cancelled at once
    at.run()
    assert not at.exception and current_run(get_db(), project_id) is None
    assert "The last cross-fitted check (v1) cancelled: cancelled before it started. The Train page has its log." \
        in _captions(at)
    assert not at.button(key="cross-check-run").disabled  # it can be asked for again

