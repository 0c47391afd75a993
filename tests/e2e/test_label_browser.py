"""Label demo sentences with the keyboard only, undo one, reload, and find the labels persisted."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.config import Settings
from core.db import open_database
from core.demo import DEMO_PROJECT_NAME
from core.projects import get_project, project_stats
from tests.e2e.conftest import LABEL_PAGE_READY, signed_in_page, wait_for_app_idle

pytestmark = pytest.mark.e2e


def _stats(server):
    db = open_database(Settings.from_env({"DATA_DIR": str(server.data_dir)}), migrate=False)
    return project_stats(db, get_project(db, DEMO_PROJECT_NAME).id)


def _sentence(page) -> str:
    return page.locator(".st-key-sentence").inner_text().strip()


def test_keyboard_labelling_undo_and_reload(server, page, test_output):
    signed_in_page(page, server, "", LABEL_PAGE_READY)
    expect(page.locator(".st-key-sentence")).to_be_visible()
    before = _stats(server).labelled
    page.screenshot(path=str(test_output / "label-page.png"), full_page=True)

    seen = []
    for key in ["1", "2", "1", "1", "2"]:
        current = _sentence(page)
        seen.append(current)
        page.locator(".st-key-sentence").click()  # focus the page, not a text field
        page.keyboard.press(key)
        expect(page.locator(".st-key-sentence")).not_to_have_text(current)
        wait_for_app_idle(page)
    assert len(set(seen)) == 5
    assert _stats(server).labelled == before + 5

    page.keyboard.press("u")
    expect(page.locator(".st-key-sentence")).to_have_text(re.compile(re.escape(seen[-1][:30])))
    wait_for_app_idle(page)
    assert _stats(server).labelled == before + 4

    page.reload()
    page.wait_for_selector(LABEL_PAGE_READY, state="visible")
    wait_for_app_idle(page)
    expect(page.locator(".st-key-sentence")).to_be_visible()
    stats = _stats(server)
    assert stats.labelled == before + 4
    progress = page.get_by_test_id("stMain").get_by_text(re.compile(rf"^{stats.labelled} / {stats.total} labelled"))
    expect(progress).to_be_visible()
    # One place for the counts on this page: the sidebar would lag behind the fragment that labels.
    sidebar = page.locator("[data-testid='stSidebar']")
    expect(sidebar).not_to_contain_text("labelled")
    page.screenshot(path=str(test_output / "label-page-after-reload.png"), full_page=True)

    # Label once more, then leave the page: the sidebar elsewhere agrees with the database at once.
    page.locator(".st-key-sentence").click()
    current = _sentence(page)
    page.keyboard.press("1")
    expect(page.locator(".st-key-sentence")).not_to_have_text(current)
    wait_for_app_idle(page)
    stats = _stats(server)
    assert stats.labelled == before + 5
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Table", exact=True).click()
    expect(sidebar).to_contain_text(f"{stats.labelled} / {stats.total} labelled")
    wait_for_app_idle(page)
    page.screenshot(path=str(test_output / "table-sidebar-counts.png"), full_page=True)
