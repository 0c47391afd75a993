"""One picture of the app as docker compose serves it: the Train page's Model versions table of each
project, one above the other, so the "ran on" column shows which worker container trained which.

Used by scripts/compose_check.sh --screenshot PATH; needs the dev requirements (Playwright) and Chromium.
Usage: python scripts/compose_screenshot.py URL NAME PASSWORD OUTPUT.png PROJECT [PROJECT ...]
(the password is read from the environment variable COMPOSE_CHECK_PASSWORD when PASSWORD is "-").
"""
from __future__ import annotations

import io
import os
import shutil
import sys

from PIL import Image
from playwright.sync_api import expect, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _idle(page) -> None:
    # Streamlit marks its app "notRunning" once a script run has finished drawing.
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=60_000)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)


def _sign_in(page, url: str, name: str, password: str) -> None:
    page.goto(url)
    page.wait_for_selector(".st-key-sign-in-note", timeout=60_000)
    page.locator("input[aria-label='Name']").fill(name)
    page.locator("input[aria-label='Password']").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector(".st-key-signed-in", timeout=60_000)
    _idle(page)
    # The login cookie is set by a request of its own right after signing in; later page loads need it.
    for _ in range(200):
        if any(c["name"] == "teach_session" for c in page.context.cookies()):
            return
        page.wait_for_timeout(50)  # the cookie jar has no event to wait on
    raise TimeoutError("the login cookie never arrived")


def _versions_of(page, url: str, project: str) -> Image.Image:
    page.goto(f"{url}/train")
    page.wait_for_selector(".st-key-project_select", timeout=60_000)
    _idle(page)
    picker = page.locator(".st-key-project_select")
    if picker.locator("input").input_value() != project:
        picker.click()
        page.get_by_role("option", name=project, exact=True).click()
        expect(picker.locator("input")).to_have_value(project)
    page.wait_for_selector(".st-key-runs-table", timeout=60_000)
    _idle(page)
    page.wait_for_timeout(500)  # the dataframe is drawn on a canvas after the script run ends
    # Streamlit scrolls inside its main block, not the document, so a full-page shot stops at the
    # viewport: the viewport is tall enough for the page. The cut keeps the "Model versions" heading and
    # table with, at its left, the sidebar's project picker that says whose versions they are.
    table = page.locator(".st-key-runs-table").bounding_box()
    heading = page.get_by_role("heading", name="Model versions").bounding_box()
    chosen = picker.bounding_box()
    image = Image.open(io.BytesIO(page.screenshot()))
    top = int(min(heading["y"], chosen["y"]) - 12)
    bottom = int(max(table["y"] + table["height"], chosen["y"] + chosen["height"]) + 12)
    return image.crop((0, max(top, 0), image.width, min(bottom, image.height)))


def main(argv: list[str]) -> int:
    url, name, password, output, *projects = argv
    if password == "-":
        password = os.environ["COMPOSE_CHECK_PASSWORD"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1600, "height": 1800})
        _sign_in(page, url, name, password)
        parts = [_versions_of(page, url, project) for project in projects]
        browser.close()
    width = max(part.width for part in parts)
    gap = 3  # a grey rule between the projects
    stacked = Image.new("RGB", (width, sum(part.height for part in parts) + gap * (len(parts) - 1)), "#bbbbbb")
    top = 0
    for part in parts:
        stacked.paste(part, (0, top))
        top += part.height + gap
    stacked.save(output)
    print(f"wrote {output} ({stacked.width}x{stacked.height})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
