"""The backend rule of core/onnx_scorer.py on measured figures: fastest agreeing ONNX backend, else fp32."""
from __future__ import annotations

import numpy as np

from core.onnx_scorer import Backend, BackendChoice, BackendMeasurement, _errors, _margins, pick_backend

TORCH = BackendMeasurement(Backend.TORCH, 1.0, 100.0)


def test_the_fastest_backend_that_agrees_enough_is_picked():
    fp32 = BackendMeasurement(Backend.ONNX, 1.0, 200.0)
    int8 = BackendMeasurement(Backend.ONNX_INT8, 0.996, 350.0, rechecked=0.08)
    assert pick_backend([TORCH, fp32, int8]) is int8


def test_int8_below_the_agreement_bar_leaves_fp32():
    fp32 = BackendMeasurement(Backend.ONNX, 1.0, 200.0)
    int8 = BackendMeasurement(Backend.ONNX_INT8, 0.994, 350.0)
    assert pick_backend([TORCH, fp32, int8]) is fp32


def test_fp32_is_kept_when_no_onnx_backend_agrees_enough():
    fp32 = BackendMeasurement(Backend.ONNX, 0.98, 200.0)
    int8 = BackendMeasurement(Backend.ONNX_INT8, 0.95, 350.0)
    assert pick_backend([TORCH, fp32, int8]) is fp32


def test_a_slower_int8_loses_to_fp32():
    fp32 = BackendMeasurement(Backend.ONNX, 1.0, 300.0)
    int8 = BackendMeasurement(Backend.ONNX_INT8, 1.0, 250.0)
    assert pick_backend([TORCH, fp32, int8]) is fp32


def test_torch_without_onnx_measurements():
    assert pick_backend([TORCH]) is TORCH


def test_summary_line_names_backend_agreement_and_speedup():
    choice = BackendChoice(Backend.ONNX_INT8, 0.9975, 350.0, 3.5, 400, 0.3, (TORCH,))
    assert choice.summary() == "onnx-int8: agrees with torch on 99.8% of 400 sentences, 3.5x torch"
    assert BackendChoice(Backend.ONNX, 1.0, 200.0, None, 40, None, (TORCH,)).summary() == \
        "onnx: agrees with torch on 100.0% of 40 sentences"


def test_margin_is_the_log_gap_between_the_two_likeliest_labels():
    assert np.allclose(_margins(np.array([[0.5, 0.5], [0.8, 0.2]])), [0.0, np.log(4.0)])
    assert np.allclose(_margins(np.array([[0.1, 0.2, 0.7]])), [np.log(3.5)])


def test_error_is_the_largest_change_of_any_log_gap():
    a = np.array([[0.8, 0.2]])
    b = np.array([[0.5, 0.5]])
    # log(0.8/0.2) - log(0.5/0.5): the gap moved by log 4
    assert np.allclose(_errors(a, b), [np.log(4.0)])
    assert np.allclose(_errors(a, a), [0.0])
