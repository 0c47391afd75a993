"""ONNX Runtime scoring for a saved SetFit version: export the sentence encoder, quantize it, score with it.

The graph is the whole sentence-transformers body (transformer, pooling, normalisation), so it outputs the
sentence embedding that SetFit's LogisticRegression head (model_head.pkl) was trained on; the head stays
as it is. Three backends, chosen per version by `choose_backend` (the SCORING_BACKEND setting can force one):

* `onnx`: the fp32 graph, fused by onnxruntime's BERT optimizer. Its embeddings match torch's to ~1e-7.
* `onnx-int8`: dynamic int8 (weights per output channel, MatMul and Attention; the embedding table stays
  fp32), plus a *recheck*: a text whose int8 decision margin is within the calibrated int8 error of the
  boundary is embedded again with the fp32 graph. Plain dynamic int8 flips 2-5% of SST-2 decisions of a
  fast-preset model; the recheck re-embeds ~8% of texts and brings agreement with torch to >= 99.8%
  (bench/bench_scoring.py).
* `torch`: SetFit itself (core/setfit_adapter.py), the reference and the fallback.

Scoring needs only onnxruntime, tokenizers, joblib and scikit-learn: `OnnxScorer.load` never imports torch,
so a process that only scores stays light. Exporting (`export_onnx`) imports torch and setfit lazily.

Files, inside the version's folder so the zip download carries them: onnx/model.onnx, onnx/model-int8.onnx,
onnx/tokenizer.json, onnx/scoring.json (what the scorer needs to know) and onnx/README.md (how to use them).
"""
from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from core.classifier import align_proba, head_classes
from core.errors import AppError

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "scoring.json"
README_FILE = "README.md"
HEAD_FILE = "model_head.pkl"
SETFIT_CONFIG_FILE = "config_setfit.json"
MANIFEST_FORMAT = 1

MIN_AGREEMENT = 0.995  # issue 10: a faster backend must agree with torch on >= 99.5% of labels
# The recheck margin is this quantile of the int8-vs-fp32 error on the project's own sentences. On SST-2
# (bench/bench_scoring.py) the 0.90 quantile re-embedded ~6% of texts at 99.7-99.9% agreement and 0.95 ~8%
# at 99.9%; 0.95 leaves room for projects with only a few dozen sentences to calibrate on.
RECHECK_QUANTILE = 0.95
BATCH_SIZE = 32  # 8-64 measured within noise of each other on 2 cores; 128 was slower (longer padding)
EXPORT_TOLERANCE = 1e-4  # largest |onnx - torch| embedding difference an export may have
# Exported with these sentences: two lengths, so the traced graph keeps the padding mask path.
_TRACE_TEXTS = ("A short one.", "A somewhat longer sentence, so that the batch needs padding.")
_VERIFY_TEXTS = _TRACE_TEXTS + (
    "He shoved me against the wall.",
    "We had lunch by the river and talked about the weekend.",
    "ok",
)
_POOLING_MODULES = {"Pooling", "Normalize", "Dense"}  # sentence-transformers modules after the transformer
# onnxruntime's transformer optimizer fuses attention, layer norms and GELU for these model types.
_FUSABLE = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "distilbert": "bert"}


class OnnxScoringError(AppError):
    """A version cannot be exported to ONNX or scored with it; torch scoring still works."""


class Backend(str, Enum):
    ONNX_INT8 = "onnx-int8"
    ONNX = "onnx"
    TORCH = "torch"


@dataclass(frozen=True)
class OnnxExport:
    directory: Path  # the onnx/ folder
    fp32_path: Path
    int8_path: Path
    max_seq_length: int
    dimension: int
    fused: bool  # onnxruntime's transformer fusions applied (and verified)
    max_abs_diff: float  # fp32 graph vs torch on the verification sentences
    recheck_margin: float | None  # calibrated when calibration texts were given
    seconds: float


