"""The cross-fitted label check from the browser: on Check labels an admin presses the button, the app's
own worker trains a real SetFit model per fold on the demo's labels, the page follows it and then says
what the check found; the Train page lists it as a label check that kept no model.
Screenshots: test-output/check-cross-fit-running.png, check-cross-fit-done.png."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import signed_in_page, wait_for_app_idle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_an_admin_runs_the_cross_fitted_check_and_sees_what_it_found(server_with_worker, page, test_output):
    server = server_with_worker
    signed_in_page(page, server, "check")
    wait_for_app_idle(page)
    page.get_by_role("button", name="Run the cross-fitted check").click()
    progress = page.get_by_text(re.compile(r"Cross-fitted check (queued|running)"))
    expect(progress).to_be_visible(timeout=30_000)
    expect(page.get_by_text(re.compile(r"fold [1-5] of 5: training on \d+"))).to_be_visible(timeout=120_000)
    page.screenshot(path=str(test_output / "check-cross-fit-running.png"), full_page=True)

    # Five trainings of the fast preset on about 34 labels each: a few minutes on two cores.
    found = page.get_by_text(re.compile(r"The cross-fitted check \(v1, [0-9-]+ [0-9:]+ UTC\) found "
                                        r"(no label that looks wrong|\d+ suspected label errors?) in 42 labels"))
    expect(found).to_be_visible(timeout=540_000)
    wait_for_app_idle(page)
    expect(page.get_by_role("button", name="Run the cross-fitted check")).to_be_enabled()
    # The view's option label carries the count, which changed: it must still show as chosen.
    expect(page.get_by_role("radio", name=re.compile(r"Labels to check \(\d+\)"))).to_be_checked()
    page.screenshot(path=str(test_output / "check-cross-fit-done.png"), full_page=True)

    page.goto(f"{server.url}/train")
    wait_for_app_idle(page)
    runs = page.locator(".st-key-runs-table")
    expect(runs).to_contain_text("label check")
    expect(runs).to_contain_text("label check (no model version is kept)")
    expect(page.get_by_text(re.compile(r"Active model: version"))).to_have_count(0)
