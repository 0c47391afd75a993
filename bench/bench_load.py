"""20 moderators labelling at once while a real worker trains and scores: lost labels, lock errors, latency.

    python bench/bench_load.py [--seconds 120] [--db sqlite|postgresql|both] [--moderators 20]
                               [--think-ms 1000] [--data ../shared/data/sst2]

For each database: a fresh DATA_DIR (SQLite in WAL mode, or a throwaway PostgreSQL cluster,
tests/postgres.py) holding the demo project plus the SST-2 train sentences, unlabelled (~7,000);
`python -m core worker` started as its own process (WORKER_AUTOSTART=0, as in production) and a fast
run queued. Once the worker is fine-tuning, N moderator threads label through `core` exactly as the
Label page does: `next_sentence(annotator=...)`, a think time, `save_label(actor, ...)`. Threads in
one process, because the Streamlit server runs every browser session as a thread of one process.
Whenever the worker has no run left, the bench queues the next one, so it trains or scores throughout
(the share of time it had a run is printed; 100% means the latency was measured under training).

Reported per database: labels acknowledged (save_label returned) against annotations written (counted
in the database afterwards, per moderator), errors by kind, p50/p95/max of the save_label call and of
next_sentence, and the verdict for issue 13's goal, "p95 < 50 ms on SQLite with one worker training".
Every run writes bench/output/load-<db>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench._sst2 import read_sst2  # noqa: E402
from core.accounts import create_first_admin, create_user  # noqa: E402
from core.config import Settings  # noqa: E402
from core.db import open_database  # noqa: E402
from core.demo import create_demo_project  # noqa: E402
from core.errors import TrainingRefused  # noqa: E402
from core.importing import commit_import, parse_file  # noqa: E402
from core.labeling import QueueFilter, next_sentence, save_label  # noqa: E402
from core.params import FAST_PRESET  # noqa: E402
from core.permissions import Actor  # noqa: E402
from core.runs import list_runs, request_retrain  # noqa: E402
from db.models import Annotation, Role, RunStatus  # noqa: E402

GOAL_P95_MS = 50.0
PASSWORD = "bench-password-1234"


@dataclass
class Moderator:
    name: str
    acknowledged: int = 0
    save_ms: list[float] = field(default_factory=list)
    next_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    seen: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class LoadResult:
    database: str
    seconds: float
    moderators: int
    think_ms: int
    acknowledged: int
    written: int
    distinct_sentences: int  # moderators are served the same next sentence unless assignments split them
    lost: int  # acknowledged but not in the database, summed over moderators
    errors: dict[str, int]
    lock_errors: int
    save_p50_ms: float
    save_p95_ms: float
    save_max_ms: float
    next_p50_ms: float
    next_p95_ms: float
    next_max_ms: float
    labels_per_second: float
    worker_busy_share: float  # share of samples in which the worker had a run (training or scoring)
    worker_phases: list[str]
    runs_finished: int


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _csv(rows: list[tuple[str, int]]) -> bytes:
    def cell(text: str) -> str:
        return '"' + text.replace('"', '""') + '"'

    return ("text\n" + "\n".join(cell(text) for text, _ in rows) + "\n").encode()


def _prepare(db, sst2: list[tuple[str, int]], n_moderators: int) -> tuple[int, list[Actor], Actor]:
    admin_info = create_first_admin(db, "bench-admin", PASSWORD)
    admin = Actor(admin_info.name, Role.admin)
    project = create_demo_project(db, actor=admin)
    parsed = parse_file(_csv(sst2), "sst2.csv", max_rows=len(sst2) + 1)
    commit_import(db, admin, project.id, parsed)
    moderators = []
    for i in range(n_moderators):
        info = create_user(db, admin, f"mod-{i:02d}", Role.moderator, PASSWORD)
        moderators.append(Actor(info.name, Role.moderator))
    return project.id, moderators, admin


def _start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", "core", "worker"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # core/launcher.py: the worker leaves through its clean-up path
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _keep_worker_busy(db, project_id: int, admin: Actor) -> None:
    """Queue the next run when none is queued or running; the moderators' labels make each one new."""
    runs = list_runs(db, project_id)
    if any(r.status in (RunStatus.queued, RunStatus.running) or r.scoring_in_progress for r in runs):
        return
    try:
        request_retrain(db, admin, project_id, FAST_PRESET, "fast", force=True)
    except TrainingRefused:
        pass  # e.g. a run queued in between by another path: it keeps the worker busy just the same