@dataclass(frozen=True)
class BackendMeasurement:
    backend: Backend
    agreement: float  # share of texts whose label equals torch's
    sentences_per_second: float | None  # None for torch when the caller did not time it
    rechecked: float = 0.0  # share of texts the int8 backend embedded again in fp32


@dataclass(frozen=True)
class BackendChoice:
    backend: Backend
    agreement: float
    sentences_per_second: float | None
    speedup: float | None  # vs torch on the same texts, when torch was timed
    n_texts: int
    recheck_margin: float | None
    measurements: tuple[BackendMeasurement, ...]

    def summary(self) -> str:
        """One line for the Versions table and the worker's log."""
        speed = f", {self.speedup:.1f}x torch" if self.speedup else ""
        return f"{self.backend.value}: agrees with torch on {self.agreement:.1%} of {self.n_texts} sentences{speed}"


# -- export ---------------------------------------------------------------------------------------------

def onnx_dir_of(model_dir: Path | str) -> Path:
    return Path(model_dir) / ONNX_DIR


def export_onnx(
    model,
    out_dir: Path | str | None = None,
    *,
    calibration_texts: Sequence[str] = (),
    threads: int = 2,
    fuse: bool = True,
) -> OnnxExport:
    """Export a SetFit model's body (a saved model folder or a loaded `SetFitModel`) to ONNX, fp32 and int8.

    `out_dir` defaults to `<model folder>/onnx`. With `calibration_texts` (the project's sentences) the int8
    recheck margin is calibrated at once; otherwise `choose_backend` calibrates it. Raises OnnxScoringError
    when the body has modules the graph cannot hold or the exported graph does not match torch.
    """
    started = time.monotonic()
    setfit_model, model_dir = _load_setfit(model)
    if out_dir is None:
        if model_dir is None:
            raise OnnxScoringError("export_onnx needs out_dir when given a loaded model rather than a folder.")
        out_dir = onnx_dir_of(model_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    head = setfit_model.model_head
    if not hasattr(head, "predict_proba") or type(head).__module__.startswith("setfit"):
        raise OnnxScoringError("ONNX scoring needs SetFit's scikit-learn head (model_head.pkl); "
                               "this model has a differentiable head. Use SCORING_BACKEND=torch.")

    body = setfit_model.model_body
    max_seq_length = int(body.max_seq_length)
    raw_path = out / "model-unfused.onnx"
    _torch_export(_embedding_graph(body), body.tokenizer, raw_path)

    reference = np.asarray(body.encode(list(_VERIFY_TEXTS), convert_to_numpy=True, normalize_embeddings=False),
                           dtype=np.float32)
    tokenizer_json = body.tokenizer.backend_tokenizer.to_str()
    (out / TOKENIZER_FILE).write_text(tokenizer_json, encoding="utf-8")
    model_type = str(getattr(body[0].auto_model.config, "model_type", ""))

    fused = False
    fp32_path = out / FP32_FILE
    if fuse and model_type in _FUSABLE:
        config = body[0].auto_model.config
        _fuse(raw_path, fp32_path, _FUSABLE[model_type], config.num_attention_heads, config.hidden_size)
        fused_diff = _max_diff(fp32_path, out, max_seq_length, reference, threads)
        fused = fused_diff <= EXPORT_TOLERANCE
    if fused:
        raw_path.unlink()
        max_diff = fused_diff
    else:  # an architecture the fusions do not recognise: the plain export is still a correct graph
        raw_path.replace(fp32_path)
        max_diff = _max_diff(fp32_path, out, max_seq_length, reference, threads)
        if max_diff > EXPORT_TOLERANCE:
            raise OnnxScoringError(
                f"The ONNX export differs from torch by {max_diff:.2g} (more than {EXPORT_TOLERANCE}); "
                "keep SCORING_BACKEND=torch for this model.")

    int8_path = out / INT8_FILE
    quantize_int8(fp32_path, int8_path)
    labels = list(setfit_model.labels or [])
    manifest = {
        "format": MANIFEST_FORMAT,
        "max_seq_length": max_seq_length,
        "dimension": int(reference.shape[1]),
        "labels": labels,
        "fp32": FP32_FILE,
        "int8": INT8_FILE,
        "tokenizer": TOKENIZER_FILE,
        "fused": fused,
        "int8_recipe": "dynamic int8 (onnxruntime.quantization.quantize_dynamic), per-channel QInt8 weights, "
                       "MatMul and Attention only (the embedding table stays fp32)",
        "recheck_margin": None,
        "recheck_quantile": RECHECK_QUANTILE,
    }
    pad_id = body.tokenizer.pad_token_id
    (out / README_FILE).write_text(usage_snippet(labels, max_seq_length, int(pad_id or 0)), encoding="utf-8")
    # A copy of the head (a few kB) makes onnx/ usable on its own, as its README shows; the app itself
    # reads the version folder's head, whose checksum the run recorded (core/model_store.py).
    if model_dir is not None:
        shutil.copyfile(model_dir / HEAD_FILE, out / HEAD_FILE)
    else:
        import joblib

        joblib.dump(head, out / HEAD_FILE)
    _write_manifest(out, manifest)  # last: a folder with a manifest has every file the scorer reads

    margin = None
    if calibration_texts:
        margin = calibrate_recheck_margin(out, calibration_texts, threads=threads)
    return OnnxExport(out, fp32_path, int8_path, max_seq_length, int(reference.shape[1]), fused, max_diff,
                      margin, time.monotonic() - started)


def quantize_int8(fp32_path: Path, int8_path: Path) -> None:
    """Dynamic int8 as measured best on SST-2 (bench/bench_scoring.py, sensitivity per node):

    * per-channel weights: 98.1% label agreement vs 95.0% per-tensor, at the same speed;
    * only MatMul and Attention: the embedding table is a lookup, so int8 saves no time there but
      its per-tensor rounding was one of the three largest single-node errors;
    * reduce_range and uint8 weights: no better agreement, uint8 half the speed.
    The remaining flips are caught by the fp32 recheck rather than by keeping nodes in fp32: quantized one
    at a time, the early layers' FFN MatMuls moved embeddings most (not the last layers), and keeping the
    eight worst in fp32 still reached only 99.3%, at a cost in speed. Static QDQ (calibrated) agreed 99.5%
    but onnxruntime runs it as weight-only MatMulNBits, at fp32 speed.
    """
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs a "consider pre-processing" warning on the root logger
    try:
        quantize_dynamic(
            str(fp32_path), str(int8_path),
            op_types_to_quantize=["MatMul", "Attention"],
            per_channel=True,
            weight_type=QuantType.QInt8,
            # The fused graph's contrib ops have no shape inference; their outputs are float.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)


def _load_setfit(model):
    """(SetFitModel, its folder or None)."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if isinstance(model, (str, Path)):
        from setfit import SetFitModel

        folder = Path(model)
        if not (folder / HEAD_FILE).is_file():
            raise OnnxScoringError(f"{folder} has no {HEAD_FILE}: not a saved SetFit model with a "
                                   "LogisticRegression head.")
        return SetFitModel.from_pretrained(str(folder)), folder
    return model, None


def _embedding_graph(body):
    """A torch module from token ids and mask to the body's sentence embedding (pooling, normalisation)."""
    import copy

    import torch

    modules = list(body)
    transformer = modules[0]
    later = modules[1:]
    if not hasattr(transformer, "auto_model"):
        raise OnnxScoringError(f"The body starts with {type(transformer).__name__}, not a transformer; "
                               "keep SCORING_BACKEND=torch for this model.")
    unsupported = [type(m).__name__ for m in later if type(m).__name__ not in _POOLING_MODULES]
    if unsupported:
        raise OnnxScoringError(f"The body has modules the ONNX export does not handle ({', '.join(unsupported)}); "
                               "keep SCORING_BACKEND=torch for this model.")
    if not any(type(m).__name__ == "Pooling" for m in later):
        raise OnnxScoringError("The body has no Pooling module, so it has no sentence embedding to export.")
    # A copy: switching attention to the eager implementation (whose pattern onnxruntime's optimizer fuses
    # into one Attention op; the SDPA trace is left as 20 small ops) must not touch the caller's model.
    auto_model = copy.deepcopy(transformer.auto_model).eval()
    if hasattr(auto_model, "set_attn_implementation"):
        auto_model.set_attn_implementation("eager")
    import inspect

    needs_token_types = "token_type_ids" in inspect.signature(auto_model.forward).parameters

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = auto_model
            self.later = torch.nn.ModuleList(later)

        def forward(self, input_ids, attention_mask):
            kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if needs_token_types:  # single sentences: segment 0 everywhere, as the tokenizer gives
                kwargs["token_type_ids"] = torch.zeros_like(input_ids)
            tokens = self.transformer(**kwargs).last_hidden_state
            features = {"input_ids": input_ids, "attention_mask": attention_mask, "token_embeddings": tokens}
            for module in self.later:
                features = module(features)
            return features["sentence_embedding"]

    return SentenceEmbedding().eval()


def _torch_export(graph, tokenizer, path: Path) -> None:
    import warnings

    import torch

    sample = tokenizer(list(_TRACE_TEXTS), padding=True, return_tensors="pt")
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
            "sentence_embedding": {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter (dynamo=False) is deprecated but needs no onnxscript, and its graphs are
        # the ones onnxruntime's BERT fusions recognise. Its tracer warnings are about the padding branch,
        # which the padded sample batch takes; the export is verified against torch afterwards.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph, (sample["input_ids"], sample["attention_mask"]), str(path),
            dynamo=False, input_names=["input_ids", "attention_mask"], output_names=["sentence_embedding"],
            dynamic_axes=axes, opset_version=17, do_constant_folding=True,
        )


def _fuse(src: Path, dst: Path, model_type: str, num_heads: int, hidden_size: int) -> None:
    import logging

    from onnxruntime.transformers.optimizer import optimize_model

    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    # opt_level 0: the fusions only; onnxruntime applies its own graph optimizations at session start.
    optimized = optimize_model(str(src), model_type=model_type, num_heads=num_heads, hidden_size=hidden_size,
                               opt_level=0)
    optimized.save_model_to_file(str(dst))


def _max_diff(path: Path, onnx_dir: Path, max_seq_length: int, reference: np.ndarray, threads: int) -> float:
    tokenizer = _tokenizer(onnx_dir / TOKENIZER_FILE, max_seq_length)
    session = _session(path)
    embeddings = _embed_batches(session, tokenizer, list(_VERIFY_TEXTS), BATCH_SIZE, threads)
    return float(np.abs(embeddings - reference).max())


# -- scoring --------------------------------------------------------------------------------------------

def _session(path: Path, intra_op_threads: int = 1):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    # By default batches run side by side on `threads` Python threads with one core each (onnxruntime
    # releases the GIL): on 2 shared cores this beat one batch at a time on 2 intra-op threads, whose
    # workers wait for each other whenever another process takes one of the cores (bench_scoring.py).
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if intra_op_threads == 1:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _tokenizer(path: Path, max_seq_length: int):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=max_seq_length)
    # tokenizer.json can carry a padding setting (all-MiniLM's pads to the batch's longest); batches are
    # padded here, after sorting by length, so every text's own length must come back.
    tokenizer.no_padding()
    return tokenizer


def _embed_batches(session, tokenizer, texts: list[str], batch_size: int, threads: int) -> np.ndarray:
    """Embeddings in the order of `texts`: tokenized once, batched by similar length, run in parallel."""
    dim = session.get_outputs()[0].shape[-1]
    if not texts:
        return np.zeros((0, dim if isinstance(dim, int) else 0), dtype=np.float32)
    encodings = tokenizer.encode_batch(texts)
    lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
    order = np.argsort(lengths, kind="stable")
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]

    def run(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        width = int(lengths[rows].max())
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            n = lengths[i]
            ids[r, :n] = encodings[i].ids
            mask[r, :n] = 1
        return rows, session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    out: np.ndarray | None = None
    if threads > 1 and len(batches) > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:  # onnxruntime releases the GIL in run()
            results = pool.map(run, batches)
            for rows, emb in results:
                out = np.zeros((len(texts), emb.shape[1]), dtype=np.float32) if out is None else out
                out[rows] = emb
    else:
        for rows, emb in map(run, batches):
            out = np.zeros((len(texts), emb.shape[1]), dtype=np.float32) if out is None else out
            out[rows] = emb
    return out


def _margins(head_probs: np.ndarray) -> np.ndarray:
    """Log-probability gap between a text's two likeliest labels (for two labels: |logit|)."""
    logs = np.log(np.clip(head_probs, 1e-300, None))
    top2 = np.sort(logs, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def _errors(head_probs_a: np.ndarray, head_probs_b: np.ndarray) -> np.ndarray:
    """The most any two labels' log-probability gap moves between two scorings of the same texts: a text
    whose margin exceeds it cannot change label."""
    diff = np.log(np.clip(head_probs_a, 1e-300, None)) - np.log(np.clip(head_probs_b, 1e-300, None))
    return diff.max(axis=1) - diff.min(axis=1)


class OnnxScorer:
    """Scores texts with a version's ONNX graph and its SetFit head; probabilities come back with one column
    per project label (core.classifier.align_proba), like SetFitClassifier's."""

    def __init__(self, onnx_dir: Path, backend: Backend, manifest: dict, head, n_labels: int,
                 threads: int = 2, batch_size: int = BATCH_SIZE, recheck_margin: float | None = None,
                 parallel_batches: bool = True) -> None:
        self.onnx_dir = onnx_dir
        self.backend = backend
        self.manifest = manifest
        self.head = head
        self.n_labels = n_labels
        self.labels: list[str] = list(manifest.get("labels") or [])
        self.threads = max(1, threads)
        self.batch_size = batch_size
        self.recheck_margin = recheck_margin
        self.parallel_batches = parallel_batches
        self.last_rechecked = 0  # texts the last int8 `embed` call embedded again in fp32
        self._tokenizer = _tokenizer(onnx_dir / manifest["tokenizer"], int(manifest["max_seq_length"]))
        self._fp32 = None
        self._int8 = None

    @classmethod
    def load(cls, directory: Path | str, backend: Backend | str = Backend.ONNX_INT8, threads: int = 2,
             batch_size: int = BATCH_SIZE, parallel_batches: bool = True) -> "OnnxScorer":
        """A scorer for a model version folder (or its onnx/ folder). Imports no torch.

        `threads` cores: `threads` batches at a time with one core each (`parallel_batches`), or one
        batch at a time on `threads` intra-op threads."""
        import joblib

        backend = Backend(backend)
        if backend == Backend.TORCH:
            raise OnnxScoringError("OnnxScorer serves the onnx backends; torch scoring is SetFitClassifier's.")
        directory = Path(directory)
        onnx_dir = directory if (directory / MANIFEST_FILE).is_file() else onnx_dir_of(directory)
        manifest_path = onnx_dir / MANIFEST_FILE
        if not manifest_path.is_file():
            raise OnnxScoringError(f"{directory} has no ONNX export ({ONNX_DIR}/{MANIFEST_FILE}); export it with "
                                   "core.onnx_scorer.export_onnx, or use SCORING_BACKEND=torch.")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format") != MANIFEST_FORMAT:
            raise OnnxScoringError(f"{manifest_path} is format {manifest.get('format')}, this app reads "
                                   f"{MANIFEST_FORMAT}; export the version again.")
        # A version folder's own head first: that is the file whose checksum the app verifies.
        heads = (onnx_dir / HEAD_FILE,) if directory == onnx_dir else (directory / HEAD_FILE, onnx_dir / HEAD_FILE)
        head_path = next((p for p in heads if p.is_file()), None)
        if head_path is None:
            raise OnnxScoringError(f"No {HEAD_FILE} next to {onnx_dir}; the ONNX graph needs SetFit's head.")
        head = joblib.load(head_path)
        n_labels = len(manifest.get("labels") or []) or _n_labels_from(head, onnx_dir.parent)
        margin = manifest.get("recheck_margin")
        if backend == Backend.ONNX_INT8 and margin is None:
            raise OnnxScoringError(f"The int8 model in {onnx_dir} has no calibrated recheck margin yet; run "
                                   "core.onnx_scorer.choose_backend (or calibrate_recheck_margin) first.")
        return cls(onnx_dir, backend, manifest, head, n_labels, threads, batch_size, margin, parallel_batches)

    @property
    def dimension(self) -> int:
        return int(self.manifest["dimension"])

    def _session_fp32(self):
        if self._fp32 is None:
            self._fp32 = _session(self.onnx_dir / self.manifest["fp32"], self._intra_op_threads)
        return self._fp32

    def _session_int8(self):
        if self._int8 is None:
            self._int8 = _session(self.onnx_dir / self.manifest["int8"], self._intra_op_threads)
        return self._int8

    @property
    def _intra_op_threads(self) -> int:
        return 1 if self.parallel_batches else self.threads

    def _raw(self, session, texts: list[str]) -> np.ndarray:
        return _embed_batches(session, self._tokenizer, texts, self.batch_size,
                              self.threads if self.parallel_batches else 1)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dimension) float32 sentence embeddings. Identical texts are embedded once. With the int8
        backend, texts close to a decision boundary come back with their fp32 embedding."""
        texts = list(texts)
        unique = list(dict.fromkeys(texts))
        if len(unique) < len(texts):
            index = {text: i for i, text in enumerate(unique)}
            return self.embed(unique)[[index[t] for t in texts]]
        if not texts:
            self.last_rechecked = 0
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.backend == Backend.ONNX:
            return self._raw(self._session_fp32(), texts)
        embeddings = self._raw(self._session_int8(), texts)
        near = np.flatnonzero(_margins(self.head.predict_proba(embeddings)) < float(self.recheck_margin or 0.0))
        self.last_rechecked = len(near)
        if len(near):
            embeddings[near] = self._raw(self._session_fp32(), [texts[i] for i in near])
        return embeddings

    def predict_proba_from_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        if len(embeddings) == 0:
            return np.zeros((0, self.n_labels))
        return align_proba(self.head.predict_proba(embeddings), head_classes(self.head), self.n_labels)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.predict_proba_from_embeddings(self.embed(texts))


def _n_labels_from(head, model_dir: Path) -> int:
    config = model_dir / SETFIT_CONFIG_FILE
    if config.is_file():
        labels = json.loads(config.read_text(encoding="utf-8")).get("labels") or []
        if labels:
            return len(labels)
    classes = head_classes(head)
    return max(classes) + 1 if classes else 2


def _write_manifest(onnx_dir: Path, manifest: dict) -> None:
    path = onnx_dir / MANIFEST_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a manifest


def _read_manifest(onnx_dir: Path) -> dict:
    return json.loads((onnx_dir / MANIFEST_FILE).read_text(encoding="utf-8"))


# -- calibration and the backend choice ------------------------------------------------------------------

def _head_probs_both(onnx_dir: Path, texts: list[str], threads: int) -> tuple[np.ndarray, np.ndarray, OnnxScorer]:
    scorer = OnnxScorer.load(onnx_dir, Backend.ONNX, threads=threads)
    fp32 = scorer.head.predict_proba(scorer._raw(scorer._session_fp32(), texts))
    int8 = scorer.head.predict_proba(scorer._raw(scorer._session_int8(), texts))
    return fp32, int8, scorer


def calibrate_recheck_margin(directory: Path | str, texts: Sequence[str], *, quantile: float = RECHECK_QUANTILE,
                             threads: int = 2) -> float:
    """Measure how far int8 moves the head's decision margins on these texts (vs the fp32 graph, which
    matches torch to ~1e-7) and store that quantile as the int8 backend's recheck margin."""
    onnx_dir = _resolve_onnx_dir(directory)
    unique = list(dict.fromkeys(texts))
    if not unique:
        raise OnnxScoringError("Calibrating the int8 recheck needs some of the project's sentences.")
    fp32, int8, _ = _head_probs_both(onnx_dir, unique, threads)
    margin = float(np.quantile(_errors(int8, fp32), quantile))
    manifest = _read_manifest(onnx_dir)
    manifest.update(recheck_margin=margin, recheck_quantile=quantile, recheck_calibrated_on=len(unique))
    _write_manifest(onnx_dir, manifest)
    return margin


