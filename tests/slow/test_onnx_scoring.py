"""ONNX scoring (core/onnx_scorer.py) of a real, tiny SetFit model: the graph agrees with torch, int8 with its
fp32 recheck agrees, the backend choice follows the measured agreement, and a scoring process needs no torch.

One model is trained (4 steps) and exported for the whole module.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from core.config import Settings
from core.onnx_scorer import (
    Backend,
    OnnxExport,
    OnnxScorer,
    OnnxScoringError,
    calibrate_recheck_margin,
    choose_backend,
    export_onnx,
)
from core.params import FAST_PRESET
from tests.helpers import OTHER, ROOT, VIOLENT

pytestmark = pytest.mark.slow

TINY = FAST_PRESET.with_overrides({"max_steps": "4", "num_iterations": "1", "logging_steps": "1"})
UNSEEN = [
    "She pushed me so hard I fell over the chair.",
    "He twisted my wrist behind my back.",
    "They shouted at each other all night.",
    "He threatened to throw my phone in the river.",
    "I went back to work after two weeks off.",
    "The neighbours called the police last night.",
    "My mother says I should give him another chance.",
    "He slammed the door on my fingers.",
    "We moved to a smaller flat near the station.",
    "I started sleeping in the spare room.",
    "She bit my arm when I took the keys.",
    "Is there a helpline I can call at night?",
    "He kicked the dog and then me.",
    "I don't know who to trust any more.",
    "The bruises on my legs took weeks to fade.",
    "Nobody at work knows what happens at home.",
]
TEXTS = VIOLENT + OTHER + UNSEEN  # 40 sentences, 24 of them trained on


@dataclass(frozen=True)
class Exported:
    model_dir: Path
    export: OnnxExport
    torch_embeddings: np.ndarray
    torch_probs: np.ndarray


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Exported:
    from core.classifier import TrainingHooks
    from core.setfit_adapter import SetFitFactory

    settings = Settings.from_env({"DATA_DIR": str(tmp_path_factory.mktemp("onnx") / "data")})
    factory = SetFitFactory(settings.base_model, settings.base_model_name, settings.torch_threads)
    classifier = factory.new(["other", "physical violence"], TINY)
    classifier.fit(VIOLENT + OTHER, [1] * len(VIOLENT) + [0] * len(OTHER), [], [], TrainingHooks(), TINY)
    model_dir = settings.models_dir / "1"
    classifier.save(model_dir)
    export = export_onnx(model_dir, threads=settings.torch_threads)
    return Exported(model_dir, export, classifier.embed(TEXTS), classifier.predict_proba(TEXTS))


def _agreement(probs: np.ndarray, reference: np.ndarray) -> float:
    return float(np.mean(probs.argmax(axis=1) == reference.argmax(axis=1)))


def test_export_writes_the_graphs_tokenizer_head_manifest_and_readme(exported):
    onnx_dir = exported.model_dir / "onnx"
    assert exported.export.directory == onnx_dir and exported.export.fused
    assert sorted(p.name for p in onnx_dir.iterdir()) == [
        "README.md", "model-int8.onnx", "model.onnx", "model_head.pkl", "scoring.json", "tokenizer.json"]
    manifest = json.loads((onnx_dir / "scoring.json").read_text(encoding="utf-8"))
    assert manifest["labels"] == ["other", "physical violence"]
    assert manifest["max_seq_length"] == TINY.max_length == 256 and manifest["dimension"] == 384
    assert manifest["recheck_margin"] is None  # not calibrated until the project's sentences are seen
    # int8 weights: the graph shrinks from ~90 MB to under 60 MB (the embedding table stays fp32).
    assert (onnx_dir / "model-int8.onnx").stat().st_size < 0.7 * (onnx_dir / "model.onnx").stat().st_size


def test_fp32_graph_embeds_and_labels_like_torch(exported):
    scorer = OnnxScorer.load(exported.model_dir, Backend.ONNX)
    embeddings = scorer.embed(TEXTS)
    assert embeddings.shape == (40, 384) and embeddings.dtype == np.float32
    assert np.abs(embeddings - exported.torch_embeddings).max() < 1e-4
    cosine = (embeddings * exported.torch_embeddings).sum(axis=1)  # both are unit vectors
    assert cosine.min() > 1 - 1e-4
    probs = scorer.predict_proba(TEXTS)
    assert np.abs(probs - exported.torch_probs).max() < 1e-4
    assert _agreement(probs, exported.torch_probs) == 1.0


def test_int8_needs_a_calibrated_recheck_margin(exported, tmp_path):
    onnx_dir = tmp_path / "onnx"
    onnx_dir.mkdir()
    for name in ("scoring.json", "tokenizer.json", "model_head.pkl"):  # no graph is opened by load
        shutil.copyfile(exported.model_dir / "onnx" / name, onnx_dir / name)
    with pytest.raises(OnnxScoringError, match="no calibrated recheck margin yet; run"):
        OnnxScorer.load(onnx_dir, Backend.ONNX_INT8)


def test_int8_agrees_with_torch_once_texts_near_the_boundary_are_rechecked(exported):
    margin = calibrate_recheck_margin(exported.model_dir, TEXTS)
    assert margin > 0
    bare = OnnxScorer.load(exported.model_dir, Backend.ONNX_INT8)
    bare.recheck_margin = 0.0  # int8 as it comes
    assert _agreement(bare.predict_proba(TEXTS), exported.torch_probs) >= 0.9
    assert bare.last_rechecked == 0

    scorer = OnnxScorer.load(exported.model_dir, Backend.ONNX_INT8)
    assert scorer.recheck_margin == margin
    probs = scorer.predict_proba(TEXTS)
    assert _agreement(probs, exported.torch_probs) >= 39 / 40
    assert np.abs(probs - exported.torch_probs).max() < 0.1


def test_identical_texts_are_embedded_once_and_get_the_same_row(exported):
    scorer = OnnxScorer.load(exported.model_dir, Backend.ONNX)
    rows = scorer.embed([TEXTS[0], TEXTS[1], TEXTS[0]])
    assert np.array_equal(rows[0], rows[2])
    assert np.abs(rows[1] - exported.torch_embeddings[1]).max() < 1e-4
    assert scorer.embed([]).shape == (0, 384) and scorer.predict_proba([]).shape == (0, 2)


def test_probabilities_have_a_column_per_project_label_when_the_head_saw_fewer(exported, tmp_path):
    """A head fitted on labels 0 and 2 of three: label 1 gets probability 0 (core.classifier.align_proba)."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    onnx_dir = tmp_path / "onnx"
    shutil.copytree(exported.model_dir / "onnx", onnx_dir)
    manifest = json.loads((onnx_dir / "scoring.json").read_text(encoding="utf-8"))
    manifest["labels"] = ["other", "threat", "physical violence"]
    (onnx_dir / "scoring.json").write_text(json.dumps(manifest), encoding="utf-8")
    y = [2] * len(VIOLENT) + [0] * len(OTHER)
    joblib.dump(LogisticRegression().fit(exported.torch_embeddings[:24], y), onnx_dir / "model_head.pkl")

    probs = OnnxScorer.load(onnx_dir, Backend.ONNX).predict_proba(VIOLENT[:2] + OTHER[:2])
    assert probs.shape == (4, 3)
    assert probs[:, 1].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert probs.argmax(axis=1).tolist() == [2, 2, 0, 0]


