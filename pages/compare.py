"""Compare two model versions: metric deltas, both confusion matrices, and the predictions that flipped."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import AppError
from core.review import compare_runs
from ui.charts import confusion_heatmap
from ui.auth import require_actor
from ui.common import get_db, require_project, show_error
from ui.review import choose_run, relabel_list, show_review_error

project = require_project()
actor = require_actor()
db = get_db()
names = [label.name for label in project.labels]

st.caption("Two versions side by side: what changed in the metrics, and which sentences the newer one sees differently.")
left, right = st.columns(2)
with left:
    run_a = choose_run(project, key="cmp_a", label="Version A", default_offset=1)
with right:
    run_b = choose_run(project, key="cmp_b", label="Version B")
if run_a.id == run_b.id:
    st.info("Pick two different versions.")
    st.stop()
try:
    comparison = compare_runs(db, run_a.id, run_b.id, viewer=actor.name)
except AppError as error:
    show_error(error)
    st.stop()

deltas = pd.DataFrame(
    [{"metric": k, "A": None, "B": None, "B − A": round(v, 4)} for k, v in comparison.deltas.items()]
)
deltas.loc[0, ["A", "B"]] = [round(comparison.a.metrics["accuracy"], 4), round(comparison.b.metrics["accuracy"], 4)]
st.dataframe(deltas, hide_index=True, width="stretch", key="cmp-deltas")
with st.container(key="cmp-verdict"):
    interval = comparison.shared_interval
    if interval is None:
        st.caption("No test sentence scored by both versions: nothing to compare them on.")
    elif comparison.tells_apart:
        st.caption(f"On the {comparison.n_shared} test sentences both scored, B − A accuracy is "
                   f"{comparison.shared_delta:+.3f} (95% interval {interval.low:+.3f} to {interval.high:+.3f}): "
                   f"version {run_b.version if comparison.shared_delta > 0 else run_a.version} is better.")
    else:
        st.warning(f"On the {comparison.n_shared} test sentences both scored, B − A accuracy is "
                   f"{comparison.shared_delta:+.3f} with a 95% interval of {interval.low:+.3f} to {interval.high:+.3f}, "
                   "which holds 0: this test split is too small to tell the two versions apart. "
                   "Label more test sentences before choosing on accuracy.", icon=":material/balance:")
normalized = st.toggle("Row-normalized", key="cmp_norm")
left, right = st.columns(2)
left.plotly_chart(confusion_heatmap(comparison.a.metrics["confusion"], names, normalized, f"Version {run_a.version}"), key="cmp-a")
right.plotly_chart(confusion_heatmap(comparison.b.metrics["confusion"], names, normalized, f"Version {run_b.version}"), key="cmp-b")

st.subheader(f"{len(comparison.flipped)} sentence(s) whose prediction flipped")
flipped = comparison.flipped.assign(
    a=[names[int(v)] for v in comparison.flipped["predicted_a"]],
    b=[names[int(v)] for v in comparison.flipped["predicted_b"]],
)
show_review_error()
relabel_list(flipped, project, actor, key="flip",
             extra_columns={"a": f"v{run_a.version} predicted", "b": f"v{run_b.version} predicted", "split": "split"})
