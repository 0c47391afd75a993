"""A project whose labels are `other, insult, violence` (values 0, 1, 2) and that has no `insult`
examples yet: the shape of ../shared/cases/three-labels-gap.csv, rebuilt here (tests never read ../shared)."""
from __future__ import annotations

from core.importing import ImportRow, ParsedFile, commit_import
from core.projects import create_project
from tests.helpers import ADMIN

LABELS = ["other", "insult", "violence"]
OTHER, INSULT, VIOLENCE = 0, 1, 2

TRAIN = [
    ("He punched the referee in the face.", "violence"),
    ("She stabbed him with a kitchen knife.", "violence"),
    ("They kicked the man until he fell.", "violence"),
    ("He hit his brother with a bottle.", "violence"),
    ("The gang beat the shopkeeper badly.", "violence"),
    ("She slammed his head against the wall.", "violence"),
    ("The train was twenty minutes late.", "other"),
    ("We planted tomatoes in the garden.", "other"),
    ("The museum opens at ten on Sundays.", "other"),
    ("My cousin bought a new bicycle.", "other"),
    ("The soup needs a little more salt.", "other"),
    ("Our team meeting moved to Thursday.", "other"),
]
TEST = [
    ("He smashed a chair over the guard's back.", "violence"),
    ("They attacked the driver with bats.", "violence"),
    ("The bakery sells fresh bread every morning.", "other"),
    ("I finished reading the novel last night.", "other"),
]
UNLABELLED = ["Someone shoved an old man down the stairs.", "The weather will be sunny tomorrow."]


def make_three_label_project(db, name: str = "three labels"):
    """The project, its 12 train and 4 test labels and 2 unlabelled sentences; returns its ProjectInfo."""
    project = create_project(db, ADMIN, name, LABELS, test_fraction=0.25)
    rows = [(text, label, "train") for text, label in TRAIN] + [(text, label, "test") for text, label in TEST]
    rows += [(text, None, "train") for text in UNLABELLED]
    parsed = ParsedFile("csv", tuple(
        ImportRow(line=i + 2, text=text, label=label, split=split, doc_id="d", position=i)
        for i, (text, label, split) in enumerate(rows)
    ), (), 0)
    commit_import(db, ADMIN, project.id, parsed)
    return project
