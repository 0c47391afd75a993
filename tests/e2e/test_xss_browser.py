"""User text is never HTML or Markdown, on any page, in a real browser.

One project carries hostile text everywhere a user can put text: its name, description, guidelines
and content note, its label names, sentences, document ids, annotators (an import's `annotator`
column), notes, an account's name, an uploaded file's name and columns, and a model card. An admin
opens every page of the navigation; on each, no script ran, no image or link was made from that
text, no `**bold**` became bold, and the text reads literally where the page shows it. Two model
versions come from the fake classifier (tests/fakes.py), so no real training runs here.
Screenshots: test-output/xss/<page>.png.
"""
from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.accounts import create_user
from core.config import Settings
from core.db import open_database
from core.importing import commit_import, parse_file
from core.labeling import save_label, save_labels
from core.params import FAST_PRESET
from core.permissions import CLI_ACTOR, Actor, Role
from core.projects import create_project
from core.runs import get_run, request_retrain, set_active
from core.worker import TrainingWorker
from db.models import RunStatus, Sentence
from tests.e2e.conftest import (
    CONTENT_NOTE_READY,
    E2E_PASSWORD,
    LABEL_PAGE_READY,
    SIGN_IN_READY,
    SIGNED_IN,
    StreamlitServer,
    has_login_cookie,
    open_page,
    wait_for_app_idle,
)
from tests.fakes import FakeFactory
from tests.helpers import OTHER, VIOLENT
from ui.common import WORD_JOINER

pytestmark = pytest.mark.e2e

SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=1">'
LINK = "[click me](https://evil.example)"
BOLD = "**bold**"
JS_LINK = "[js](javascript:window.__xss=1)"
BARE = "www.evil.example mail@evil.example"  # GFM links bare addresses too
PAYLOAD = f"{SCRIPT} {IMG} {LINK} {BOLD} {JS_LINK} {BARE}"
LABELS = [f"other {PAYLOAD}", f"violence {PAYLOAD}"]
# Account names are words of letters, digits and . _ - @ ' +: underscores are Markdown's other bold.
ADMIN_NAME = "__bold__"
MODERATOR_NAME = "__bold__ mod"
SECOND_MODERATOR = "mail@evil.example"  # a bare e-mail address is a link in GFM
ANNOTATOR_A = f"{IMG} {BOLD}"  # an import's annotator column is free text (kept to 100 characters)
ANNOTATOR_B = f"{LINK} {JS_LINK}"
DOC_ID = f"{IMG} {LINK} doc"
UPLOAD_NAME = f'{IMG} {BOLD}.csv'  # what the browser says the uploaded file is called

# What the DOM must never hold, whatever page: evidence that user text became HTML or Markdown.
INJECTED = """() => {
  const found = [];
  const where = el => {  // the nearest keyed container or Streamlit element, to say which one it was
    const keyed = el.closest('[class*="st-key-"]');
    const key = keyed ? [...keyed.classList].find(c => c.startsWith('st-key-')) : '';
    const element = el.closest('[data-testid^="st"]');
    return ' (in ' + (key || '') + ' ' + (element ? element.getAttribute('data-testid') : 'page') + ')';
  };
  if (window.__xss !== undefined) found.push('window.__xss = ' + window.__xss);
  for (const el of document.querySelectorAll('img')) {
    if ((el.getAttribute('src') || '') === 'x' || (el.getAttribute('onerror') || '').includes('__xss'))
      found.push('img: ' + el.outerHTML.slice(0, 160) + where(el));
  }
  for (const el of document.querySelectorAll('[onerror]')) found.push('onerror: ' + el.outerHTML.slice(0, 160) + where(el));
  for (const el of document.querySelectorAll('script')) {
    if (el.textContent.includes('__xss')) found.push('script: ' + el.outerHTML.slice(0, 160) + where(el));
  }
  for (const el of document.querySelectorAll('a')) {
    const href = (el.getAttribute('href') || el.getAttribute('xlink:href') || '').trim().toLowerCase();
    if (href.includes('evil.example') || href.startsWith('javascript:'))
      found.push('link: ' + el.outerHTML.slice(0, 160) + where(el));
  }
  for (const el of document.querySelectorAll('strong, b')) {
    if (el.textContent.trim() === 'bold') found.push('bold: ' + el.outerHTML.slice(0, 160) + where(el));
  }
  return found;
}"""


