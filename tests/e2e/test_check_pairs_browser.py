"""Contradicting pairs in a real browser: two near-duplicate sentences with different labels side by
side on Check labels, the differing word bold, and the sentences' own `**`, `<b>` and `<img>` shown as
typed (no element made from them). Screenshot: test-output/check-pairs.png."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from playwright.sync_api import expect

from core.config import Settings
from core.db import open_database
from core.demo import DEMO_PROJECT_NAME
from core.importing import ImportRow, ParsedFile, commit_import
from core.projects import get_project
from core.suggestions import PAIR_MODEL_KEY, cached_embeddings, project_sentences
from tests.e2e.conftest import StreamlitServer, signed_in_page, wait_for_app_idle
from tests.helpers import ADMIN, ROOT, env_for

pytestmark = pytest.mark.e2e

GOOD = 'He shoved me **x** <b>hard</b> <img src=x onerror="window.__xss=1"> into the counter.'
BAD = 'He shoved me **x** <b>gently</b> <img src=x onerror="window.__xss=1"> into the counter.'


@pytest.fixture
def pair_server(tmp_path):
    data_dir = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "core", "init", "--demo"], cwd=ROOT, env=env_for(data_dir), check=True,
                   capture_output=True)
    db = open_database(Settings.from_env({"DATA_DIR": str(data_dir)}), migrate=False)
    project = get_project(db, DEMO_PROJECT_NAME)
    rows = (ImportRow(1, GOOD, "physical violence", "train", "pair", 0), ImportRow(2, BAD, "other", "train", "pair", 1))
    commit_import(db, ADMIN, project.id, ParsedFile("t", rows, (), 0))
    data = project_sentences(db, project.id)
    wanted = [i for i, text in enumerate(data.texts) if text in (GOOD, BAD)]
    # What the worker caches after a run (base-model vectors), constructed: cosine 0.98 between the two.
    vectors = {GOOD: [1.0, 0.0], BAD: [0.98, 0.199]}
    cached_embeddings(db, PAIR_MODEL_KEY, [data.hashes[i] for i in wanted], [data.texts[i] for i in wanted],
                      lambda texts: np.array([vectors[t] for t in texts], dtype=np.float32))
    db.dispose()
    server = StreamlitServer(data_dir, {"WORKER_AUTOSTART": "0"})
    yield server
    server.stop()


def test_a_contradicting_pair_shows_side_by_side_with_the_differing_word_bold(pair_server, page, test_output):
    signed_in_page(page, pair_server, "check")
    page.get_by_text("Contradicting pairs (1)").click()
    page.wait_for_selector(".st-key-pair-keep", state="visible", timeout=60_000)
    wait_for_app_idle(page)
    page.wait_for_load_state("networkidle")  # an <img onerror> would fire once the image fails to load
    page.screenshot(path=str(test_output / "check-pairs.png"), full_page=True)
    first, second = page.locator(".st-key-pair-first"), page.locator(".st-key-pair-second")
    expect(first).to_contain_text(GOOD)
    expect(second).to_contain_text(BAD)
    # The app's bold, around the words that differ only; nothing else became an element.
    assert first.locator("strong").all_inner_texts() == ["<b>hard</b>"]
    assert second.locator("strong").all_inner_texts() == ["<b>gently</b>"]
    assert page.locator("[data-testid='stMain'] img").count() == 0
    assert page.locator("[data-testid='stMain'] b").count() == 0
    assert page.evaluate("() => window.__xss") is None
    expect(first).to_contain_text("Labelled physical violence")
    expect(second).to_contain_text("Labelled other")

    page.get_by_role("button", name="They differ: keep both").click()
    expect(page.get_by_text("No contradicting pairs right now")).to_be_visible()
    expect(page.get_by_text("Contradicting pairs (0)")).to_be_visible()
