"""RunMetrics keeps the metrics_json shape the pages, the CLI and older rows use."""
from __future__ import annotations

import json

import pytest

from core.run_metrics import LabelMetrics, RunMetrics


def test_measured_metrics_serialize_to_the_shape_the_pages_read():
    metrics = RunMetrics.measured([0, 0, 0, 1, 1], [0, 1, 0, 1, 0], [0, 1], train_seconds=12.3456, n_eval_pairs=21)
    assert metrics.accuracy == pytest.approx(0.6) and metrics.confusion == ((2, 1), (1, 1))
    assert metrics.for_label(1) == LabelMetrics(1, 0.5, 0.5, 0.5, 2)
    data = json.loads(json.dumps(metrics.to_dict()))
    assert data == {
        "train_seconds": 12.35, "accuracy": 0.6, "n_test": 5, "labels": [0, 1],
        "per_label": {"0": {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3},
                      "1": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}},
        "confusion": [[2, 1], [1, 1]], "n_eval_pairs": 21,
    }
    assert RunMetrics.from_dict(data) == RunMetrics.measured([0, 0, 0, 1, 1], [0, 1, 0, 1, 0], [0, 1],
                                                             train_seconds=12.35, n_eval_pairs=21)


def test_a_run_without_test_sentences_stores_only_its_training_time():
    assert RunMetrics(train_seconds=3.14159).to_dict() == {"train_seconds": 3.14}
    assert RunMetrics.from_dict({"train_seconds": 3.14}).accuracy is None


def test_a_row_written_before_the_optional_fields_existed_still_reads():
    old = {"train_seconds": 8.1, "accuracy": 0.75, "n_test": 4, "labels": [0, 1],
           "per_label": {"0": {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2},
                         "1": {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}},
           "confusion": [[1, 1], [0, 2]]}
    metrics = RunMetrics.from_dict(old)
    assert metrics.n_eval_pairs is None and metrics.phase_seconds == ()
    assert metrics.to_dict() == old  # read and written back unchanged
