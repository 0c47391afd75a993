"""The team, end to end in three browsers: the admin creates the first account on a fresh start, adds
two moderators, assigns the demo project with 20% overlap; the moderators label (blind on the
doubles); the admin reads their agreement, adjudicates the disagreement and retrains; a moderator
typing the Train or Import URL gets the Label page.

Real training: the app's autostarted worker runs the fast preset on the demo project.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from core.config import Settings
from core.db import open_database
from core.demo import DEMO_PROJECT_NAME
from db.models import Annotation, Assignment, Project, Sentence
from tests.e2e.conftest import (
    CONTENT_NOTE_READY,
    E2E_PASSWORD,
    LABEL_PAGE_READY,
    open_page,
    sign_in,
    wait_for_app_idle,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def field(page, label: str):
    return page.locator(f"input[aria-label='{label}']")


def _doubles(db) -> set[int]:
    with db.read() as session:
        return set(session.scalars(select(Assignment.sentence_id).group_by(Assignment.sentence_id)
                                   .having(func.count() == 2)))


def _sentence_id(db, text: str) -> int:
    with db.read() as session:
        return session.scalar(select(Sentence.id).join(Project, Project.id == Sentence.project_id)
                              .where(Project.name == DEMO_PROJECT_NAME, Sentence.text == text))


def _label_until_doubles(page, db, keys_on_doubles: list[str], test_output, who: str) -> list[int]:
    """Label the queue by keyboard ("1" for a single) until len(keys_on_doubles) doubles are labelled,
    pressing those keys on them in turn; returns the doubles, in order."""
    doubles, labelled = _doubles(db), []
    for _ in range(200):
        card = page.locator(".st-key-card")
        text = page.locator(".st-key-sentence").inner_text().strip()
        sid = _sentence_id(db, text)
        if sid in doubles:
            # blind: whatever a colleague gave it, this moderator sees it unlabelled
            expect(card).to_contain_text("unlabelled")
            expect(card).not_to_contain_text("currently")
            if not labelled:
                page.screenshot(path=str(test_output / f"team-{who}-blind-double.png"), full_page=True)
            key = keys_on_doubles[len(labelled)]
            labelled.append(sid)
        else:
            key = "1"
        page.locator(".st-key-sentence").click()
        page.keyboard.press(key)
        expect(page.locator(".st-key-sentence")).not_to_have_text(text)
        wait_for_app_idle(page)
        if len(labelled) == len(keys_on_doubles):
            return labelled
    raise AssertionError("the queue never served enough doubles")


def test_three_people_label_with_overlap_agree_adjudicate_and_retrain(server_with_worker, browser, page, test_output):
    server = server_with_worker
    # 1. a fresh start: the first admin, then the demo project's content note
    open_page(page, f"{server.url}/", ".st-key-first-admin-note")
    field(page, "Your name").fill("Ada")
    field(page, "Password").fill(E2E_PASSWORD)
    field(page, "The same password again").fill(E2E_PASSWORD)
    page.get_by_role("button", name="Create the admin and sign in").click()
    page.wait_for_selector(CONTENT_NOTE_READY, state="visible", timeout=60_000)
    wait_for_app_idle(page)
    page.get_by_role("button", name="I have read this: start labelling").click()
    page.wait_for_selector(LABEL_PAGE_READY, state="visible", timeout=60_000)
    wait_for_app_idle(page)

    # 2. two moderators, added on the Users page
    for name in ("mo", "lee"):
        open_page(page, f"{server.url}/users", ".st-key-audit-table")
        field(page, "Name").fill(name)
        field(page, "Password").fill(E2E_PASSWORD)
        page.get_by_role("button", name="Add account").click()
        expect(page.get_by_test_id("stAlert").filter(has_text=f"Added moderator {name}.")).to_be_visible()
        wait_for_app_idle(page)

    # 3. assign the demo project: 20% overlap (the page's starting value), both moderators chosen
    open_page(page, f"{server.url}/team", ".st-key-moderators")
    page.get_by_role("button", name="Assign unassigned sentences").click()
    done = page.get_by_test_id("stAlert").filter(has_text="Assigned ")
    expect(done).to_be_visible()
    wait_for_app_idle(page)
    message = done.inner_text()
    assigned, doubled = map(int, re.search(r"Assigned (\d+) sentences, (\d+) of them", message).groups())
    assert abs(doubled / assigned - 0.20) <= 0.02
    page.screenshot(path=str(test_output / "team-assigned.png"), full_page=True)

    db = open_database(Settings.from_env({"DATA_DIR": str(server.data_dir)}), migrate=False)
    contexts = []
    try:
        # 4. the moderators label; mo first, then lee, who must not see mo's labels on the doubles
        pages = {}
        for name in ("mo", "lee"):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            contexts.append(context)
            pages[name] = context.new_page()
            sign_in(pages[name], f"{server.url}/", name)
            pages[name].wait_for_selector(LABEL_PAGE_READY, state="visible", timeout=60_000)
            wait_for_app_idle(pages[name])
        mo_doubles = _label_until_doubles(pages["mo"], db, ["1", "2", "2"], test_output, "mo")
        lee_doubles = _label_until_doubles(pages["lee"], db, ["2", "2", "2"], test_output, "lee")
        assert mo_doubles == lee_doubles  # both queues serve the doubles in document order

        # 5. a moderator typing admin URLs gets the Label page
        moderator = pages["lee"]
        for path in ("train", "data", "team"):
            moderator.goto(f"{server.url}/{path}")
            moderator.wait_for_selector(LABEL_PAGE_READY, state="visible", timeout=60_000)
            wait_for_app_idle(moderator)
            expect(moderator.get_by_role("dialog")).to_contain_text("does not seem to exist")
            expect(moderator.get_by_role("button", name="Retrain")).to_have_count(0)
    finally:
        for context in contexts:
            context.close()

    # 6. the admin sees the agreement: 3 sentences both labelled, 1 disagreement
    open_page(page, f"{server.url}/team", ".st-key-moderators")
    expect(page.get_by_test_id("stMetric").filter(has_text="Disagreements")).to_contain_text("1")
    expect(page.get_by_test_id("stMetric").filter(has_text="Sentences labelled by two or more")).to_contain_text("3")
    expect(page.locator(".st-key-pairs-table")).to_be_visible()
    page.screenshot(path=str(test_output / "team-agreement.png"), full_page=True)

    # 7. ... decides the disagreement on Check labels
    open_page(page, f"{server.url}/check", ".st-key-check-buttons")
    expect(page.locator(".st-key-check-card")).to_contain_text("moderators disagree")
    expect(page.locator(".st-key-check-card")).to_contain_text("lee: physical violence · mo: other")
    page.screenshot(path=str(test_output / "team-adjudicate.png"), full_page=True)
    page.get_by_role("button", name="Decide: physical violence").click()
    expect(page.get_by_text("Nothing to check right now")).to_be_visible()
    wait_for_app_idle(page)
    with db.read() as session:
        decided = session.scalars(select(Annotation).where(Annotation.sentence_id == mo_doubles[0])
                                  .order_by(Annotation.id.desc())).first()
    assert (decided.annotator, decided.source.value, decided.label) == ("Ada", "adjudication", 1)

    # 8. ... and retrains
    open_page(page, f"{server.url}/train", ".st-key-retrain")
    page.get_by_role("button", name=re.compile("Retrain")).click()
    runs = page.locator(".st-key-runs-table")
    expect(runs).to_contain_text("succeeded", timeout=300_000)
    expect(runs).to_contain_text("v1 ● active")
    wait_for_app_idle(page)
    page.screenshot(path=str(test_output / "team-retrained.png"), full_page=True)
    db.dispose()
