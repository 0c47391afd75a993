"""Accounts in a real browser against `streamlit run server.py`: the first start, the login cookie
across reloads, sign-out, and a moderator who types an admin page's URL."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core.accounts import authenticate
from core.config import Settings
from core.db import open_database
from tests.e2e.conftest import (
    CONTENT_NOTE_READY,
    E2E_PASSWORD,
    LABEL_PAGE_READY,
    SIGN_IN_READY,
    SIGNED_IN,
    add_account,
    has_login_cookie,
    open_page,
    sign_in,
    wait_for_app_idle,
)

pytestmark = pytest.mark.e2e
FIRST_ADMIN_READY = ".st-key-first-admin-note"


def field(page, label: str):
    """The input with this label (get_by_label also finds the field's help button)."""
    return page.locator(f"input[aria-label='{label}']")


def _nav_links(page) -> list[str]:
    return [t.strip().split("\n")[-1] for t in page.get_by_test_id("stSidebarNav").get_by_role("link").all_inner_texts()]


def test_first_start_creates_the_admin_then_reload_keeps_the_login_and_sign_out_ends_it(server, page, test_output):
    open_page(page, f"{server.url}/", FIRST_ADMIN_READY)
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)  # nothing else exists before an account does
    page.screenshot(path=str(test_output / "accounts-first-admin.png"), full_page=True)

    field(page, "Your name").fill("Ada")
    field(page, "Password").fill(E2E_PASSWORD)
    field(page, "The same password again").fill(E2E_PASSWORD)
    page.get_by_role("button", name="Create the admin and sign in").click()
    page.wait_for_selector(CONTENT_NOTE_READY, state="visible", timeout=60_000)
    wait_for_app_idle(page)
    expect(page.locator(".st-key-content-note")).to_contain_text("These posts describe abuse in relationships")
    page.screenshot(path=str(test_output / "accounts-content-note.png"), full_page=True)
    page.get_by_role("button", name="I have read this: start labelling").click()
    page.wait_for_selector(LABEL_PAGE_READY, state="visible", timeout=60_000)
    wait_for_app_idle(page)
    expect(page.locator(SIGNED_IN)).to_contain_text("Signed in as Ada · admin")
    expect(page.locator(".st-key-project_select input")).to_have_value("Demo: physical violence")
    page.screenshot(path=str(test_output / "accounts-demo-label-page.png"), full_page=True)
    db = open_database(Settings.from_env({"DATA_DIR": str(server.data_dir)}), migrate=False)
    assert authenticate(db, "ada", E2E_PASSWORD).name == "Ada"

    for _ in range(200):  # the cookie arrives by a request of its own, right after the sign-in
        if has_login_cookie(page):
            break
        page.wait_for_timeout(50)  # polling the cookie jar, which has no event to wait on
    [cookie] = [c for c in page.context.cookies() if c["name"] == "teach_session"]
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/")
    assert page.evaluate("() => document.cookie").find("teach_session") == -1  # scripts cannot read it

    page.reload()
    page.wait_for_selector(LABEL_PAGE_READY, state="visible", timeout=60_000)
    wait_for_app_idle(page)
    expect(page.locator(SIGNED_IN)).to_contain_text("Signed in as Ada · admin")

    # Care: sentences blurred until revealed, by choice, kept on the account.
    page.get_by_text("Blur sentences until I reveal them").click()
    expect(page.locator(".st-key-blurred .st-key-sentence")).to_be_visible()
    wait_for_app_idle(page)
    page.screenshot(path=str(test_output / "care-blurred-sentence.png"), full_page=True)
    page.locator(".st-key-sentence").click()  # focus the page, not the switch
    page.keyboard.press("v")
    expect(page.locator(".st-key-blurred")).to_have_count(0)
    expect(page.locator(".st-key-shown .st-key-sentence")).to_be_visible()
    wait_for_app_idle(page)

    page.locator(SIGNED_IN).get_by_role("button", name="Sign out").click()
    page.wait_for_selector(SIGN_IN_READY, state="visible")
    wait_for_app_idle(page)
    page.screenshot(path=str(test_output / "accounts-signed-out.png"), full_page=True)
    page.reload()
    page.wait_for_selector(SIGN_IN_READY, state="visible")
    wait_for_app_idle(page)
    expect(page.locator(SIGNED_IN)).to_have_count(0)
    db.dispose()


def test_a_wrong_password_says_only_that(server, page, test_output):
    add_account(server.data_dir, "Ada", "admin")
    open_page(page, f"{server.url}/", SIGN_IN_READY)
    field(page, "Name").fill("Ada")
    field(page, "Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("stAlert")).to_have_text("errorWrong name or password.")
    wait_for_app_idle(page)
    page.screenshot(path=str(test_output / "accounts-wrong-password.png"), full_page=True)
    expect(page.locator(SIGNED_IN)).to_have_count(0)


def test_a_moderator_opening_admin_pages_by_url_gets_the_label_page(server, browser, page, test_output):
    add_account(server.data_dir, "Ada", "admin")
    sign_in(page, f"{server.url}/", "Ada")
    open_page(page, f"{server.url}/users", ".st-key-audit-table")
    field(page, "Name").fill("sam")
    field(page, "Password").fill(E2E_PASSWORD)
    page.get_by_role("button", name="Add account").click()
    expect(page.get_by_test_id("stAlert").filter(has_text="Added moderator sam.")).to_be_visible()
    wait_for_app_idle(page)
    page.screenshot(path=str(test_output / "accounts-users-page.png"), full_page=True)

    moderator = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        sign_in(moderator, f"{server.url}/", "sam")
        assert _nav_links(moderator) == ["Label", "Table", "Check labels", "Predictions", "Evaluation", "Compare runs"]
        for path in ("train", "data", "users"):
            moderator.goto(f"{server.url}/{path}")
            moderator.wait_for_selector(LABEL_PAGE_READY, state="visible", timeout=60_000)
            wait_for_app_idle(moderator)
            expect(moderator.get_by_role("dialog")).to_contain_text("The page that you have requested does not seem to exist")
            expect(moderator.get_by_role("button", name="Retrain")).to_have_count(0)
            expect(moderator.get_by_text("Audit log")).to_have_count(0)
            expect(moderator.locator(SIGNED_IN)).to_contain_text("Signed in as sam · moderator")
            if path == "train":
                moderator.screenshot(path=str(test_output / "accounts-moderator-asked-for-train.png"), full_page=True)
    finally:
        moderator.context.close()

    open_page(page, f"{server.url}/users", ".st-key-audit-table")
    expect(page.locator(".st-key-audit-table")).to_contain_text("user created")