def _csv(rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _train(settings: Settings, db, admin: Actor, project_id: int) -> int:
    run = request_retrain(db, admin, project_id, FAST_PRESET, "fast")
    worker = TrainingWorker(settings, db, worker_id="xss-test", classifiers=FakeFactory())
    assert worker.claim_next(run.id) == run.id
    assert worker.execute(run.id) == RunStatus.succeeded
    return run.id


def _hostile_project(data_dir: Path) -> int:
    """The project, its accounts and two model versions, made through core before the server starts."""
    settings = Settings.from_env({"DATA_DIR": str(data_dir), "WORKER_AUTOSTART": "0"})
    db = open_database(settings)
    create_user(db, CLI_ACTOR, ADMIN_NAME, "admin", E2E_PASSWORD)
    create_user(db, CLI_ACTOR, MODERATOR_NAME, "moderator", E2E_PASSWORD)
    create_user(db, CLI_ACTOR, SECOND_MODERATOR, "moderator", E2E_PASSWORD)
    admin = Actor(ADMIN_NAME, Role.admin)
    project = create_project(
        db, admin, PAYLOAD, LABELS, description=f"About: {PAYLOAD}", test_fraction=0.25,
        guidelines=f"Rules: {PAYLOAD}\n# not a heading\n- not a list",
        content_note=f"Content note: {PAYLOAD}\nsecond line",
    )
    rows = []
    for value, texts in ((1, VIOLENT), (0, OTHER)):
        for i, text in enumerate(texts):
            rows.append({"text": f"{text} {PAYLOAD}", "label": str(value), "split": "test" if i % 4 == 0 else "train",
                         "document": DOC_ID, "annotator": ANNOTATOR_A})
    # A second annotator disagrees on one sentence: Check labels lists it with both names.
    rows.append({**rows[1], "label": "0", "annotator": ANNOTATOR_B})
    # A moderator's slip on a violent test sentence: the model disagrees, so it is "misclassified".
    rows[4]["label"] = "0"
    rows.append({"text": f"An unlabelled sentence about the weekend. {PAYLOAD}", "label": "", "split": "train",
                 "document": DOC_ID, "annotator": ""})
    commit_import(db, admin, project.id, parse_file(_csv(rows), "seed.csv"))
    with db.read() as session:
        sentences = {s.text: (s.id, s.label, s.split.value) for s in session.query(Sentence)}
    first_id = sentences[rows[0]["text"]][0]
    save_label(db, admin, first_id, 1, note=f"Note: {PAYLOAD}")

    first = _train(settings, db, admin, project.id)
    # The second version learns every train label the other way round, so its predictions flip
    # (Compare lists them); it is made the active one by hand.
    flipped = {sid: 1 - label for sid, label, split in sentences.values() if label is not None and split == "train"}
    # Changed by the same annotator who gave them: two people's different labels would be a dispute,
    # left out of training until an admin decides.
    save_labels(db, Actor(ANNOTATOR_A, Role.admin), project.id, flipped)
    second = _train(settings, db, admin, project.id)
    set_active(db, admin, project.id, second, "promoted by hand")
    assert get_run(db, first).status == RunStatus.succeeded
    # A model card that quotes the project's sentences, as SetFit's does (the fake writes none).
    card = f"---\nlanguage: en\n---\n# Model card\n\nExample: {PAYLOAD}\n\nLabels: {LABELS[1]}\n"
    (Path(get_run(db, second).model_dir) / "README.md").write_text(card, encoding="utf-8")
    db.dispose()
    return project.id


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("xss") / "data"
    project_id = _hostile_project(data_dir)
    server = StreamlitServer(data_dir, {"WORKER_AUTOSTART": "0"})
    yield server, project_id
    server.stop()


@pytest.fixture(scope="module")
def shots(test_output) -> Path:
    folder = test_output / "xss"
    folder.mkdir(exist_ok=True)
    return folder


def _sign_in(page, server) -> None:
    """The real sign-in form, as tests/e2e/conftest.py's sign_in, but leaving the content note unread."""
    page.set_viewport_size({"width": 1280, "height": 1800})  # the whole page in each screenshot
    open_page(page, f"{server.url}/", SIGN_IN_READY)
    page.locator("input[aria-label='Name']").fill(ADMIN_NAME)
    page.locator("input[aria-label='Password']").fill(E2E_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector(SIGNED_IN, state="visible", timeout=60_000)
    wait_for_app_idle(page)
    deadline = time.monotonic() + 10
    while not has_login_cookie(page):
        assert time.monotonic() < deadline, "the login cookie never arrived"
        page.wait_for_timeout(50)  # polling the browser's cookie jar, which has no event to wait on


def _open(page, server, path: str, ready: str = "[data-testid='stMain']") -> None:
    _sign_in(page, server)
    open_page(page, f"{server.url}/{path}", ready)
    note = page.locator(".st-key-content-note-ok button")
    if note.count():  # a page opened before the Label page's test read the note
        note.click()
        wait_for_app_idle(page)


def _settle(page) -> None:
    wait_for_app_idle(page)
    # An <img onerror> fires after the image fails to load: let the network go quiet first.
    page.wait_for_load_state("networkidle")


def _assert_clean(page, where: str) -> None:
    _settle(page)
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    found = page.evaluate(INJECTED)
    assert found == [], f"user text became HTML or Markdown on {where}:\n" + "\n".join(found)


def _shows_literally(locator, *texts: str) -> None:
    """Each text reads as written in what `locator` shows. Escaped text carries invisible word joiners
    before web and e-mail addresses (ui/common.py safe_text): the reader sees the same characters."""
    expect(locator.first).to_be_visible()
    shown = " ".join(locator.evaluate_all("els => els.map(e => e.innerText).join(' ')").replace(WORD_JOINER, "").split())
    for text in texts:
        assert text in shown, f"{text!r} is not shown as written in {shown[:600]!r}"


def _expand(page, title: str) -> None:
    expander = page.get_by_test_id("stExpander").filter(has_text=title)
    expander.locator("summary").click()
    # It opens with an animation; the screenshot should show the whole body, so wait for it to end.
    expander.evaluate("""async el => {
      for (let round = 0; round < 20; round++) {  // an animation cut short by another: wait for that one too
        const running = el.getAnimations({subtree: true});
        if (!running.length) return;
        await Promise.all(running.map(a => a.finished.catch(() => null)));
      }
    }""")
    wait_for_app_idle(page)


def _sidebar(page):
    return page.get_by_test_id("stSidebar")


def _main(page):
    return page.locator("[data-testid='stMain']")


def test_label_page_content_note_sentence_guidelines_and_buttons(hostile_server, page, shots):
    server, _ = hostile_server
    _sign_in(page, server)
    page.wait_for_selector(CONTENT_NOTE_READY, state="visible", timeout=60_000)
    _assert_clean(page, "the content note")
    note = page.locator(".st-key-content-note")
    _shows_literally(note, "Content note: " + SCRIPT, IMG, LINK, BOLD, JS_LINK, "second line")
    expect(_sidebar(page)).to_contain_text(f"Signed in as {ADMIN_NAME} · admin")
    page.screenshot(path=str(shots / "content-note.png"), full_page=True)
    page.get_by_role("button", name="I have read this: start labelling").click()
    page.wait_for_selector(LABEL_PAGE_READY, state="visible", timeout=60_000)

    _shows_literally(page.locator(".st-key-sentence"), PAYLOAD)
    _shows_literally(page.locator(".st-key-card"), f"Document {DOC_ID}")
    _expand(page, "Labelling guidelines")
    _assert_clean(page, "the Label page")
    page.screenshot(path=str(shots / "label.png"), full_page=True)
    # pages/label.py: the guidelines and the label buttons must read as written.
    _shows_literally(_main(page), f"Rules: {PAYLOAD}", "# not a heading")
    _shows_literally(page.locator(".st-key-label-0 button"), LABELS[0])
    _shows_literally(page.locator(".st-key-label-1 button"), LABELS[1])


def test_table_page(hostile_server, page, shots):
    server, _ = hostile_server
    _open(page, server, "table", ".st-key-table_save")
    _assert_clean(page, "the Table page")
    _shows_literally(_sidebar(page), LABELS[0], LABELS[1], f"Signed in as {ADMIN_NAME}")
    page.screenshot(path=str(shots / "table.png"), full_page=True)


def test_check_labels_page(hostile_server, page, shots):
    server, _ = hostile_server
    _open(page, server, "check", ".st-key-check-card")
    _assert_clean(page, "the Check labels page")
    page.screenshot(path=str(shots / "check.png"), full_page=True)
    _shows_literally(page.locator(".st-key-check-card"), PAYLOAD)
    # pages/check.py: the Keep / Change to buttons carry label names.
    _shows_literally(page.locator(".st-key-check-buttons"), "Change to ", LINK)


def test_predictions_page_with_a_sentence_picked(hostile_server, page, shots):
    server, _ = hostile_server
    _open(page, server, "predictions", ".st-key-pred-table-0")
    _assert_clean(page, "the Predictions page")
    grid = page.locator(".st-key-pred-table-0")
    box = grid.bounding_box()
    # The table is drawn on a canvas: pick the first row by clicking its selection cell.
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)
    page.wait_for_selector(".st-key-pred-detail", state="visible", timeout=30_000)
    _assert_clean(page, "the Predictions page with a sentence picked")
    detail = page.locator(".st-key-pred-detail")
    _shows_literally(detail, PAYLOAD)
    _shows_literally(page.locator(".st-key-pred-accept button"), "Accept: ", LINK)
    _shows_literally(page.locator(".st-key-pred-label-0 button"), LABELS[0])
    page.screenshot(path=str(shots / "predictions.png"), full_page=True)


def test_evaluation_page_lists_model_card_and_threshold(hostile_server, page, shots):
    server, _ = hostile_server
    _open(page, server, "evaluation", ".st-key-misclassified")
    _expand(page, "Model card")
    _assert_clean(page, "the Evaluation page")
    _shows_literally(page.locator(".st-key-misclassified"), PAYLOAD)
    _shows_literally(page.locator(".st-key-misclassified [data-testid='stButton']").first, "→ ", LINK)
    _shows_literally(page.get_by_test_id("stExpander").filter(has_text="Model card"), f"Example: {PAYLOAD}")
    _shows_literally(_main(page), f"Target: recall of '{LABELS[1]}' at least", f"true: {LABELS[0]}")
    page.screenshot(path=str(shots / "evaluation.png"), full_page=True)


def test_compare_page_lists_flipped_predictions(hostile_server, page, shots):
    server, _ = hostile_server
    _open(page, server, "compare", ".js-plotly-plot")
    _assert_clean(page, "the Compare page")
    _shows_literally(_main(page), "sentence(s) whose prediction flipped", PAYLOAD)
    page.screenshot(path=str(shots / "compare.png"), full_page=True)


def test_train_page_and_the_model_download_name(hostile_server, page, shots):
    server, project_id = hostile_server
    _open(page, server, "train", ".st-key-download-model")
    _assert_clean(page, "the Train page")
    _shows_literally(_sidebar(page), LABELS[1])
    with page.expect_download() as download:
        page.locator(".st-key-download-model button").click()
    assert download.value.suggested_filename == f"project-{project_id}-model-v2.zip"
    page.screenshot(path=str(shots / "train.png"), full_page=True)


def test_import_and_export_page(hostile_server, page, shots):
    server, project_id = hostile_server
    _open(page, server, "data", ".st-key-import_file")
    _shows_literally(_main(page), f"Into {PAYLOAD}.")
    upload = _csv([
        {"text": f"Uploaded {PAYLOAD}", "label": "1", f"notes {IMG}": "x"},
        {"text": f"Unknown label {PAYLOAD}", "label": LINK, f"notes {IMG}": "y"},
    ])
    page.locator(".st-key-import_file input[type='file']").set_input_files(
        files=[{"name": UPLOAD_NAME, "mimeType": "text/csv", "buffer": upload}])
    page.wait_for_selector(".st-key-import_rejects", state="visible", timeout=30_000)
    _assert_clean(page, "the Import tab's preview")
    _shows_literally(_main(page), f"Ignored columns: notes {IMG}")
    page.screenshot(path=str(shots / "data-import.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download rejected rows").click()
    assert download.value.suggested_filename == f"project-{project_id}-rejected-rows.csv"
    page.get_by_role("button", name="Import 1 sentence(s)").click()
    expect(page.get_by_text("Added 1 sentences", exact=False)).to_be_visible()
    _assert_clean(page, "the Import tab after importing")

    page.get_by_role("tab", name="Export").click()
    page.get_by_role("button", name="Prepare export").click()
    name = f"project-{project_id}-annotations.csv"
    button = page.get_by_role("button", name=f"Download {name}")
    expect(button).to_be_visible()
    with page.expect_download() as download:
        button.click()
    assert download.value.suggested_filename == name
    page.get_by_role("tab", name="This project").click()
    _assert_clean(page, "the Import & export page")
    page.screenshot(path=str(shots / "data-project.png"), full_page=True)


def test_assignments_and_agreement_page(hostile_server, page, shots):
    server, _ = hostile_server
    _open(page, server, "team", "[data-testid='stFormSubmitButton']")
    page.get_by_role("button", name="Assign unassigned sentences").click()
    notice = page.get_by_test_id("stAlert").filter(has_text="Assigned ")
    expect(notice).to_be_visible()
    _assert_clean(page, "the Assignments & agreement page")
    _shows_literally(notice, f"{MODERATOR_NAME} ", f"{SECOND_MODERATOR} ")
    page.screenshot(path=str(shots / "team.png"), full_page=True)


def test_users_and_audit_log_page(hostile_server, page, shots):
    server, _ = hostile_server
    _open(page, server, "users", ".st-key-audit-table")
    page.get_by_role("combobox", name="Account").click()
    page.get_by_role("option", name=MODERATOR_NAME).click()
    wait_for_app_idle(page)
    page.get_by_role("button", name="Disable", exact=True).click()
    expect(page.get_by_test_id("stAlert").filter(has_text="is disabled")).to_be_visible()
    _assert_clean(page, "the Users & audit log page")
    _shows_literally(page.get_by_test_id("stAlert").filter(has_text="is disabled"),
                     f"{MODERATOR_NAME} is disabled; their open sessions have ended.")
    page.screenshot(path=str(shots / "users.png"), full_page=True)
