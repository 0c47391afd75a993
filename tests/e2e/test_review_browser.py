"""Evaluation after a real run: choose an off-diagonal cell, relabel a sentence listed there, and see
the matrix and the list reflect it, then again after the next run. Screenshots every review page."""
from __future__ import annotations

import subprocess
import sys

import pytest
from playwright.sync_api import expect

from core.config import Settings
from core.db import open_database
from core.demo import DEMO_PROJECT_NAME, demo_sentences
from core.labeling import QueueFilter, next_sentence, save_label
from core.projects import get_project
from core.runs import list_runs
from tests.e2e.conftest import StreamlitServer, signed_in_page, wait_for_app_idle
from tests.helpers import ROOT, env_for, moderator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
QUICK = ["--param", "max_steps=20", "--param", "logging_steps=2"]


def _train(data_dir) -> None:
    result = subprocess.run([sys.executable, "-m", "core", "train", "--project", DEMO_PROJECT_NAME, "--wait", *QUICK],
                            cwd=ROOT, env=env_for(data_dir), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.fixture(scope="module")
def trained_server(tmp_path_factory):
    # One trained project for the module: training is the slow part, the pages only read it.
    data_dir = tmp_path_factory.mktemp("review") / "data"
    subprocess.run([sys.executable, "-m", "core", "init", "--demo"], cwd=ROOT, env=env_for(data_dir), check=True,
                   capture_output=True)
    db = open_database(Settings.from_env({"DATA_DIR": str(data_dir)}), migrate=False)
    project = get_project(db, DEMO_PROJECT_NAME)
    # A moderator's slip: one clearly violent test sentence labelled "other" (the model will disagree).
    violent = [s.text for s in demo_sentences() if s.label == 1 and s.prelabelled]
    for text in violent:
        view = next_sentence(db, project.id, queue_filter=QueueFilter(unlabelled_only=False, label=1, search=text))
        if view is not None and view.split == "test":
            save_label(db, moderator("slip"), view.id, 0)
            break
    _train(data_dir)
    server = StreamlitServer(data_dir, {"WORKER_AUTOSTART": "0"})
    yield server, db, project
    server.stop()


def _cell(page, i: int, j: int):
    return page.locator(f".st-key-cell-{i}-{j} button")


def test_relabel_from_an_off_diagonal_cell(trained_server, page, test_output):
    server, db, project = trained_server
    signed_in_page(page, server, "evaluation", ".st-key-cell-0-0")
    expect(page.locator(".st-key-accuracy-interval")).to_contain_text("Accuracy 95% interval:")
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    page.screenshot(path=str(test_output / "evaluation-top.png"))  # the viewport: figures with their intervals
    counts = {(i, j): int(_cell(page, i, j).inner_text()) for i in (0, 1) for j in (0, 1)}
    i, j = next((c for c in ((0, 1), (1, 0)) if counts[c] > 0))
    _cell(page, i, j).click()
    wait_for_app_idle(page)
    rows = page.locator(".st-key-cell-list [class*='st-key-cellfix-row-']")
    expect(rows).to_have_count(counts[(i, j)])
    first = rows.first
    text = first.locator("[data-testid='stMarkdownContainer']").first.inner_text()
    page.screenshot(path=str(test_output / "evaluation-cell.png"), full_page=True)
    first.get_by_role("button").first.click()  # the only other label: the fix
    wait_for_app_idle(page)
    expect(_cell(page, i, j)).to_have_text(str(counts[(i, j)] - 1))
    expect(page.locator(".st-key-cell-list")).not_to_contain_text(text)

    _train(server.data_dir)  # the next run, with the fixed label
    newest = list_runs(db, project.id)[0]
    assert newest.version == 2 and newest.status.value == "succeeded"
    page.goto(f"{server.url}/evaluation")
    wait_for_app_idle(page)
    if not newest.is_active:
        page.get_by_role("combobox", name="Model version").click()
        page.get_by_role("option", name="version 2").click()
        wait_for_app_idle(page)
    _cell(page, i, j).click()
    wait_for_app_idle(page)
    expect(page.locator("[data-testid='stMain']")).to_contain_text(f"True")
    if page.locator(".st-key-cell-list").count():
        expect(page.locator(".st-key-cell-list")).not_to_contain_text(text)
    page.screenshot(path=str(test_output / "evaluation-after-next-run.png"), full_page=True)


@pytest.mark.parametrize("path,name", [("predictions", "predictions"), ("compare", "compare"), ("train", "train"),
                                        ("table", "table"), ("data", "import-export"), ("check", "check")])
def test_every_page_renders_without_errors(trained_server, page, test_output, path, name):
    server, db, project = trained_server
    if path == "compare" and len(list_runs(db, project.id)) < 2:
        _train(server.data_dir)
    signed_in_page(page, server, path, "[data-testid='stMain']")
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    expect(page.locator("[data-testid='stMain']")).to_be_visible()
    if path in ("compare", "train"):
        expect(page.locator(".js-plotly-plot").first).to_be_visible()  # charts draw after the script ends
    page.screenshot(path=str(test_output / f"page-{name}.png"), full_page=True)
