"""The served web process freezes its start-up heap, so Streamlit's collection after each run is cheap
(see ui/heap.py; measured by bench/bench_latency.py), and freezing still imports nothing heavy."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = r"""
import gc, sys
import server  # what `streamlit run server.py` imports: builds st.App and freezes the heap
frozen = gc.get_freeze_count()
young = len(gc.get_objects())  # what a full collection still walks
heavy = sorted(m for m in ("torch", "setfit", "transformers", "sentence_transformers") if m in sys.modules)
print(f"FROZEN:{frozen} YOUNG:{young} HEAVY:{','.join(heavy)} PANDAS:{'pandas' in sys.modules}")
"""


def test_server_freezes_the_libraries_the_pages_use_and_no_heavy_ones(tmp_path):
    env = {"DATA_DIR": str(tmp_path / "data"), "WORKER_AUTOSTART": "0", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    fields = dict(part.split(":", 1) for part in result.stdout.strip().splitlines()[-1].split(" "))
    assert fields["HEAVY"] == ""
    assert fields["PANDAS"] == "True"
    # ~200,000 objects from pandas, plotly, scikit-learn, SciPy and SQLAlchemy are frozen; almost none left.
    assert int(fields["FROZEN"]) > 100_000
    assert int(fields["YOUNG"]) < int(fields["FROZEN"]) // 20
