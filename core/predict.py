"""Scoring a file with a stored model version (CLI `predict`); loads SetFit lazily.

The input is read by core.reader, as an import is: CSV/TSV with a `text` column (delimiter and
encoding by evidence), JSON Lines with a `text` field, or plain text, one text a line. The output
has one row per input row, in input order, carrying every input column (so an `id` joins the
results back), then label, label_name, confidence and one p_<label> column per project label. A
blank text gets an empty prediction rather than losing its row. A file that cannot be read whole
(a guessed encoding nobody confirmed, a malformed row) is refused with the reason: dropping a row
would shift every row after it.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path, PurePath

from core.config import Settings
from core.errors import ImportFileError, InvalidInput, NotFound
from core.model_store import verified_model_dir
from core.projects import ProjectInfo
from core.reader import TEXT_KEYS, Table, find_column, read_table
from core.runs import RunInfo, active_run, get_run
from core.text import clean_text
from db.engine import Database

OUTPUT_FORMATS = ("csv", "jsonl")
# Input files are read from disk, not uploaded; this only stops a wrong path to a huge binary.
MAX_INPUT_BYTES = 4 * 1024 ** 3


@dataclass(frozen=True)
class PredictInput:
    format: str  # the input's format, as core.reader read it
    columns: tuple[str, ...]  # the input's columns in order (JSON keys in first-seen order)
    rows: tuple[dict, ...]  # one per input row, as read
    texts: tuple[str, ...]  # the cleaned text of each row; "" for a blank one, which is not scored


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


def read_input(path: Path, encoding: str | None = None) -> PredictInput:
    """Every row of the input file with its text, or an error naming the line that cannot be read."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"No file at {path}.") from None
    except OSError as err:
        raise InvalidInput(f"Cannot read {path}: {err.strerror}.") from None
    table = read_table(data, path.name, encoding=encoding, max_bytes=MAX_INPUT_BYTES, blank_records=True)
    if table.encoding.needs_confirmation:
        raise ImportFileError(table.encoding.refusal(path.name))
    bad = [record for record in table.records if record.problem]
    if bad:
        more = f" ({len(bad) - 1} more rows cannot be read either)" if len(bad) > 1 else ""
        raise ImportFileError(
            f"{path.name!r} line {bad[0].line}: {bad[0].problem}{more}. Fix the file and run predict again: "
            "its output has one row per input row, so no row can be skipped."
        )
    return PredictInput(table.format, table.columns, tuple(r.values for r in table.records),
                        _texts(table, path.name))


def _texts(table: Table, name: str) -> tuple[str, ...]:
    column = find_column(table.columns, TEXT_KEYS)
    if column is None:
        what = "field" if table.format == "jsonl" else "column"
        found = ", ".join(repr(c) for c in table.columns) or "none"
        raise InvalidInput(f"{name!r} has no `text` {what} (found: {found}); name the one holding the texts `text`.")
    texts = []
    for record in table.records:
        key = find_column(tuple(record.values), TEXT_KEYS) if table.format == "jsonl" else column
        value = record.values.get(key) if key is not None else None
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"{name!r} line {record.line}: the text is a {type(value).__name__}, not a string.")
        texts.append(clean_text(value or ""))
    return tuple(texts)


def output_format(output_path: Path, fmt: str | None) -> str:
    if fmt is None:
        return "jsonl" if PurePath(output_path).suffix.lower() in (".jsonl", ".ndjson") else "csv"
    if fmt not in OUTPUT_FORMATS:
        raise InvalidInput(f"Unknown output format {fmt!r}; use one of {', '.join(OUTPUT_FORMATS)}.")
    return fmt


def load_scorer(settings: Settings, backend: str | None, model_dir: Path):
    """The version's own scoring backend (chosen by measured agreement when it was trained, see
    core/onnx_scorer.py), so `predict` gives the labels the app stored; torch for versions without one.
    An ONNX scorer imports no torch."""
    if backend in ("onnx", "onnx-int8"):
        from core.onnx_scorer import OnnxScorer

        return OnnxScorer.load(model_dir, backend, threads=settings.torch_threads)
    from core import setfit_adapter

    setfit_adapter.set_threads(settings.torch_threads)
    return setfit_adapter.SetFitClassifier.load(model_dir)


def predict_file(settings: Settings, db: Database, project: ProjectInfo, input_path: Path, output_path: Path,
                 run_id: int | None = None, *, fmt: str | None = None, encoding: str | None = None) -> int:
    """Score every row of `input_path` into `output_path`; returns the number of rows written."""
    out_format = output_format(output_path, fmt)
    source = read_input(input_path, encoding)  # first: a file that cannot be read fails in a second
    run = resolve_run(db, project, run_id)
    model_dir = verified_model_dir(run.model_dir, run.head_sha256)
    scored = [i for i, text in enumerate(source.texts) if text]
    classifier = load_scorer(settings, run.scoring_backend, model_dir)
    # One column per project label, in project label order (the adapter maps the head's classes).
    probs = classifier.predict_proba([source.texts[i] for i in scored]) if scored else []
    by_row = dict(zip(scored, probs))
    write_predictions(output_path, out_format, source, project, by_row, run.threshold)
    return len(source.rows)


def _prediction(project: ProjectInfo, p, threshold: float | None) -> dict:  # noqa: ANN001 - a numpy row
    names = [label.name for label in project.labels]
    label = choose_label(p, threshold)
    values = {"label": project.labels[label].value, "label_name": names[label], "confidence": round(float(p[label]), 4)}
    values.update({f"p_{name}": round(float(x), 4) for name, x in zip(names, p)})
    return values


def write_predictions(output_path: Path, fmt: str, source: PredictInput, project: ProjectInfo, by_row: dict,
                      threshold: float | None) -> None:
    names = ["label", "label_name", "confidence"] + [f"p_{label.name}" for label in project.labels]
    # An input column named like an output one (a labelled file's `label`) is kept as input_<name>.
    rename = {c: f"input_{c}" for c in source.columns if c in names}
    empty = dict.fromkeys(names)
    try:
        with output_path.open("w", newline="", encoding="utf-8") as handle:
            if fmt == "jsonl":
                for i, row in enumerate(source.rows):
                    record = {rename.get(k, k): v for k, v in row.items()}
                    record.update(_prediction(project, by_row[i], threshold) if i in by_row else empty)
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                return
            # Not formula-escaped: this file is read by programs and joined back on its columns.
            writer = csv.writer(handle, lineterminator="\r\n")
            writer.writerow([rename.get(c, c) for c in source.columns] + names)
            for i, row in enumerate(source.rows):
                cells = [_cell(row.get(c)) for c in source.columns]
                predicted = _prediction(project, by_row[i], threshold) if i in by_row else empty
                writer.writerow(cells + [_number(predicted[n]) for n in names])
    except OSError as err:
        raise InvalidInput(f"Cannot write {output_path}: {err.strerror}.") from None


def _number(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else _cell(value)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list, bool)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def choose_label(probs, threshold: float | None) -> int:
    """Argmax, or for two labels with a chosen operating point: label 1 when P(1) ≥ threshold."""
    if threshold is not None and len(probs) == 2:
        return int(probs[1] >= threshold)
    return int(max(range(len(probs)), key=lambda i: probs[i]))
