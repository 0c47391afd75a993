"""Small, original test data and helpers shared by the integration and slow tests."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from core.importing import ImportRow, ParsedFile, commit_import
from core.permissions import Actor, Role

ROOT = Path(__file__).resolve().parent.parent

# Who acts in core calls: core checks the role, so tests say who they are.
ADMIN = Actor("admin", Role.admin)


def moderator(name: str = "sam") -> Actor:
    return Actor(name, Role.moderator)

VIOLENT = [
    "He shoved me hard against the kitchen counter.",
    "She slapped me across the face in front of the kids.",
    "He grabbed my arm so tight it left marks.",
    "He kicked the back of my legs until I fell.",
    "She threw a mug that hit my shoulder.",
    "He pinned me to the floor and would not let go.",
    "He punched me in the stomach during the argument.",
    "He pulled me down the stairs by my hair.",
    "She scratched my neck when I tried to leave.",
    "He hit me with the back of his hand.",
    "He pushed me out of the moving car door.",
    "He choked me until I nearly blacked out.",
]
OTHER = [
    "I finally told my sister what has been going on.",
    "The court date was moved to next month.",
    "I feel tired all the time and I can't focus at work.",
    "Does anyone know how long a protective order lasts?",
    "My counsellor suggested I keep a journal.",
    "We used to be happy in the first year.",
    "He checks my phone every evening.",
    "I am staying with a friend for now.",
    "Thank you all for reading this far.",
    "My kids start at a new school on Monday.",
    "I changed the locks last weekend.",
    "It still hurts to think about how it ended.",
]


def make_labelled_project(db, project, n_per_class: int = 12) -> None:
    """Import the sentences above with their labels; test_fraction 0.25 splits them by hash."""
    rows = []
    for i, text in enumerate(VIOLENT[:n_per_class]):
        rows.append(ImportRow(len(rows) + 1, text, "1", "train" if i % 4 else "test", f"v{i // 4}", i % 4))
    for i, text in enumerate(OTHER[:n_per_class]):
        rows.append(ImportRow(len(rows) + 1, text, "0", "train" if i % 4 else "test", f"o{i // 4}", i % 4))
    rows.append(ImportRow(len(rows) + 1, "An unlabelled sentence about the weekend.", None, "train", "x", 0))
    commit_import(db, ADMIN, project.id, ParsedFile("test", tuple(rows), (), 0))


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    return dict(os.environ, DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", WORKER_AUTOSTART="0",
                HEARTBEAT_SECONDS="0.5", WORKER_LOST_AFTER_SECONDS="3", **extra)


def start_worker(data_dir: Path) -> subprocess.Popen:
    log = open(data_dir / "worker-test.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "core", "worker"], cwd=ROOT, env=env_for(data_dir),
                            stdout=log, stderr=subprocess.STDOUT)


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)  # polling a database row written by another process
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def fake_succeeded_run(db, project_id: int, version: int, p1_of, activate: bool = False) -> int:
    """The rows a finished run leaves (status, metrics, one prediction per sentence), written directly,
    for testing review queries and pages without spending a training run on each test."""
    import json

    from db.models import Prediction, Project, RunStatus, Sentence, TrainingRun

    with db.write() as session:
        run = TrainingRun(project_id=project_id, version=version, status=RunStatus.succeeded, preset="fast",
                          params_json="{}", snapshot_json="[]", snapshot_hash="x", metrics_json='{"accuracy": 0.5}',
                          model_dir="/nonexistent")
        session.add(run)
        session.flush()
        for s in session.query(Sentence).filter(Sentence.project_id == project_id):
            p1 = p1_of(s)
            session.add(Prediction(run_id=run.id, sentence_id=s.id, label=int(p1 > 0.5),
                                   confidence=max(p1, 1 - p1), probs_json=json.dumps([1 - p1, p1])))
        if activate:
            session.get(Project, project_id).active_run_id = run.id
        return run.id


VIOLENT_WORDS = {"shoved", "slapped", "grabbed", "kicked", "threw", "pinned", "punched", "pulled", "scratched",
                 "hit", "pushed", "choked"}


class CountingEncoder:
    """A deterministic bag-of-words stand-in for the sentence body that counts what it encodes: a
    violence-word dimension plus hashed words. The real body is exercised in tests/slow."""

    def __init__(self) -> None:
        self.encoded = 0

    def __call__(self, texts):
        self.encoded += len(texts)
        out = []
        for text in texts:
            words = text.lower().strip(".").split()
            v = np.zeros(16)
            v[0] = 3.0 * sum(w in VIOLENT_WORDS for w in words)
            for w in words:
                v[1 + int(hashlib.md5(w.encode()).hexdigest(), 16) % 15] += 0.3
            out.append(v + 0.01)
        return np.array(out)



def as_from_a_terminal() -> None:
    """Popen's preexec_fn for a child that a test interrupts with SIGINT: Ctrl-C's signal unblocked and
    at its default, as a shell gives it. A child inherits its parent's blocked and ignored signals, and
    in the full suite the pytest process can hold SIGINT blocked (a library's helper process started
    from it blocks the signals it must not get while spawning), so a test's Ctrl-C went unheard."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    signal.signal(signal.SIGINT, signal.SIG_DFL)
