"""The demo project created on first start, so a newcomer can label and retrain at once.

The posts in demo_data/posts.json are fictional and were written for this repository. Every
sentence carries its true label (tests use it as ground truth); only those marked `prelabelled`
are imported as labels, the rest wait in the queue.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.importing import ImportRow, ParsedFile, commit_import
from core.permissions import SYSTEM_ACTOR, Actor
from core.projects import ProjectInfo, create_project, list_projects
from db.engine import Database

DEMO_FILE = Path(__file__).resolve().parent / "demo_data" / "posts.json"
DEMO_PROJECT_NAME = "Demo: physical violence"
DEMO_LABELS = ["other", "physical violence"]
DEMO_GUIDELINES = """\
**Question:** does this sentence describe *physical* violence — contact with a person's body
(hitting, pushing, grabbing, choking, throwing something that hits someone)?

- **1 · physical violence** — the sentence itself describes such an act, even briefly or indirectly
  ("that was the night he grabbed my throat").
- **0 · other** — feelings, threats without contact, control, insults, legal steps, questions,
  recovery, and violence only hinted at elsewhere in the post.
- Judge the sentence, not the whole post; use the dimmed context only to understand it.
- Unsure? Pick your best guess and press **Not sure** so it can be reviewed.
"""


DEMO_CONTENT_NOTE = (
    "These posts describe abuse in relationships: hitting, choking, threats and control, in the words of "
    "the people it happened to. They are fictional, but they read as real."
)


@dataclass(frozen=True)
class DemoSentence:
    doc_id: str
    position: int
    text: str
    label: int
    prelabelled: bool


def demo_sentences() -> list[DemoSentence]:
    posts = json.loads(DEMO_FILE.read_text(encoding="utf-8"))["posts"]
    return [
        DemoSentence(post["id"], i, s["text"], int(s["label"]), bool(s["prelabelled"]))
        for post in posts
        for i, s in enumerate(post["sentences"])
    ]


def create_demo_project(db: Database, name: str = DEMO_PROJECT_NAME, actor: Actor = SYSTEM_ACTOR) -> ProjectInfo:
    project = create_project(
        db,
        actor,
        name,
        DEMO_LABELS,
        description="Fictional support-forum posts. Does a sentence describe physical violence?",
        guidelines=DEMO_GUIDELINES,
        test_fraction=0.25,
        content_note=DEMO_CONTENT_NOTE,
    )
    rows = tuple(
        ImportRow(line=i + 1, text=s.text, label=str(s.label) if s.prelabelled else None, split=None,
                  doc_id=s.doc_id, position=s.position)
        for i, s in enumerate(demo_sentences())
    )
    commit_import(db, actor, project.id, ParsedFile(format="demo", rows=rows, rejected=(), duplicates_in_file=0),
                  annotator="demo")
    return project


def ensure_demo_project(db: Database, actor: Actor = SYSTEM_ACTOR) -> ProjectInfo | None:
    """Create the demo project when the database has no project at all; otherwise do nothing."""
    if list_projects(db):
        return None
    return create_demo_project(db, actor=actor)
