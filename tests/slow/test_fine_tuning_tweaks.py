"""bf16 autocast and frozen word embeddings (the fast preset) leave a plain float32 model behind."""
from __future__ import annotations

import pytest
import torch

from core.classifier import TrainingHooks
from core.config import bundled_base_model_path
from core.params import FAST_PRESET
from core.setfit_adapter import SetFitClassifier, resolve_precision

pytestmark = pytest.mark.slow

TEXTS = ["a good film", "a bad film", "great acting", "awful plot", "lovely", "dreadful"] * 2
LABELS = [1, 0, 1, 0, 1, 0] * 2


def _train(tmp_path, **overrides: str) -> tuple[SetFitClassifier, torch.Tensor, torch.Tensor, str]:
    classifier = SetFitClassifier.from_base(bundled_base_model_path(), ["negative", "positive"],
                                            "sentence-transformers/all-MiniLM-L6-v2")
    encoder = classifier.model.model_body[0].auto_model
    embeddings = encoder.get_input_embeddings().weight.detach().clone()
    first_query = encoder.encoder.layer[0].attention.self.query.weight.detach().clone()
    params = FAST_PRESET.with_overrides({"max_steps": "3", "num_iterations": "1", **overrides})
    classifier.fit(TEXTS, LABELS, ["nice", "poor"], [1, 0], TrainingHooks(), params)
    classifier.save(tmp_path)
    return classifier, embeddings, first_query, (tmp_path / "README.md").read_text(encoding="utf-8")


def test_bf16_with_frozen_embeddings_trains_the_layers_and_restores_a_plain_model(tmp_path):
    classifier, embeddings, first_query, card = _train(tmp_path, precision="bf16", freeze_word_embeddings="true")
    encoder = classifier.model.model_body[0].auto_model
    assert torch.equal(encoder.get_input_embeddings().weight, embeddings)  # frozen during training
    assert encoder.get_input_embeddings().weight.requires_grad  # and trainable again after
    assert not torch.equal(encoder.encoder.layer[0].attention.self.query.weight, first_query)  # the rest trained
    assert "forward" not in vars(encoder)  # the autocast wrapper is gone: scoring runs in float32
    assert encoder.get_input_embeddings().weight.dtype == torch.float32
    probs = classifier.predict_proba(["a good film"])
    assert probs.dtype.kind == "f" and probs.shape == (1, 2)
    assert "bfloat16 autocast" in card and "word embeddings frozen at the base model" in card


def test_fp32_without_freezing_updates_the_embeddings_and_the_card_says_nothing_of_it(tmp_path):
    classifier, embeddings, _, card = _train(tmp_path, precision="fp32", freeze_word_embeddings="false")
    assert not torch.equal(classifier.model.model_body[0].auto_model.get_input_embeddings().weight, embeddings)
    assert "bfloat16" not in card and "frozen" not in card


def test_auto_precision_is_bf16_only_on_a_cpu_that_computes_it_natively(monkeypatch):
    import core.setfit_adapter as adapter

    monkeypatch.setattr(adapter, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", "cpu") == "bf16"
    assert resolve_precision("auto", "cuda") == "fp32"
    monkeypatch.setattr(adapter, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"  # asked for explicitly


def test_the_fast_preset_calibrates_the_head_and_the_saved_model_loads_with_setfit_as_it_scores(tmp_path):
    from setfit import SetFitModel
    from sklearn.calibration import CalibratedClassifierCV

    classifier, _, _, card = _train(tmp_path)  # the fast preset: calibrate_head on
    head = classifier.model.model_head
    assert isinstance(head, CalibratedClassifierCV)
    assert len(head.calibrated_classifiers_) == 5  # 6 train sentences per label: 5 folds
    assert "calibrated with Platt scaling" in card and "5 folds" in card
    texts = ["a good film", "dreadful acting"]
    loaded = SetFitModel.from_pretrained(str(tmp_path))  # the zip a user downloads, as it is
    import numpy as np

    assert np.allclose(loaded.predict_proba(texts).numpy(), classifier.predict_proba(texts), atol=1e-6)


def test_without_calibration_the_head_stays_setfits_logistic_regression(tmp_path):
    from sklearn.linear_model import LogisticRegression

    classifier, _, _, card = _train(tmp_path, calibrate_head="false")
    assert type(classifier.model.model_head) is LogisticRegression
    assert "calibrated" not in card


def test_a_label_with_one_train_sentence_keeps_the_head_as_trained_and_says_so(tmp_path):
    from sklearn.linear_model import LogisticRegression

    classifier = SetFitClassifier.from_base(bundled_base_model_path(), ["negative", "positive"],
                                            "sentence-transformers/all-MiniLM-L6-v2")
    params = FAST_PRESET.with_overrides({"max_steps": "2", "num_iterations": "1"})
    classifier.fit(["a good film", "great acting", "lovely", "awful plot"], [1, 1, 1, 0], [], [], TrainingHooks(), params)
    classifier.save(tmp_path)
    assert type(classifier.model.model_head) is LogisticRegression
    assert "not calibrated: a label has fewer than 2 train sentences" in (tmp_path / "README.md").read_text(encoding="utf-8")