def _resolve_onnx_dir(directory: Path | str) -> Path:
    directory = Path(directory)
    return directory if (directory / MANIFEST_FILE).is_file() else onnx_dir_of(directory)


def choose_backend(
    directory: Path | str,
    texts: Sequence[str],
    torch_probs: np.ndarray,
    torch_seconds: float | None = None,
    *,
    min_agreement: float = MIN_AGREEMENT,
    quantile: float = RECHECK_QUANTILE,
    threads: int = 2,
) -> BackendChoice:
    """The fastest backend whose labels agree with torch's on >= `min_agreement` of `texts` (the project's
    labelled sentences), fp32 ONNX otherwise, torch when the version has no ONNX export.

    `torch_probs` are the torch model's probabilities for `texts` (one column per project label) and
    `torch_seconds` the time it took, when the caller timed it. Calibrates and stores the int8 recheck
    margin; the int8 agreement reported is measured out of sample (the margin fitted on one half of the
    texts, checked on the other, and the other way round).
    """
    texts = list(texts)
    torch_probs = np.asarray(torch_probs, dtype=float)
    if len(texts) != len(torch_probs):
        raise OnnxScoringError(f"{len(texts)} texts but {len(torch_probs)} rows of torch probabilities.")
    torch_speed = len(texts) / torch_seconds if torch_seconds else None
    torch_measure = BackendMeasurement(Backend.TORCH, 1.0, torch_speed)
    onnx_dir = _resolve_onnx_dir(directory)
    if not texts or not (onnx_dir / MANIFEST_FILE).is_file():
        return BackendChoice(Backend.TORCH, 1.0, torch_speed, 1.0 if torch_speed else None, len(texts), None,
                             (torch_measure,))
    reference = torch_probs.argmax(axis=1)

    # The margin: fitted on all texts for use; cross-fitted halves for an honest agreement figure.
    unique = list(dict.fromkeys(texts))
    fp32_head, int8_head, scorer = _head_probs_both(onnx_dir, unique, threads)
    errors, margins = _errors(int8_head, fp32_head), _margins(int8_head)
    position = {text: i for i, text in enumerate(unique)}
    rows = np.array([position[t] for t in texts])
    halves = np.arange(len(unique)) % 2
    rechecked_u = np.zeros(len(unique), dtype=bool)
    for half in (0, 1):
        fitted = errors[halves != half]
        cut = float(np.quantile(fitted if len(fitted) else errors, quantile))
        rechecked_u[halves == half] = margins[halves == half] < cut
    int8_labels_u = np.where(rechecked_u, fp32_head.argmax(axis=1), int8_head.argmax(axis=1))
    classes = np.asarray(head_classes(scorer.head) or range(fp32_head.shape[1]))
    fp32_labels = classes[fp32_head.argmax(axis=1)][rows]
    int8_labels = classes[int8_labels_u][rows]
    margin = calibrate_recheck_margin(onnx_dir, unique, quantile=quantile, threads=threads)

    measurements = [torch_measure]
    for backend, labels in ((Backend.ONNX, fp32_labels), (Backend.ONNX_INT8, int8_labels)):
        candidate = OnnxScorer.load(onnx_dir, backend, threads=threads)
        candidate.embed(texts[: min(len(texts), BATCH_SIZE)])  # session start and first-run allocations
        started = time.perf_counter()
        candidate.predict_proba(texts)
        seconds = time.perf_counter() - started
        rechecked = candidate.last_rechecked / max(1, len(unique)) if backend == Backend.ONNX_INT8 else 0.0
        measurements.append(BackendMeasurement(backend, float(np.mean(labels == reference)),
                                               len(texts) / max(seconds, 1e-9), rechecked))

    chosen = pick_backend(measurements, min_agreement)
    speedup = chosen.sentences_per_second / torch_speed if torch_speed and chosen.sentences_per_second else None
    return BackendChoice(chosen.backend, chosen.agreement, chosen.sentences_per_second, speedup, len(texts),
                         margin if chosen.backend == Backend.ONNX_INT8 else None, tuple(measurements))


