"""The Import tab in a real browser: a semicolon CSV with a stray quote, a spreadsheet's UTF-16 "Unicode
text" export a Windows-1252 file and a Label Studio export are uploaded; the preview says how each was read and counts the
rows; the import lands the sentences in the Table page. Screenshots go to test-output/."""
from __future__ import annotations

import codecs

import pytest
from playwright.sync_api import expect

from core.config import Settings
from core.db import open_database
from core.projects import create_project
from tests.e2e.conftest import StreamlitServer, signed_in_page, wait_for_app_idle
from tests.helpers import ADMIN

pytestmark = pytest.mark.e2e

SEMICOLON = (b"text;label\r\nHe punched the driver, twice;violence\r\nThe bus was late again;other\r\n"
             b'"He said stop;violence\r\nShe kicked the door in;violence\r\n')
UTF16 = codecs.BOM_UTF16_LE + "text\tlabel\r\nCafé brawl after the match\tviolence\r\nNaïve question about the rota\tother\r\n".encode("utf-16-le")
CP1252 = "text,label\nThe café owner was beaten outside,violence\n".encode("cp1252")
LABEL_STUDIO = (b"annotation_id,annotator,id,sentiment,text\n7,3,101,violence,He threw a brick at the window.\n"
                b"8,3,102,Other,The library closes at six.\n")
IMPORT_READY = ".st-key-import_file"


@pytest.fixture
def import_server(tmp_path):
    data_dir = tmp_path / "data"
    # A project of our own, so the app's first start does not create the demo project.
    db = open_database(Settings.from_env({"DATA_DIR": str(data_dir), "WORKER_AUTOSTART": "0"}))
    create_project(db, ADMIN, "Imports", ["other", "violence"])
    db.dispose()
    server = StreamlitServer(data_dir, {"WORKER_AUTOSTART": "0"})
    yield server
    server.stop()


def _upload(page, path) -> None:
    page.locator(".st-key-import_file input[type='file']").set_input_files(str(path))
    page.get_by_role("button", name="Import", exact=False).last.wait_for(state="visible")
    wait_for_app_idle(page)


def _import(page, button: str) -> None:
    page.get_by_role("button", name=button).click()
    expect(page.get_by_text("Added ", exact=False)).to_be_visible()
    wait_for_app_idle(page)


def test_upload_preview_and_import_semicolon_utf16_and_cp1252_files(import_server, page, tmp_path, test_output):
    (tmp_path / "semicolon.csv").write_bytes(SEMICOLON)
    (tmp_path / "Unicode Text.txt").write_bytes(UTF16)
    (tmp_path / "windows.csv").write_bytes(CP1252)
    (tmp_path / "project-1-at-2024.csv").write_bytes(LABEL_STUDIO)
    page.set_viewport_size({"width": 1280, "height": 1500})  # the whole preview in each screenshot
    signed_in_page(page, import_server, "data", IMPORT_READY)

    _upload(page, tmp_path / "semicolon.csv")
    expect(page.get_by_text("Read as CSV, semicolon-separated · encoding UTF-8")).to_be_visible()
    expect(page.get_by_text("4 rows read, 1 rejected")).to_be_visible()
    rejects = page.locator(".st-key-import_rejects")
    expect(rejects).to_be_visible()
    page.screenshot(path=str(test_output / "import-semicolon-preview.png"), full_page=True)
    _import(page, "Import 3 sentence(s)")
    expect(page.get_by_text("Added 3 sentences, merged 0 duplicates, recorded 3 labels, rejected 1 rows.")).to_be_visible()

    _upload(page, tmp_path / "Unicode Text.txt")
    expect(page.get_by_text("Read as TSV, tab-separated · encoding UTF-16 LE (byte-order mark)")).to_be_visible()
    expect(page.get_by_text("2 rows read, 0 rejected")).to_be_visible()
    page.screenshot(path=str(test_output / "import-utf16-preview.png"), full_page=True)
    _import(page, "Import 2 sentence(s)")

    _upload(page, tmp_path / "windows.csv")
    expect(page.get_by_text("Detected encoding: cp1252 (not UTF-8)", exact=False)).to_be_visible()
    button = page.get_by_role("button", name="Import 1 sentence(s)")
    expect(button).to_be_disabled()
    page.screenshot(path=str(test_output / "import-cp1252-confirm.png"), full_page=True)
    page.get_by_role("combobox", name="Encoding").click()  # another encoding re-reads the preview
    page.get_by_role("option", name="latin_1").click()
    wait_for_app_idle(page)
    expect(page.get_by_text("encoding iso8859-1 (as chosen)", exact=False)).to_be_visible()
    expect(button).to_be_disabled()
    page.get_by_text("The sentences above read right in iso8859-1").click()
    wait_for_app_idle(page)
    expect(button).to_be_enabled()
    _import(page, "Import 1 sentence(s)")

    _upload(page, tmp_path / "project-1-at-2024.csv")
    expect(page.get_by_text("There is no label column, but 'sentiment' holds only this project's label names",
                            exact=False)).to_be_visible()
    expect(page.get_by_text("Ignored columns: annotation_id, id, sentiment")).to_be_visible()
    page.get_by_role("combobox", name="Labels from column").click()
    page.get_by_role("option", name="sentiment").click()
    wait_for_app_idle(page)
    expect(page.get_by_text("Labels in the file: other: 1, violence: 1")).to_be_visible()
    expect(page.get_by_text("Ignored columns: annotation_id, id")).to_be_visible()
    page.screenshot(path=str(test_output / "import-label-studio.png"), full_page=True)
    _import(page, "Import 2 sentence(s)")

    page.goto(f"{import_server.url}/table")
    wait_for_app_idle(page)
    expect(page.get_by_text("Page 1 of 1 · 8 sentences")).to_be_visible()
    grid = page.get_by_test_id("stDataFrame")
    for text in ("He punched the driver, twice", "She kicked the door in", "Café brawl after the match",
                 "Naïve question about the rota", "The café owner was beaten outside",
                 "He threw a brick at the window."):
        expect(grid.get_by_text(text, exact=True)).to_have_count(1)
    expect(grid.get_by_text("He said stop", exact=False)).to_have_count(0)
    page.screenshot(path=str(test_output / "import-table.png"), full_page=True)
