"""Label a few sentences, press Retrain, watch the loss table fill, see the new version active.

Real training on the real base model: the app's own autostarted worker process runs the fast preset.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LABEL_PAGE_READY, open_page, signed_in_page, wait_for_app_idle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_retrain_from_the_browser(server_with_worker, page, test_output):
    server = server_with_worker
    signed_in_page(page, server, "", LABEL_PAGE_READY)
    for key in ["1", "2", "1"]:
        current = page.locator(".st-key-sentence").inner_text()
        page.locator(".st-key-sentence").click()
        page.keyboard.press(key)
        expect(page.locator(".st-key-sentence")).not_to_have_text(current)
        wait_for_app_idle(page)

    page.goto(f"{server.url}/train")
    wait_for_app_idle(page)
    page.get_by_role("button", name=re.compile("Retrain")).click()
    live = page.locator(".st-key-live-run")
    expect(live).to_be_visible(timeout=30_000)
    # Loss rows appear while the run is going (the fast preset logs every 5 steps).
    expect(live.get_by_text("Training Results").or_(live.locator("[data-testid='stDataFrame']"))).to_be_visible(timeout=120_000)
    page.screenshot(path=str(test_output / "train-page-running.png"), full_page=True)

    runs = page.locator(".st-key-runs-table")
    expect(runs).to_contain_text("succeeded", timeout=240_000)
    expect(runs).to_contain_text("v1 ● active")
    wait_for_app_idle(page)
    expect(page.get_by_text(re.compile(r"Active model: version 1"))).to_be_visible()
    expect(page.locator(".st-key-run-loss")).to_be_visible()
    page.screenshot(path=str(test_output / "train-page-done.png"), full_page=True)


def test_retrain_by_itself_after_n_labels(server_with_worker, page, test_output):
    """Turn "Train a new version by itself" on with N = 3, label 3 sentences on the Label page, see version 2 appear."""
    server = server_with_worker
    signed_in_page(page, server, "train", ".st-key-auto-retrain")
    # The demo's imported labels count as changes until the first run: with none yet, the first
    # model would be queued at once. Count from a clean slate: one version first.
    page.get_by_role("button", name=re.compile("Retrain")).click()
    runs = page.locator(".st-key-runs-table")
    expect(runs).to_contain_text("v1 ● active", timeout=240_000)
    wait_for_app_idle(page)
    page.get_by_text("Train a new version by itself after every N label changes").click()
    wait_for_app_idle(page)
    page.locator(".st-key-auto-retrain input[type='number']").fill("3")
    page.locator(".st-key-auto-retrain input[type='number']").press("Enter")
    expect(page.locator(".st-key-auto-retrain")).to_contain_text("3 label change(s) until the next model")
    wait_for_app_idle(page)
    page.screenshot(path=str(test_output / "train-auto-retrain-on.png"), full_page=True)

    page.goto(f"{server.url}/")
    page.wait_for_selector(LABEL_PAGE_READY, state="visible", timeout=60_000)
    wait_for_app_idle(page)
    expect(page.get_by_text("3 label change(s) until the next model")).to_be_visible()
    for key in ["1", "2", "1"]:
        current = page.locator(".st-key-sentence").inner_text()
        page.locator(".st-key-sentence").click()
        page.keyboard.press(key)
        expect(page.locator(".st-key-sentence")).not_to_have_text(current)
        wait_for_app_idle(page)
    from core.config import Settings
    from core.db import open_database
    from core.demo import DEMO_PROJECT_NAME
    from core.projects import get_project
    from core.runs import list_runs
    from tests.helpers import wait_until

    db = open_database(Settings.from_env({"DATA_DIR": str(server.data_dir)}), migrate=False)
    project = get_project(db, DEMO_PROJECT_NAME)

    def second_version():
        done = [r for r in list_runs(db, project.id) if r.version == 2 and r.status.value == "succeeded"]
        return done[0] if done else None

    run = wait_until(second_version, 240, "version 2, queued by itself, to succeed")
    assert run.requested_by == "auto-retrain"
    db.dispose()
    open_page(page, f"{server.url}/train", ".st-key-runs-table")
    expect(page.locator(".st-key-runs-table")).to_contain_text("v2")
    page.screenshot(path=str(test_output / "train-auto-retrain-done.png"), full_page=True)
