"""Label three sentences from the "Most useful first" queue, served in the worker's precomputed order."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.config import Settings
from core.db import open_database
from core.demo import DEMO_PROJECT_NAME
from core.labeling import QueueFilter, next_sentence
from core.projects import get_project, project_stats
from core.suggestions import suggestion_status
from tests.e2e.conftest import LABEL_PAGE_READY, StreamlitServer, open_page, signed_in_page, wait_for_app_idle
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def server_with_worker(tmp_path):
    started = StreamlitServer(tmp_path / "data", {"WORKER_AUTOSTART": "1", "HEARTBEAT_SECONDS": "1"})
    yield started
    started.stop()


def test_label_three_from_most_useful_first(server_with_worker, page, test_output):
    server = server_with_worker
    # The first visit creates the demo project and starts a worker.
    signed_in_page(page, server, "", LABEL_PAGE_READY)
    db = open_database(Settings.from_env({"DATA_DIR": str(server.data_dir)}), migrate=False)
    project = get_project(db, DEMO_PROJECT_NAME)
    # Before any run, the worker refits a head on base-model embeddings of the pre-labelled sentences.
    state = wait_until(lambda: suggestion_status(db, project.id), 180, "the first suggestions")
    assert state.model_key == "base"
    expected, served = [], []
    for _ in range(3):
        view = next_sentence(db, project.id, order="useful", queue_filter=QueueFilter(), exclude_ids=[v.id for v in expected])
        expected.append(view)

    open_page(page, f"{server.url}/", LABEL_PAGE_READY)
    page.get_by_role("combobox", name="Order").click()
    page.get_by_role("option", name="Most useful first").click()
    wait_for_app_idle(page)
    before = project_stats(db, project.id).labelled
    sentence = page.locator(".st-key-sentence")
    for i, key in enumerate(["2", "1", "1"]):
        expect(sentence).to_have_text(expected[i].text)
        expect(page.get_by_text(re.compile(r"Why this one: (model unsure|likeliest|random)"))).to_be_visible()
        if i == 0:
            page.screenshot(path=str(test_output / "label-most-useful-first.png"), full_page=True)
        served.append(sentence.inner_text())
        sentence.click()
        page.keyboard.press(key)
        expect(sentence).not_to_have_text(expected[i].text)
        wait_for_app_idle(page)
    assert served == [v.text for v in expected]
    assert project_stats(db, project.id).labelled == before + 3