def test_choose_backend_takes_a_fast_backend_that_agrees(exported):
    choice = choose_backend(exported.model_dir, TEXTS, exported.torch_probs, torch_seconds=1.0)
    assert [m.backend for m in choice.measurements] == [Backend.TORCH, Backend.ONNX, Backend.ONNX_INT8]
    assert choice.backend in (Backend.ONNX, Backend.ONNX_INT8) and choice.n_texts == 40
    fp32 = choice.measurements[1]
    assert fp32.agreement == 1.0 and fp32.rechecked == 0.0
    passing = [m for m in choice.measurements[1:] if m.agreement >= 0.995]
    assert choice.backend == max(passing, key=lambda m: m.sentences_per_second).backend
    assert choice.summary().startswith(f"{choice.backend.value}: agrees with torch on ")
    stored = json.loads((exported.model_dir / "onnx" / "scoring.json").read_text(encoding="utf-8"))
    assert stored["recheck_margin"] > 0 and stored["recheck_calibrated_on"] == 40


def test_choose_backend_falls_back_to_fp32_when_nothing_reaches_the_agreement_bar(exported):
    """Torch labels that the graphs cannot match (4 of 40 flipped): fp32 ONNX, with its measured 90%."""
    flipped = exported.torch_probs.copy()
    flipped[:4] = flipped[:4, ::-1]
    choice = choose_backend(exported.model_dir, TEXTS, flipped, torch_seconds=None)
    assert choice.backend == Backend.ONNX
    assert choice.agreement == 0.9 and choice.speedup is None and choice.recheck_margin is None


