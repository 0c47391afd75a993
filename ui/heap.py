"""Keep the web process's long-lived objects out of the garbage collector's way.

Streamlit runs a full collection, `gc.collect(2)`, after every script run (`runner.postScriptGC`,
on by default to bound memory). It holds the GIL meanwhile, so the deltas the run has already
produced wait for it before they reach the browser. With the libraries the pages use imported
(pandas, plotly, scikit-learn, SciPy, SQLAlchemy: ~200,000 tracked objects) one collection took
~100 ms, paid on every key press of the Label page (`bench/bench_latency.py` found key press →
next sentence bimodal, ~70 ms or ~210 ms). `gc.freeze()` (Python ≥ 3.7, the documented remedy for
this pattern) moves the objects that exist at start-up into a permanent generation the collector
skips; what runs create is still collected as before.
"""
from __future__ import annotations

import gc
import importlib

# What the pages import on their first run, loaded once at start-up so that it is frozen too.
# Never torch, setfit or transformers: the web process stays light (tests/app/test_light_web_process.py).
PAGE_MODULES = (
    "pandas",
    "plotly.graph_objects",
    "scipy.stats",
    "sklearn.metrics",
    "sklearn.calibration",
    "sklearn.linear_model",
    "ui.auth",
    "ui.care",
    "ui.charts",
    "ui.common",
    "ui.estimate",
    "ui.import_preview",
    "ui.pairs",
    "ui.review",
    "core.agreement",
    "core.assignments",
    "core.auto_retrain",
    "core.estimate",
    "core.evaluation",
    "core.exporting",
    "core.importing",
    "core.labeling",
    "core.review",
    "core.runs",
    "core.suggestions",
)


def freeze_startup_heap() -> int:
    """Import what the pages use, then freeze every object alive now (see the module docstring).

    Returns the number of objects frozen (`gc.get_freeze_count()`). Call once, at server start.
    """
    for name in PAGE_MODULES:
        importlib.import_module(name)
    gc.collect()  # garbage from the imports goes now, not into the permanent generation
    gc.freeze()
    return gc.get_freeze_count()