def _wait_for_training(db, project_id: int, worker: subprocess.Popen, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit(f"the worker exited with {worker.returncode}; see its log")
        runs = list_runs(db, project_id)
        if runs and runs[0].phase == "fine-tuning the sentence encoder" and runs[0].progress_step > 0:
            return
        if runs and runs[0].status == RunStatus.failed:
            raise SystemExit(f"the first run failed: {runs[0].error}")
        time.sleep(0.2)
    raise SystemExit("the worker did not start fine-tuning within 5 minutes")


def _moderate(db, project_id: int, actor: Actor, gold: dict[str, int], think_s: float, stop: threading.Event,
              result: Moderator, seed: int) -> None:
    rng = random.Random(seed)
    # As the Label page asks: the queue's default order (half use "most useful first", which reads the
    # worker's suggestions), without the sentences this session has already seen.
    order = "useful" if seed % 2 else "document"
    while not stop.is_set():
        try:
            started = time.perf_counter()
            view = next_sentence(db, project_id, order=order, queue_filter=QueueFilter(), exclude_ids=result.seen,
                                 annotator=actor.name)
            result.next_ms.append((time.perf_counter() - started) * 1000)
        except Exception as error:  # noqa: BLE001 - every failure is counted and reported, none hidden
            result.errors[f"next_sentence {type(error).__name__}: {str(error)[:120]}"] += 1
            continue
        if view is None:
            return  # the queue is empty
        result.seen.add(view.id)
        # Reading the sentence; a moderator's own pace, not the app's.
        if stop.wait(rng.uniform(0.5, 1.5) * think_s):
            return
        label = gold.get(view.text, rng.randint(0, 1))
        try:
            started = time.perf_counter()
            save_label(db, actor, view.id, label)
            elapsed = (time.perf_counter() - started) * 1000
        except Exception as error:  # noqa: BLE001 - a lock error is exactly what this bench looks for
            result.errors[f"save_label {type(error).__name__}: {str(error)[:120]}"] += 1
            continue
        result.acknowledged += 1
        result.save_ms.append(elapsed)


def run_one(kind: str, seconds: float, n_moderators: int, think_ms: int, sst2: list[tuple[str, int]]) -> LoadResult:
    cluster = None
    with tempfile.TemporaryDirectory(prefix=f"bench-load-{kind}-") as tmp:
        env = {**os.environ, "DATA_DIR": f"{tmp}/data", "WORKER_AUTOSTART": "0", "HF_HUB_OFFLINE": "1"}
        env.pop("DATABASE_URL", None)
        if kind == "postgresql":
            from tests.postgres import Cluster

            cluster = Cluster()
            env["DATABASE_URL"] = cluster.new_database()
        worker = None
        try:
            settings = Settings.from_env(env)
            settings.ensure_dirs()
            db = open_database(settings)
            project_id, moderators, admin = _prepare(db, sst2, n_moderators)
            gold = {text: label for text, label in sst2}
            request_retrain(db, admin, project_id, FAST_PRESET, "fast")
            worker = _start_worker(env, Path(tmp) / "worker.log")
            print(f"[{kind}] worker started; waiting for it to fine-tune", flush=True)
            _wait_for_training(db, project_id, worker)

            stop = threading.Event()
            results = [Moderator(actor.name) for actor in moderators]
            threads = [threading.Thread(target=_moderate, args=(db, project_id, actor, gold, think_ms / 1000, stop,
                                                                result, i), name=actor.name)
                       for i, (actor, result) in enumerate(zip(moderators, results))]
            print(f"[{kind}] {n_moderators} moderators labelling for {seconds:.0f} s", flush=True)
            started = time.monotonic()
            for thread in threads:
                thread.start()
            busy_samples, phases, slowest_sample = [], [], 0.0
            while time.monotonic() - started < seconds:
                sampled = time.monotonic()
                runs = list_runs(db, project_id)
                running = [r for r in runs if r.status == RunStatus.running]
                busy_samples.append(bool(running))
                if running and (not phases or phases[-1] != running[0].phase):
                    phases.append(running[0].phase)
                _keep_worker_busy(db, project_id, admin)
                slowest_sample = max(slowest_sample, time.monotonic() - sampled)
                time.sleep(0.5)
            stop.set()
            elapsed = time.monotonic() - started  # labels acknowledged after this moment still count
            joined = time.monotonic()
            for thread in threads:
                thread.join()
            print(f"[{kind}] window {elapsed:.1f} s (slowest sample of the worker {slowest_sample:.1f} s); "
                  f"moderators stopped {time.monotonic() - joined:.1f} s after it", flush=True)
            runs_finished = sum(1 for r in list_runs(db, project_id) if r.status == RunStatus.succeeded)
            _stop_worker(worker)

            with db.read() as session:
                written_by = dict(session.execute(select(Annotation.annotator, func.count()).where(
                    Annotation.annotator.like("mod-%")).group_by(Annotation.annotator)).all())
                distinct = session.scalar(select(func.count(func.distinct(Annotation.sentence_id))).where(
                    Annotation.annotator.like("mod-%")))
            db.dispose()
        finally:
            if worker is not None:
                _stop_worker(worker)
            if cluster is not None:
                cluster.stop()

    acknowledged = sum(r.acknowledged for r in results)
    written = sum(written_by.values())
    lost = sum(max(0, r.acknowledged - written_by.get(r.name, 0)) for r in results)
    errors = Counter()
    for r in results:
        errors.update(r.errors)
    lock_errors = sum(n for what, n in errors.items() if "locked" in what.lower() or "lock" in what.lower()
                      or "OperationalError" in what)
    save_ms = [ms for r in results for ms in r.save_ms]
    next_ms = [ms for r in results for ms in r.next_ms]
    return LoadResult(
        database=kind, seconds=round(elapsed, 1), moderators=n_moderators, think_ms=think_ms,
        acknowledged=acknowledged, written=written, distinct_sentences=distinct, lost=lost, errors=dict(errors), lock_errors=lock_errors,
        save_p50_ms=round(statistics.median(save_ms), 1) if save_ms else float("nan"),
        save_p95_ms=round(percentile(save_ms, 0.95), 1), save_max_ms=round(max(save_ms, default=float("nan")), 1),
        next_p50_ms=round(statistics.median(next_ms), 1) if next_ms else float("nan"),
        next_p95_ms=round(percentile(next_ms, 0.95), 1), next_max_ms=round(max(next_ms, default=float("nan")), 1), labels_per_second=round(acknowledged / elapsed, 1),
        worker_busy_share=round(sum(busy_samples) / max(1, len(busy_samples)), 3), worker_phases=phases,
        runs_finished=runs_finished)


def report(result: LoadResult) -> None:
    r = result
    print(f"\n== {r.database}: {r.moderators} moderators, {r.seconds:.0f} s, think time ~{r.think_ms} ms ==")
    print(f"labels acknowledged {r.acknowledged}, annotations written {r.written}, lost {r.lost}"
          f" ({r.labels_per_second}/s, on {r.distinct_sentences} distinct sentences)")
    print(f"errors: {sum(r.errors.values())} (lock/operational: {r.lock_errors})")
    for what, n in sorted(r.errors.items(), key=lambda kv: -kv[1]):
        print(f"  {n} x {what}")
    print(f"save_label latency: p50 {r.save_p50_ms} ms, p95 {r.save_p95_ms} ms, max {r.save_max_ms} ms")
    print(f"next_sentence latency: p50 {r.next_p50_ms} ms, p95 {r.next_p95_ms} ms, max {r.next_max_ms} ms")
    print(f"worker had a run {r.worker_busy_share:.0%} of the time; phases seen: {', '.join(r.worker_phases)}; "
          f"versions finished: {r.runs_finished}")
    if r.database == "sqlite":
        met = r.save_p95_ms < GOAL_P95_MS and r.lost == 0 and r.lock_errors == 0
        print(f"goal 'p95 < {GOAL_P95_MS:.0f} ms on SQLite with one worker training': "
              f"{'MET' if met else 'NOT MET'} (p95 {r.save_p95_ms} ms, {r.lost} lost, {r.lock_errors} lock errors)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--moderators", type=int, default=20)
    parser.add_argument("--think-ms", type=int, default=1000, help="mean pause between labels (uniform 0.5-1.5x)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "sst2"))
    args = parser.parse_args()
    sst2 = read_sst2(Path(args.data) / "train.txt")
    out = ROOT / "bench" / "output"
    out.mkdir(parents=True, exist_ok=True)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        result = run_one(kind, args.seconds, args.moderators, args.think_ms, sst2)
        report(result)
        (out / f"load-{kind}.json").write_text(json.dumps(asdict(result), indent=2))


if __name__ == "__main__":
    main()
