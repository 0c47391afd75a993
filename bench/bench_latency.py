"""What a moderator feels, measured in a real browser against `streamlit run` with its own worker.

    python bench/bench_latency.py [--presses 20]

1. Key press → next sentence shown on the Label page (median over N presses), against a full page
   reload → sentence shown (the baseline a non-fragment page would pay).
2. Retrain click → new version active on the Train page, for the demo project with the fast preset,
   against the SetFit training time inside that run (so the ratio is the app's overhead).
Needs Debian's chromium (`/usr/bin/chromium`) and Playwright, as the e2e tests do.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.e2e.conftest import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    LABEL_PAGE_READY,
    StreamlitServer,
    signed_in_page,
    wait_for_app_idle,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presses", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = StreamlitServer(Path(tmp) / "data", {"WORKER_AUTOSTART": "1"})
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                signed_in_page(page, server, "", LABEL_PAGE_READY, name="bench")  # through the sign-in form
                sentence = page.locator(".st-key-sentence")
                press_ms = []
                for i in range(args.presses):
                    before = sentence.inner_text()
                    sentence.click()
                    started = time.perf_counter()
                    page.keyboard.press("1" if i % 3 else "2")
                    try:
                        page.wait_for_function(
                            "b => { const e = document.querySelector('.st-key-sentence'); return e && e.innerText !== b; }",
                            arg=before, polling="raf")
                    except Exception:
                        page.screenshot(path="bench/output/latency-failure.png", full_page=True)
                        raise
                    press_ms.append((time.perf_counter() - started) * 1000)
                    wait_for_app_idle(page)
                reload_ms = []
                for _ in range(5):
                    started = time.perf_counter()
                    page.reload()
                    sentence.wait_for()
                    reload_ms.append((time.perf_counter() - started) * 1000)
                    wait_for_app_idle(page)
                p, r = statistics.median(press_ms), statistics.median(reload_ms)
                print(f"key press -> next sentence: median {p:.0f} ms (p90 {sorted(press_ms)[int(len(press_ms) * 0.9) - 1]:.0f} ms, n={len(press_ms)})")
                print(f"baseline page reload -> sentence: median {r:.0f} ms   ratio {p / r:.2f}")

                page.goto(f"{server.url}/train")
                wait_for_app_idle(page)
                started = time.perf_counter()
                page.get_by_role("button", name="Retrain").click()
                page.get_by_text("Active model: version 1").wait_for(timeout=600_000)
                click_to_active = time.perf_counter() - started
            from core.config import Settings
            from core.db import open_database
            from core.runs import list_runs

            db = open_database(Settings.from_env({"DATA_DIR": str(server.data_dir)}), migrate=False)
            run = list_runs(db, 1)[0]
            train_s = run.metrics.get("train_seconds", float("nan"))
            print(f"retrain click -> version active: {click_to_active:.1f} s  (train {run.n_train} / test {run.n_test} labels, "
                  f"{run.progress_total} steps, accuracy {run.accuracy:.3f})")
            print(f"baseline SetFit training inside the run: {train_s:.1f} s   ratio {click_to_active / train_s:.2f}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
