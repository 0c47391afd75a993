"""Estimate on the stream in a real browser: an admin asks for an estimate on the Evaluation page, labels
its batch on the Label page by keyboard, and reads precision, recall and prevalence with intervals.

No training: the version is a fake finished run (its prediction rows written directly) over a small
project whose true labels the test knows, and every stratum is small enough to be drawn whole, so the
figures are exact: 24 unlabelled sentences, 12 the version calls violent (10 truly are) and 12 it calls
other (2 of them violent): precision, recall and prevalence of both labels are 10/12, 10/12 and 1/2."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core.config import Settings
from core.db import open_database
from core.importing import ImportRow, ParsedFile, commit_import
from core.projects import create_project
from core.estimate import batch_progress
from tests.e2e.conftest import LABEL_PAGE_READY, StreamlitServer, open_page, signed_in_page, wait_for_app_idle
from tests.helpers import ADMIN, OTHER, VIOLENT, fake_succeeded_run

pytestmark = pytest.mark.e2e

CALLED_VIOLENT = set(VIOLENT[:10]) | set(OTHER[:2])


@pytest.fixture
def estimate_server(tmp_path):
    data_dir = tmp_path / "data"
    db = open_database(Settings.from_env({"DATA_DIR": str(data_dir)}))
    project = create_project(db, ADMIN, "Stream check", ["other", "physical violence"])
    rows = tuple(ImportRow(i + 1, text, None, "train", f"post{i}", 0) for i, text in enumerate(VIOLENT + OTHER))
    commit_import(db, ADMIN, project.id, ParsedFile("stream", rows, (), 0))
    fake_succeeded_run(db, project.id, 1, lambda s: 0.9 if s.text in CALLED_VIOLENT else 0.2, activate=True)
    server = StreamlitServer(data_dir, {"WORKER_AUTOSTART": "0"})
    yield server, db, project
    server.stop()
    db.dispose()


def _random_sample_view(page) -> None:
    page.locator(".st-key-eval_source").get_by_text("Random sample (stream)", exact=True).click()
    wait_for_app_idle(page)


def test_ask_for_an_estimate_label_the_batch_by_keyboard_and_read_it(estimate_server, page, test_output):
    server, db, project = estimate_server
    signed_in_page(page, server, "evaluation", ".st-key-eval_source")
    _random_sample_view(page)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text("No estimate on the stream yet.", exact=False)).to_be_visible()
    page.locator(".st-key-request-estimate").get_by_role("button", name="Ask for an estimate").click()
    wait_for_app_idle(page)
    expect(main.get_by_text("Drew 24 sentences for version 1: 24 to label", exact=False)).to_be_visible()
    expect(main.get_by_text("0 of 24 sampled sentences labelled")).to_be_visible()
    expect(main.get_by_text("Recall and prevalence wait for a label in every predicted label's sample.")).to_be_visible()
    page.mouse.move(0, 0)  # no tooltip over the page in the screenshot: the clicked button keeps focus
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    expect(page.get_by_text("Draws a random sample", exact=False)).to_be_hidden()
    page.screenshot(path=str(test_output / "estimate-asked.png"), full_page=True)

    open_page(page, f"{server.url}/", LABEL_PAGE_READY)
    page.get_by_role("combobox", name="Show").click()
    page.get_by_role("option", name="Evaluation batch (24 to go)").click()
    wait_for_app_idle(page)
    expect(page.locator(".st-key-batch-note")).to_contain_text("0 of 24 labelled, 24 to go")
    expect(main.get_by_text("Suggestion:", exact=False)).to_have_count(0)
    page.screenshot(path=str(test_output / "estimate-batch-label-page.png"), full_page=True)
    truth = {text: 1 for text in VIOLENT} | {text: 0 for text in OTHER}
    for done in range(24):
        current = page.locator(".st-key-sentence").inner_text().strip()
        page.locator(".st-key-sentence").click()  # focus the page, not a text field
        page.keyboard.press(str(truth[current] + 1))
        if done < 23:
            expect(page.locator(".st-key-sentence")).not_to_have_text(current)
        wait_for_app_idle(page)
    expect(main.get_by_text("Nothing left in this queue", exact=False)).to_be_visible()
    progress = batch_progress(db, project.id)
    assert (progress.requested, progress.labelled, progress.to_go) == (24, 24, 0)

    open_page(page, f"{server.url}/evaluation", ".st-key-eval_source")
    _random_sample_view(page)
    expect(main.get_by_text("24 of 24 sampled sentences labelled")).to_be_visible()
    grid = page.get_by_test_id("stDataFrame")
    expect(grid.get_by_text("1 · physical violence", exact=True)).to_have_count(1)
    # By hand: Wilson's interval for 10 of 12; recall and prevalence from the posterior draws (seed 0).
    expect(grid.get_by_text("0.833 (0.55 – 0.95)", exact=True)).to_have_count(2)  # precision of both labels
    expect(grid.get_by_text("0.833 (0.6", exact=False)).to_have_count(2)  # recall of both labels
    expect(grid.get_by_text("0.500 (0.35 – 0.65)", exact=True)).to_have_count(2)  # prevalence of both
    expect(grid.get_by_text("12 / 12", exact=True)).to_have_count(2)
    expect(main.locator("[data-testid='stAlert']")).to_have_count(0)  # current: no stale warning
    page.mouse.move(0, 0)
    page.screenshot(path=str(test_output / "estimate-figures.png"), full_page=True)
