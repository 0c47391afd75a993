"""The Streamlit process never imports torch, setfit or transformers: every page renders without them."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = r"""
import sys
from streamlit.testing.v1 import AppTest
from core.accounts import create_user
from core.permissions import CLI_ACTOR
from core.sessions import start_session
from ui.auth import TOKEN_KEY
from ui.common import get_db

pages = ["pages/label.py", "pages/table.py", "pages/check.py", "pages/train.py", "pages/predictions.py",
         "pages/evaluation.py", "pages/compare.py", "pages/data.py", "pages/team.py", "pages/users.py"]
at = AppTest.from_file("app.py", default_timeout=60)
at.run()  # signed out: the first-admin page
assert not at.exception, at.exception
at.session_state[TOKEN_KEY] = start_session(get_db(), create_user(get_db(), CLI_ACTOR, "light", "admin", "long password").id)
at.run()
for page in pages:
    at.switch_page(page).run()
    assert not at.exception, (page, at.exception)
heavy = sorted(m for m in ("torch", "setfit", "transformers", "sentence_transformers", "datasets") if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
"""


def test_pages_render_without_importing_torch_or_setfit(tmp_path):
    env = {"DATA_DIR": str(tmp_path / "data"), "WORKER_AUTOSTART": "0", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "HEAVY:\n" in result.stdout or result.stdout.strip().endswith("HEAVY:"), result.stdout
