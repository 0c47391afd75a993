"""Scoring texts with a stored model version (CLI `predict`); loads SetFit lazily."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from core.config import Settings
from core.errors import InvalidInput, NotFound
from core.model_store import verified_model_dir
from core.projects import ProjectInfo
from core.runs import RunInfo, active_run, get_run
from db.engine import Database


def resolve_run(db: Database, project: ProjectInfo, run_id: int | None) -> RunInfo:
    if run_id is not None:
        run = get_run(db, run_id)
        if run.project_id != project.id:
            raise NotFound(f"Run {run_id} belongs to another project.")
        return run
    run = active_run(db, project.id)
    if run is None:
        raise NotFound(f"Project {project.name!r} has no active model yet; train one first (`python -m core train`).")
    return run


def read_texts(path: Path) -> list[str]:
    data = path.read_bytes().decode("utf-8-sig", errors="strict")
    if path.suffix.lower() in {".csv", ".tsv"}:
        reader = csv.DictReader(io.StringIO(data), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        column = next((c for c in (reader.fieldnames or []) if c.strip().lower() in {"text", "sentence"}), None)
        if column is None:
            raise InvalidInput(f"{path.name} has no `text` column (found: {', '.join(reader.fieldnames or [])}).")
        return [row[column] for row in reader if (row.get(column) or "").strip()]
    return [line.strip() for line in data.splitlines() if line.strip()]


def predict_file(settings: Settings, db: Database, project: ProjectInfo, input_path: Path, output_path: Path,
                 run_id: int | None = None) -> int:
    run = resolve_run(db, project, run_id)
    model_dir = verified_model_dir(run.model_dir, run.head_sha256)
    texts = read_texts(input_path)
    from core import setfit_adapter

    setfit_adapter.set_threads(settings.torch_threads)
    classifier = setfit_adapter.SetFitClassifier.load(model_dir)
    probs = classifier.predict_proba(texts)
    names = [label.name for label in project.labels]
    with output_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "label_name", "confidence"] + [f"p_{n}" for n in names])
        for text, p in zip(texts, probs):
            label = choose_label(p, run.threshold)
            writer.writerow([text, label, names[label], f"{p[label]:.4f}"] + [f"{x:.4f}" for x in p])
    return len(texts)


def choose_label(probs, threshold: float | None) -> int:
    """Argmax, or for two labels with a chosen operating point: label 1 when P(1) ≥ threshold."""
    if threshold is not None and len(probs) == 2:
        return int(probs[1] >= threshold)
    return int(max(range(len(probs)), key=lambda i: probs[i]))