def pick_backend(measurements: Sequence[BackendMeasurement], min_agreement: float = MIN_AGREEMENT
                 ) -> BackendMeasurement:
    """The rule: the fastest ONNX backend agreeing with torch on >= min_agreement of the texts; fp32 ONNX
    when none does (its labels differ from torch's only by float rounding); torch without ONNX."""
    onnx = [m for m in measurements if m.backend != Backend.TORCH]
    if not onnx:
        return next(m for m in measurements if m.backend == Backend.TORCH)
    passing = [m for m in onnx if m.agreement >= min_agreement]
    if passing:
        return max(passing, key=lambda m: m.sentences_per_second or 0.0)
    return next((m for m in onnx if m.backend == Backend.ONNX), onnx[0])


# -- the zip's README -----------------------------------------------------------------------------------

def usage_snippet(labels: Sequence[str], max_seq_length: int = 256, pad_id: int = 0) -> str:
    """Markdown for onnx/README.md: scoring this version with onnxruntime and the SetFit head, no torch."""
    return f"""# ONNX export of this model version

`model.onnx` is the fine-tuned sentence encoder with its pooling and normalisation in one graph: inputs
`input_ids` and `attention_mask` (int64, batch x tokens), output `sentence_embedding`. SetFit's
scikit-learn head, `model_head.pkl` (a LogisticRegression; under the fast preset Platt-calibrated copies of
it), turns embeddings into label probabilities. `model-int8.onnx`
is a dynamic-int8 copy, about twice as fast; its labels can differ from the fp32 graph's for texts close
to a decision boundary (`scoring.json`'s `recheck_margin` is how far int8 was measured to move the
log-probability gap between two labels; the app embeds texts within it again with `model.onnx`).

```python
# pip install onnxruntime tokenizers joblib scikit-learn numpy   (run in this folder)
import joblib, numpy as np, onnxruntime as ort
from tokenizers import Tokenizer

label_names = {list(labels)!r}
tokenizer = Tokenizer.from_file("tokenizer.json")
tokenizer.enable_truncation(max_length={max_seq_length})
tokenizer.enable_padding(pad_id={pad_id})  # pads to the longest text of each batch
session = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
head = joblib.load("model_head.pkl")

texts = ["first sentence to classify", "second one"]
encoded = tokenizer.encode_batch(texts)
feed = {{"input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64)}}
embeddings = session.run(None, feed)[0]
probabilities = head.predict_proba(embeddings)  # one column per value in head.classes_
for text, row in zip(texts, probabilities):
    label = int(head.classes_[row.argmax()])
    print(label, label_names[label] if label < len(label_names) else "", round(float(row.max()), 4), text)
```

The version's folder (one level up) loads with `setfit.SetFitModel.from_pretrained(folder)` as well.
"""
