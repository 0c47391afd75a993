"""TORCH_DEVICE: CPU unless asked, auto/cpu/cuda taken in any case, anything else refused with the choices."""
from __future__ import annotations

import pytest

from core.config import Settings
from core.errors import ConfigError


def test_cpu_is_the_default(tmp_path):
    assert Settings.from_env({"DATA_DIR": str(tmp_path)}).torch_device == "cpu"


@pytest.mark.parametrize(("raw", "taken"), [("auto", "auto"), ("CUDA", "cuda"), (" cpu ", "cpu"), ("", "cpu")])
def test_auto_cpu_and_cuda_are_taken(tmp_path, raw, taken):
    assert Settings.from_env({"DATA_DIR": str(tmp_path), "TORCH_DEVICE": raw}).torch_device == taken


def test_another_device_is_refused_with_the_choices(tmp_path):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"DATA_DIR": str(tmp_path), "TORCH_DEVICE": "gpu"})
    assert str(refused.value) == "TORCH_DEVICE must be one of auto, cpu, cuda, got 'gpu'."


def test_the_worker_resolves_auto_to_cuda_only_where_torch_sees_a_gpu(monkeypatch):
    from core import setfit_adapter

    monkeypatch.setattr(setfit_adapter.torch.cuda, "is_available", lambda: False)
    assert [setfit_adapter.resolve_device(d) for d in ("auto", "cpu")] == ["cpu", "cpu"]
    monkeypatch.setattr(setfit_adapter.torch.cuda, "is_available", lambda: True)
    assert [setfit_adapter.resolve_device(d) for d in ("auto", "cpu", "cuda")] == ["cuda", "cpu", "cuda"]


def test_cuda_asked_for_on_a_machine_without_a_gpu_says_what_to_set(monkeypatch):
    from core import setfit_adapter

    monkeypatch.setattr(setfit_adapter.torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError) as refused:
        setfit_adapter.resolve_device("cuda")
    assert str(refused.value).startswith("TORCH_DEVICE=cuda, but torch sees no CUDA GPU on this machine")
    assert "TORCH_DEVICE=auto" in str(refused.value)
