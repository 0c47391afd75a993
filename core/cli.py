"""`python -m core <command>`: headless use of everything the app does.

Errors print one line to stderr and exit 1 (2 for bad usage, from argparse).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from core.config import Settings, redact_url
from core.db import open_database
from core.errors import AppError, NotFound
from core.permissions import CLI_ACTOR
from db.engine import Database

Command = Callable[[argparse.Namespace, Settings, Database], int]
COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        COMMANDS[name] = fn
        return fn

    return register


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


@command("init")
def cmd_init(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.demo import ensure_demo_project

    created = ensure_demo_project(db) if args.demo else None
    print(f"database ready: {redact_url(settings.database_url)}")
    if created is not None:
        print(f"created demo project {created.name!r}")
    return 0


@command("projects")
def cmd_projects(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.projects import list_projects, project_stats

    rows = []
    for p in list_projects(db):
        stats = project_stats(db, p.id)
        rows.append({"id": p.id, "name": p.name, "labels": [l.name for l in p.labels],
                     "sentences": stats.total, "labelled": stats.labelled})
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            print(f"{r['id']:>4}  {r['name']}  ({r['labelled']}/{r['sentences']} labelled; labels: {', '.join(r['labels'])})")
        if not rows:
            print("no projects yet: `python -m core import FILE --project NAME --labels a,b`")
    return 0


@command("stats")
def cmd_stats(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.projects import get_project, project_stats

    project = get_project(db, args.project)
    stats = project_stats(db, project.id)
    payload = {
        "project": project.name,
        "sentences": stats.total,
        "labelled": stats.labelled,
        "unsure": stats.unsure,
        "per_label": {project.label_name(v): stats.per_label.get(v, 0) for v in (l.value for l in project.labels)},
        "per_split": {k: {"labelled": v[0], "total": v[1]} for k, v in stats.per_split.items()},
    }
    if args.json:
        _print_json(payload)
    else:
        print(f"{project.name}: {stats.labelled}/{stats.total} labelled ({stats.unsure} marked not sure)")
        for name, n in payload["per_label"].items():
            print(f"  {name}: {n}")
        for split, v in payload["per_split"].items():
            print(f"  {split}: {v['labelled']}/{v['total']} labelled")
    return 0


@command("import")
def cmd_import(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.importing import (
        check_encoding,
        commit_import,
        file_labels,
        label_column_candidates,
        parse_file,
        summary_lines,
    )
    from core.projects import create_project, get_project

    path = Path(args.path)
    if not path.is_file():
        raise NotFound(f"No file at {path}.")
    parsed = parse_file(
        path.read_bytes(), path.name, documents=args.documents,
        max_bytes=settings.max_upload_mb * 1024 * 1024, max_rows=settings.max_import_rows,
        encoding=args.encoding, label_column=args.label_column,
    )
    check_encoding(parsed)  # a guessed encoding needs --encoding; refuse before creating a project
    try:
        project = get_project(db, args.project)
    except NotFound:
        labels = [x for x in (args.labels or "").split(",") if x.strip()] or file_labels(parsed)
        if len(labels) < 2:
            raise NotFound(
                f"No project {args.project!r}; create it by passing its labels, e.g. --labels other,violence."
            ) from None
        project = create_project(db, CLI_ACTOR, args.project, labels)
        print(f"created project {project.name!r} with labels {', '.join(l.name for l in project.labels)}")
    result = commit_import(db, CLI_ACTOR, project.id, parsed, annotator=args.annotator)
    print(f"added {result.added} sentences, merged {result.duplicates} duplicates, "
          f"{result.labelled} labels, rejected {result.rejected} rows")
    for line in summary_lines(parsed, result, label_column_candidates(db, project.id, parsed)):
        print(line)
    for row in result.rejected_rows[:20]:
        print(f"  line {row.line}: {row.reason}", file=sys.stderr)
    if result.rejected > 20:
        print(f"  ... and {result.rejected - 20} more", file=sys.stderr)
    return 0


@command("export")
def cmd_export(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.exporting import export_project
    from core.projects import get_project

    project = get_project(db, args.project)
    data = export_project(db, CLI_ACTOR, project.id, args.format)
    Path(args.output).write_bytes(data)
    print(f"wrote {args.output} ({len(data)} bytes)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Label sentences and train SetFit classifiers, headless.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="create or migrate the database (and the demo project with --demo)")
    p.add_argument("--demo", action="store_true", help="create the demo project when there is no project")

    p = sub.add_parser("projects", help="list projects")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("stats", help="label counts of a project")
    p.add_argument("--project", required=True)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("import", help="import sentences (csv, tsv, jsonl, txt)")
    p.add_argument("path")
    p.add_argument("--project", required=True, help="project name; created when missing")
    p.add_argument("--labels", help="comma-separated label names, in order, for a new project")
    p.add_argument("--documents", action="store_true", help="split each row or paragraph into sentences")
    p.add_argument("--annotator", default="import", help="name recorded on labels from the file (an `annotator` column wins)")
    p.add_argument("--encoding", help="the file's encoding when it is not UTF-8, e.g. cp1252 (the error names the one detected)")
    p.add_argument("--label-column", help="the column holding the labels when it is not called `label`")

    p = sub.add_parser("export", help="export sentences and labels")
    p.add_argument("--project", required=True)
    p.add_argument("--format", choices=["csv", "jsonl", "training"], default="csv",
                   help="training = text,label for datasets.load_dataset('csv', ...)")
    p.add_argument("--output", required=True)

    for extend in _EXTENSIONS:
        extend(sub)
    return parser


# Later modules (training, review, active learning) add their subcommands here.
_EXTENSIONS: list[Callable[[argparse._SubParsersAction], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        db = open_database(settings)
        return COMMANDS[args.command](args, settings, db)
    except AppError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


# -- training (issue: one-click retraining) -------------------------------------------------------

# Switches these libraries read when they are imported, so they are set before the first heavy
# import: a headless user sees our progress line, not their bars and notices.
_QUIET_ENV = {
    "TQDM_DISABLE": "1",  # every tqdm bar: transformers' "Loading weights", the trainer's, evaluation's
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",  # datasets' "Map:" bars
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}


def _quiet_env() -> None:
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)


def _quiet_training_libraries() -> None:
    """Silence third-party chatter in a process that trains; call before anything imports setfit."""
    import warnings

    _quiet_env()
    # Library upgrade notices (e.g. sentence_transformers.losses moving) say nothing to a moderator.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*'pin_memory' argument is set as true but no accelerator")
    import logging

    from core import setfit_adapter  # noqa: F401  (the heavy import, which the training needs anyway)

    # Importing setfit turns its logging up to INFO (setfit/data.py), and at INFO every base model
    # load prints "model_head.pkl not found ..., initialising classification head with random
    # weights": expected (the head is trained next), and it alarms people for nothing. WARNING is
    # setfit's own default.
    logging.getLogger("setfit").setLevel(logging.WARNING)


def _run_json(run, worker_id: str | None = None) -> dict:
    from db.models import RunStatus, utcnow

    heartbeat_age = None
    if run.status == RunStatus.running and run.heartbeat_at is not None:
        heartbeat_age = round((utcnow() - run.heartbeat_at).total_seconds(), 1)
    eta = run.eta_seconds
    return {"run_id": run.id, "version": run.version, "kind": run.kind.value, "status": run.status.value, "preset": run.preset,
            "n_train": run.n_train, "n_test": run.n_test, "accuracy": run.accuracy, "error": run.error,
            "metrics": run.metrics, "model_dir": run.model_dir, "active": run.is_active,
            "activation_note": run.activation_note,
            "phase": run.phase, "step": run.progress_step, "total_steps": run.progress_total,
            "eta_seconds": None if eta is None else round(eta), "heartbeat_age_seconds": heartbeat_age,
            "worker": worker_id, "scoring_backend": run.scoring_backend, "scoring_note": run.scoring_note,
            "scored": run.scored, "score_total": run.score_total, "device": run.device, "host": run.host}


def _format_seconds(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 90 else f"{seconds // 60} min {seconds % 60:02d} s"


def _progress_text(run) -> str:
    """Where an active run stands: `fine-tuning the sentence encoder: step 12/57, ETA 20 s`."""
    from db.models import RunStatus

    if run.status == RunStatus.queued:
        return "queued: waiting for a worker"
    what = run.phase or run.status.value
    if not run.progress_total:
        return what
    eta = run.eta_seconds
    return (f"{what}: step {run.progress_step}/{run.progress_total}"
            + (f", ETA {_format_seconds(eta)}" if eta is not None and run.progress_step < run.progress_total else ""))


def _settle_runs(settings: Settings, db: Database) -> None:
    """Fail runs whose worker stopped heartbeating (kill -9, a crash), as the Train page does, so
    no command shows or waits on a run that is "running" with nobody running it."""
    from core.runs import mark_lost_runs

    for run_id in mark_lost_runs(db, settings.worker_lost_after_seconds):
        print(f"note: run {run_id} failed: its worker stopped sending heartbeats", file=sys.stderr)


def _follow_run(settings: Settings, db: Database, run_id: int, out, stop: threading.Event | None = None,
                poll_seconds: float = 0.5) -> None:
    """Print a progress line to `out` whenever the run's phase or step moves (steps at most once a
    second), until the run ends or `stop` is set."""
    from core.runs import get_run

    last_key, last_step, last_step_print = None, None, 0.0
    while stop is None or not stop.is_set():
        _settle_runs(settings, db)
        run = get_run(db, run_id)
        if not run.status.is_active:
            return
        key = (run.status, run.phase, run.progress_total)
        now = time.monotonic()
        if key != last_key or (run.progress_step != last_step and now - last_step_print >= 1.0):
            print(f"v{run.version} {_progress_text(run)}", file=out, flush=True)
            last_key, last_step, last_step_print = key, run.progress_step, now
        time.sleep(poll_seconds)


@command("worker")
def cmd_worker(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.launcher import fail_runs_of_this_process, parent_to_watch, stop_on_sigterm, watch_parent

    _quiet_env()  # its output goes to DATA_DIR/worker.log, where progress bars are only noise
    stop_on_sigterm()
    parent = parent_to_watch()
    if parent is not None:
        watch_parent(parent)  # started by the app: stop when the app is gone
    try:
        from core.worker import main as worker_main

        return worker_main(settings, db, once=args.once)
    except KeyboardInterrupt:
        return 0  # stopped before its loop began
    finally:
        failed = fail_runs_of_this_process(db)
        if failed:
            print(f"worker stopped: runs {failed} marked failed", file=sys.stderr, flush=True)


@command("train")
def cmd_train(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.params import preset
    from core.projects import get_project
    from core.runs import alive_workers, get_run, request_retrain

    project = get_project(db, args.project)
    overrides = {}
    for item in args.param or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise AppError(f"--param takes key=value, got {item!r}.")
        overrides[key.strip()] = value.strip()
    params = preset(args.preset).with_overrides(overrides)
    _settle_runs(settings, db)  # a lost run would otherwise refuse the new one as "already running"
    run = request_retrain(db, CLI_ACTOR, project.id, params, args.preset if not overrides else "custom",
                          kind=args.kind.replace("-", "_"), force=args.force)
    if not args.wait:
        _print_json(_run_json(run))
        return 0
    from core.launcher import stop_on_sigterm

    stop_on_sigterm()  # `kill` or a job scheduler's stop: leave as Ctrl-C does, with the run marked
    if alive_workers(db, settings.worker_lost_after_seconds):
        try:
            _follow_run(settings, db, run.id, sys.stderr)
        except KeyboardInterrupt:
            print(f"stopped waiting; run {run.id} goes on in the worker (follow it with `runs`)", file=sys.stderr)
            return 130
    else:
        try:
            _train_here(settings, db, run.id)
        except KeyboardInterrupt:
            from core.launcher import fail_runs_of_this_process

            fail_runs_of_this_process(db)
            print(f"interrupted: run {run.id} marked failed", file=sys.stderr)
            return 130
    final = get_run(db, run.id)
    _print_json(_run_json(final, _worker_of(db, final.id)))
    return 0 if final.status.value == "succeeded" else 1


def _train_here(settings: Settings, db: Database, run_id: int) -> None:
    """Train in this process (no worker is alive), with the progress line on stderr and the
    libraries' own output (trainer log dicts, warnings) in DATA_DIR/worker.log, as a worker's."""
    import contextlib

    _quiet_training_libraries()
    from core.worker import TrainingWorker

    err = sys.stderr
    stop = threading.Event()
    follower = threading.Thread(target=_follow_run, args=(settings, db, run_id, err, stop), daemon=True)
    worker = TrainingWorker(settings, db)
    worker.register()
    settings.ensure_dirs()
    try:
        with open(settings.data_dir / "worker.log", "a", encoding="utf-8", buffering=1) as log, \
                contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            print(f"--- `python -m core train` trains run {run_id} in process {os.getpid()}", file=log)
            if worker.claim_next(run_id) is not None:
                follower.start()
                worker.execute_any(run_id)
    finally:
        stop.set()
        worker.stop()
    if follower.is_alive():
        follower.join(timeout=5)
    else:
        _follow_run(settings, db, run_id, err)  # another worker took it first: wait for that one


def _worker_of(db: Database, run_id: int) -> str | None:
    from core.launcher import run_workers

    return run_workers(db, [run_id]).get(run_id)


@command("runs")
def cmd_runs(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.launcher import run_workers
    from core.projects import get_project
    from core.runs import list_runs
    from db.models import RunStatus

    project = get_project(db, args.project)
    _settle_runs(settings, db)
    runs = list_runs(db, project.id)
    workers = run_workers(db, [r.id for r in runs])
    if args.json:
        _print_json([_run_json(r, workers.get(r.id)) for r in runs])
        return 0
    for r in runs:
        acc = "-" if r.accuracy is None else f"{r.accuracy:.3f}"
        mark = "*" if r.is_active else " "
        what = r.preset if r.kind.value == "train" else r.kind.value.replace("_", "-")  # a curve or check keeps no model
        line = (f"{mark} v{r.version:<3} run {r.id:<4} {r.status.value:<10} {what:<6} train={r.n_train:<5} "
                f"test={r.n_test:<5} acc={acc}  {r.created_at:%Y-%m-%d %H:%M}")
        if r.status == RunStatus.running:
            info = _run_json(r, workers.get(r.id))
            age = info["heartbeat_age_seconds"]
            line += (f"\n      {_progress_text(r)}; heartbeat "
                     f"{'-' if age is None else _format_seconds(age)} ago; worker {info['worker'] or '-'}")
        elif r.status == RunStatus.failed and r.error:
            line += f"\n      {r.error}"
        print(line)
    if not runs:
        print("no runs yet")
    return 0


@command("predict")
def cmd_predict(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.predict import predict_file
    from core.projects import get_project

    project = get_project(db, args.project)
    _settle_runs(settings, db)
    n = predict_file(settings, db, project, Path(args.input), Path(args.output), args.run,
                     fmt=args.format, encoding=args.encoding)
    print(f"wrote {n} predictions to {args.output}")
    return 0


def _training_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="run the background training worker (claims queued runs)")
    p.add_argument("--once", action="store_true", help="exit when no run is queued")

    p = sub.add_parser("train", help="queue a training run (and with --wait, block until it ends)")
    p.add_argument("--project", required=True)
    p.add_argument("--preset", choices=["fast", "seed"], default="fast")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="override one parameter (repeatable)")
    p.add_argument("--wait", action="store_true", help="wait for the run; train in this process if no worker is alive")
    p.add_argument("--kind", choices=["train", "learning-curve", "label-check"], default="train",
                   help="train: a model version (default); learning-curve: test accuracy at 25..100%% of the train "
                        "labels; label-check: the cross-fitted label check (one training per fold; its suspects "
                        "replace those `suspects` lists). Neither of the last two keeps a model")
    p.add_argument("--force", action="store_true",
                   help="train even when no label or parameter changed since a kept version (same model again)")

    p = sub.add_parser("runs", help="list a project's training runs (* = active model)")
    p.add_argument("--project", required=True)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("predict", help="score a CSV/TSV (text column), JSONL (text field) or text file with a model version")
    p.add_argument("--project", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--run", type=int, help="run id (default: the active model)")
    p.add_argument("--format", choices=["csv", "jsonl"], help="output format (default: from --output's extension, else csv)")
    p.add_argument("--encoding", help="the input's encoding when it is not UTF-8, e.g. cp1252")


_EXTENSIONS.append(_training_parsers)


# -- the smarter loop (active learning) ----------------------------------------------------------

@command("next")
def cmd_next(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.labeling import QueueFilter, next_sentence
    from core.projects import get_project
    from core.suggestions import suggestion_for

    project = get_project(db, args.project)
    order = "useful" if args.strategy == "useful" else "shuffled"
    served, rows = [], []
    for _ in range(args.n):
        view = next_sentence(db, project.id, order=order, queue_filter=QueueFilter(), exclude_ids=served)
        if view is None:
            break
        served.append(view.id)
        suggestion = suggestion_for(db, view.id) if args.strategy == "useful" else None
        reason = (suggestion.reason if suggestion and suggestion.reason else
                  "not ranked yet (no model or suggestions so far)") if args.strategy == "useful" else "random"
        rows.append({"sentence_id": view.id, "text": view.text, "reason": reason,
                     "suggested": project.label_name(suggestion.label) if suggestion else None})
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            print(f"{r['sentence_id']:>7}  {r['reason']:<55}  {r['text']}")
    return 0


@command("suspects")
def cmd_suspects(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.projects import get_project
    from core.suggestions import check_queue

    project = get_project(db, args.project)
    rows = [
        {"sentence_id": i.sentence_id, "text": i.text, "label": project.label_name(i.current_label),
         "suggested": project.label_name(i.suggested_label), "score": round(i.score, 4), "reason": i.reason}
        for i in check_queue(db, project.id)
    ]
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            print(f"{r['score']:.3f}  {r['label']:>15} -> {r['suggested'] or '?':<15}  {r['text']}")
        if not rows:
            print("no suspected label errors (they are computed after each training run, and by "
                  "`train --kind label-check`)")
    return 0


def _active_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("next", help="the sentences the labelling queue would serve next, with the reason for each")
    p.add_argument("--project", required=True)
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--strategy", choices=["useful", "random"], default="useful")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("suspects", help="labelled sentences ranked by how likely their label is wrong")
    p.add_argument("--project", required=True)
    p.add_argument("--json", action="store_true")


_EXTENSIONS.append(_active_parsers)


# -- accounts (issue 11) -------------------------------------------------------------------------

def _new_password(args: argparse.Namespace, name: str) -> str:
    """From one line of stdin (`--password-stdin`, for scripts), else typed twice without echo."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    password = getpass.getpass(f"Password for {name}: ")
    if getpass.getpass("The same password again: ") != password:
        raise AppError("The two passwords differ; nothing was changed.")
    return password


