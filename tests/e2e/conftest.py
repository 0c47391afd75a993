"""A real browser (Debian's chromium, driven by Playwright) against `streamlit run` on a free port.

Waits the way Streamlit's own e2e suite does: for /_stcore/health, then for the app to report
itself connected and its script not running. No sleeps.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)  # polling interval for the health endpoint, not a wait for the UI
    raise TimeoutError(f"{url} did not become healthy in {timeout}s")


class StreamlitServer:
    def __init__(self, data_dir: Path, env_extra: dict[str, str]) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        env = dict(os.environ, DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", **env_extra)
        self.log = (data_dir.parent / "streamlit.log").open("wb")
        self.process = subprocess.Popen(
            # server.py, as run.sh: app.py inside st.App, with the routes that set the login cookie.
            [sys.executable, "-m", "streamlit", "run", "server.py", "--server.port", str(self.port),
             "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        _wait_healthy(self.url, self.process)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        stop_workers(self.data_dir)


def stop_workers(data_dir: Path) -> None:
    """An autostarted worker runs in its own session, so it outlives the server: end it too."""
    import signal

    from core.config import Settings
    from core.db import open_database
    from db.models import Worker

    if not (data_dir / "app.db").exists():
        return
    db = open_database(Settings.from_env({"DATA_DIR": str(data_dir)}), migrate=False)
    with db.read() as session:
        pids = [w.pid for w in session.query(Worker).filter(Worker.stopped.is_(False))]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    db.dispose()


def wait_for_app_idle(page, timeout: float = 30_000) -> None:
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=timeout)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)
    # Buttons bind their keyboard shortcuts in React effects, which run after the paint that made
    # them visible; on a busy machine a key pressed in between reaches no binding (CI lost one).
    # Two animation frames and a task let those effects run first. An event-loop turn, not a sleep.
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 0))))")


def open_page(page, url: str, ready: str, timeout: float = 60_000) -> None:
    """Go to a page and wait until its script has rendered `ready` and finished.

    Right after `goto` the app reports itself connected and not running *before* its first run
    starts, so idleness alone can pass too early: a key pressed then reaches no shortcut button
    yet and is lost. A selector the page renders last closes that window.
    """
    page.goto(url)
    page.wait_for_selector(ready, state="visible", timeout=timeout)
    wait_for_app_idle(page, timeout)


# The Label page draws its shortcut buttons after the sentence; Undo is the last of them.
LABEL_PAGE_READY = ".st-key-undo"
# The sidebar's "Signed in as" block, drawn by the frame on every page once signed in.
SIGNED_IN = ".st-key-signed-in"
SIGN_IN_READY = ".st-key-sign-in-note"
CONTENT_NOTE_READY = ".st-key-content-note-ok"
E2E_PASSWORD = "e2e password, long enough"


def add_account(data_dir: Path, name: str = "e2e", role: str = "admin", password: str = E2E_PASSWORD) -> None:
    """An account in the server's database, made as `python -m core users add` makes one (once)."""
    from core.accounts import create_user
    from core.config import Settings
    from core.db import open_database
    from core.errors import AccountExists
    from core.permissions import CLI_ACTOR

    db = open_database(Settings.from_env({"DATA_DIR": str(data_dir)}))
    try:
        create_user(db, CLI_ACTOR, name, role, password)
    except AccountExists:
        pass  # made by an earlier test on the same server
    db.dispose()


def has_login_cookie(page) -> bool:
    return any(c["name"] == "teach_session" for c in page.context.cookies())


def sign_in(page, url: str, name: str = "e2e", password: str = E2E_PASSWORD, ready: str = SIGNED_IN) -> None:
    """Sign in through the real form at `url`, then wait until the browser holds the login cookie, so
    that later page loads in this browser context are signed in too."""
    open_page(page, url, SIGN_IN_READY)
    page.locator("input[aria-label='Name']").fill(name)
    page.locator("input[aria-label='Password']").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector(ready, state="visible", timeout=60_000)
    wait_for_app_idle(page)
    # The page posts a one-time ticket for the HttpOnly cookie right after signing in: a request of its own.
    deadline = time.monotonic() + 10
    while not has_login_cookie(page):
        if time.monotonic() > deadline:
            raise TimeoutError("the login cookie never arrived")
        page.wait_for_timeout(50)  # polling the browser's cookie jar, which has no event to wait on
    read_the_content_note(page)


def read_the_content_note(page) -> None:
    """A project's content note comes before its first sentence, once per account: read it."""
    from playwright.sync_api import expect

    # Signing in lands on the Label page: its content note, its sentence, or a notice (no project, queue empty).
    page.wait_for_selector(f"{CONTENT_NOTE_READY}, {LABEL_PAGE_READY}, [data-testid='stMain'] [data-testid='stAlert']",
                           timeout=60_000)
    wait_for_app_idle(page)
    button = page.locator(".st-key-content-note-ok button")
    if button.count():
        button.first.click()
        expect(page.locator(".st-key-content-note")).to_have_count(0)
        wait_for_app_idle(page)


def signed_in_page(page, server: "StreamlitServer", path: str = "", ready: str = SIGNED_IN,
                   name: str = "e2e", role: str = "admin") -> None:
    """Add an account (an admin unless told) and sign in with it through the form, then open `path`."""
    add_account(server.data_dir, name, role)
    sign_in(page, f"{server.url}/", name)
    open_page(page, f"{server.url}/{path}", ready)


@pytest.fixture
def server(tmp_path):
    started = StreamlitServer(tmp_path / "data", {"WORKER_AUTOSTART": "0"})
    yield started
    started.stop()


@pytest.fixture
def server_with_worker(tmp_path):
    """The app with its own autostarted worker, which notices a lost run within 30 s."""
    started = StreamlitServer(tmp_path / "data", {"WORKER_AUTOSTART": "1", "HEARTBEAT_SECONDS": "1",
                                                  "WORKER_LOST_AFTER_SECONDS": "30"})
    yield started
    started.stop()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.failed_call = report.failed
    return report


@pytest.fixture
def page(browser, request, test_output):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    if getattr(request.node, "failed_call", False):  # what the browser showed when the test failed
        page.screenshot(path=str(test_output / f"FAILED-{request.node.name}.png"), full_page=True)
    context.close()