def test_a_version_without_an_export_is_scored_with_torch(tmp_path, exported):
    choice = choose_backend(tmp_path, TEXTS, exported.torch_probs, torch_seconds=2.0)
    assert choice.backend == Backend.TORCH and choice.agreement == 1.0
    assert choice.sentences_per_second == 20.0


def test_a_fresh_process_scores_with_onnx_without_importing_torch(exported):
    calibrate_recheck_margin(exported.model_dir, TEXTS)
    script = (
        "import json, sys\n"
        "from core.onnx_scorer import OnnxScorer\n"
        f"scorer = OnnxScorer.load({str(exported.model_dir)!r}, 'onnx-int8')\n"
        f"probs = scorer.predict_proba({TEXTS!r})\n"
        "print(json.dumps({'labels': probs.argmax(axis=1).tolist(),\n"
        "                  'heavy': sorted(m for m in ('torch', 'setfit', 'transformers', 'sentence_transformers')\n"
        "                                  if m in sys.modules)}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout)
    assert out["heavy"] == []
    torch_labels = exported.torch_probs.argmax(axis=1).tolist()
    assert sum(a == b for a, b in zip(out["labels"], torch_labels)) >= 39


def test_the_readme_snippet_runs_in_the_onnx_folder_and_labels_like_torch(exported):
    readme = (exported.model_dir / "onnx" / "README.md").read_text(encoding="utf-8")
    [code] = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    code = code.replace('texts = ["first sentence to classify", "second one"]', f"texts = {TEXTS[:2] + TEXTS[12:14]!r}")
    result = subprocess.run([sys.executable, "-c", code], cwd=exported.model_dir / "onnx",
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    names = ["other", "physical violence"]
    expected = exported.torch_probs[[0, 1, 12, 13]].argmax(axis=1).tolist()
    lines = result.stdout.splitlines()
    assert [int(line.split(" ", 1)[0]) for line in lines] == expected
    assert all(line.split(" ", 1)[1].startswith(names[label] + " ") for line, label in zip(lines, expected))


def test_the_version_folder_with_its_onnx_files_still_loads_in_setfit_and_zips_them(exported, tmp_path):
    from setfit import SetFitModel

    from core.model_store import zip_model

    loaded = SetFitModel.from_pretrained(str(exported.model_dir))
    assert np.abs(loaded.predict_proba(TEXTS[:3], as_numpy=True) - exported.torch_probs[:3]).max() < 1e-5
    names = zipfile.ZipFile(io.BytesIO(zip_model(exported.model_dir))).namelist()
    assert {"1/onnx/model.onnx", "1/onnx/model-int8.onnx", "1/onnx/README.md", "1/model_head.pkl"} <= set(names)