def cmd_users_add(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.accounts import create_user

    user = create_user(db, CLI_ACTOR, args.name, args.role, _new_password(args, args.name))
    print(f"created {user.role.value} {user.name!r}")
    return 0


def cmd_users_list(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.accounts import list_users

    users = list_users(db, CLI_ACTOR)
    rows = [{"name": u.name, "role": u.role.value, "disabled": u.disabled,
             "created_at": u.created_at.isoformat(timespec="seconds"), "created_by": u.created_by,
             "last_login_at": u.last_login_at.isoformat(timespec="seconds") if u.last_login_at else None}
            for u in users]
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        print(f"{r['name']:<24} {r['role']:<10} {'disabled' if r['disabled'] else 'active':<9} "
              f"last login {r['last_login_at'] or 'never'}")
    if not rows:
        print("no accounts yet: `python -m core users add NAME --role admin`, or open the app to create the first admin")
    return 0


def cmd_users_disable(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.accounts import disable_user

    user = disable_user(db, CLI_ACTOR, args.name)
    print(f"disabled {user.name!r}: it cannot sign in, and its open sessions have ended")
    return 0


def cmd_users_enable(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.accounts import enable_user

    user = enable_user(db, CLI_ACTOR, args.name)
    print(f"enabled {user.name!r}")
    return 0


def cmd_users_reset_password(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.accounts import reset_password

    user = reset_password(db, CLI_ACTOR, args.name, _new_password(args, args.name))
    print(f"new password set for {user.name!r}; its open sessions have ended")
    return 0


def cmd_users_set_role(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.accounts import set_role

    user = set_role(db, CLI_ACTOR, args.name, args.role)
    print(f"{user.name!r} is now {'an' if user.role.value == 'admin' else 'a'} {user.role.value}; "
          "its open sessions have ended")
    return 0


@command("users")
def cmd_users(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    return args.users_command(args, settings, db)


def _account_parsers(sub: argparse._SubParsersAction) -> None:
    users = sub.add_parser("users", help="accounts: add, list, disable, enable, reset-password, set-role")
    actions = users.add_subparsers(dest="users_action", required=True, metavar="ACTION")

    p = actions.add_parser("add", help="create an account (the password is asked for, twice)")
    p.add_argument("name")
    p.add_argument("--role", choices=["admin", "moderator"], required=True)
    p.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    p.set_defaults(users_command=cmd_users_add)

    p = actions.add_parser("list", help="every account with its role, state and last sign-in")
    p.add_argument("--json", action="store_true")
    p.set_defaults(users_command=cmd_users_list)

    p = actions.add_parser("disable", help="refuse sign-in from now on and end the account's open sessions")
    p.add_argument("name")
    p.set_defaults(users_command=cmd_users_disable)

    p = actions.add_parser("enable", help="let a disabled account sign in again")
    p.add_argument("name")
    p.set_defaults(users_command=cmd_users_enable)

    p = actions.add_parser("reset-password", help="set a new password (asked for, twice) and end open sessions")
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    p.set_defaults(users_command=cmd_users_reset_password)

    p = actions.add_parser("set-role", help="make an account an admin or a moderator (ends its open sessions)")
    p.add_argument("name")
    p.add_argument("role", choices=["admin", "moderator"])
    p.set_defaults(users_command=cmd_users_set_role)


@command("assign")
def cmd_assign(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.assignments import assign_work
    from core.projects import get_project

    project = get_project(db, args.project)
    summary = assign_work(db, CLI_ACTOR, project.id, args.moderators.split(","), args.overlap, seed=args.seed)
    each = ", ".join(f"{name} {n}" for name, n in summary.per_moderator.items())
    print(f"assigned {summary.assigned} sentences, {summary.doubled} of them to two moderators (blind): {each}")
    return 0


@command("agreement")
def cmd_agreement(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.agreement import moderator_stats, project_agreement
    from core.projects import get_project

    project = get_project(db, args.project)
    result = project_agreement(db, CLI_ACTOR, project.id)
    stats = moderator_stats(db, CLI_ACTOR, project.id)

    def interval(e) -> dict:  # noqa: ANN001 - an Estimate
        return {"value": e.value, "low": e.low, "high": e.high, "why": e.why}

    if args.json:
        _print_json({
            "sentences": result.n_items, "disagreements": result.n_disagree, "annotators": list(result.annotators),
            "krippendorff_alpha": interval(result.alpha),
            "pairs": [{"a": p.a, "b": p.b, "sentences": p.n_items, "agree": p.n_agree, "cohen_kappa": interval(p.kappa)}
                      for p in result.pairs],
            "moderators": [{"name": s.annotator, "labels": s.labels, "seconds_per_label": s.seconds_per_label,
                            "unsure_share": s.unsure_share, "adjudicated": s.adjudicated,
                            "agree_with_adjudicated": s.agree_with_adjudicated} for s in stats],
        })
        return 0
    print(f"{result.n_items} sentences labelled by two or more, {result.n_disagree} disagreements; "
          f"Krippendorff's alpha {result.alpha} (95% bootstrap interval)")
    for p in result.pairs:
        print(f"  {p.a} / {p.b}: {p.n_items} sentences, {p.n_agree} agree, Cohen's kappa {p.kappa}")
    return 0


def _team_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("assign", help="assign unassigned sentences to moderators, a share of them to two (blind)")
    p.add_argument("--project", required=True)
    p.add_argument("--moderators", required=True, help="comma-separated account names")
    p.add_argument("--overlap", type=float, default=0.0, help="share labelled by two moderators, 0 to 1 (e.g. 0.2)")
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("agreement", help="Krippendorff's alpha and pairwise Cohen's kappa, with 95%% intervals")
    p.add_argument("--project", required=True)
    p.add_argument("--json", action="store_true")


_EXTENSIONS.append(_account_parsers)
_EXTENSIONS.append(_team_parsers)


# -- backups (issue 13) --------------------------------------------------------------------------

def _size_text(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n} bytes"


def _counts_text(counts) -> str:  # noqa: ANN001 - a BackupCounts
    return (f"{counts.projects} projects, {counts.sentences} sentences, {counts.annotations} annotations, "
            f"{counts.runs} runs, {counts.model_folders} model folders")


@command("backup")
def cmd_backup(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.backup import create_backup, verify_backup

    if args.verify:
        manifest = verify_backup(Path(args.verify))
        print(f"{args.verify}: intact, all {len(manifest.files)} files match their SHA-256; "
              f"{manifest.database} database at schema {manifest.schema_revision}, made {manifest.created_at}; "
              f"{_counts_text(manifest.counts)}")
        return 0
    result = create_backup(settings, db, Path(args.output))
    print(f"wrote {result.path} ({_size_text(result.size)}): {result.manifest.database} database at schema "
          f"{result.manifest.schema_revision}; {_counts_text(result.manifest.counts)}")
    if result.missing_models:
        print(f"note: the model folders of runs {list(result.missing_models)} were already missing and are not "
              "in the backup", file=sys.stderr)
    return 0


@command("restore")
def cmd_restore(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from core.backup import restore_backup

    result = restore_backup(settings, db, Path(args.path), force=args.force)
    print(f"restored {args.path} (made {result.manifest.created_at}): {_counts_text(result.manifest.counts)}; "
          f"models in {settings.models_dir}; active models checked"
          + (f"; schema migrated from {result.manifest.schema_revision}" if result.migrated else ""))
    return 0


def _backup_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backup", help="write one file with the database, the kept model folders and checksums")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--output", metavar="PATH", help="the backup file to write, e.g. backups/teach-$(date +%%F).tar")
    what.add_argument("--verify", metavar="PATH", help="check an existing backup's checksums; change nothing")

    p = sub.add_parser("restore", help="replace the database and model folders with a backup's (checked first)")
    p.add_argument("path")
    p.add_argument("--force", action="store_true", help="replace a database that is not empty")


_EXTENSIONS.append(_backup_parsers)
