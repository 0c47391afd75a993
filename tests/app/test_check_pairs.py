"""AppTest for the Check labels page's contradicting pairs: two near-duplicate sentences with different
labels side by side, the differing words in bold and everything a sentence contains shown as typed."""
from __future__ import annotations

import numpy as np
from markdown_it import MarkdownIt

from core.importing import ImportRow, ParsedFile, commit_import
from core.labeling import history
from core.projects import create_project
from core.suggestions import PAIR_MODEL_KEY, cached_embeddings, label_pairs, project_sentences
from tests.helpers import ADMIN
from ui.common import get_db

GOOD = "The **x** film was <b>good</b> and fun."
BAD = "The **x** film was <b>bad</b> and fun."
ELSE = "A sentence about the weather."
VECTORS = {GOOD: [1.0, 0.0], BAD: [0.98, 0.199], ELSE: [0.0, 1.0]}  # GOOD and BAD: cosine 0.98


def _pair_project() -> int:
    db = get_db()
    project = create_project(db, ADMIN, "pairs", ["negative", "positive"])
    rows = (ImportRow(1, GOOD, "positive", "train", "d", 0), ImportRow(2, BAD, "negative", "train", "d", 1),
            ImportRow(3, ELSE, "negative", "train", "d", 2))
    commit_import(db, ADMIN, project.id, ParsedFile("t", rows, (), 0))
    data = project_sentences(db, project.id)
    # What the worker caches after a run, made here from constructed vectors.
    cached_embeddings(db, PAIR_MODEL_KEY, data.hashes, data.texts,
                      lambda texts: np.array([VECTORS[t] for t in texts], dtype=np.float32))
    return project.id


def _pairs_view(make_app, role: str = "admin"):
    at = make_app(role=role)
    project_id = _pair_project()
    at.session_state["project_id"] = project_id
    at.switch_page("pages/check.py").run()
    assert at.radio(key="check-view").options == ["Labels to check (0)", "Contradicting pairs (1)"]
    at.radio(key="check-view").set_value("pairs").run()
    assert not at.exception
    return at, project_id


def _rendered(markdown: str) -> str:
    """The HTML a CommonMark renderer (raw HTML allowed, as the trap requires) makes of the Markdown."""
    return MarkdownIt("commonmark").render(markdown).strip()


def test_a_pair_is_shown_side_by_side_with_the_differing_word_in_bold_and_user_markup_literal(make_app):
    at, _ = _pairs_view(make_app)
    sides = [m.value for m in at.markdown if "film" in m.value]
    assert len(sides) == 2
    # Only the app's own ** survive as bold; the sentence's ** and <b> are text.
    assert [_rendered(s) for s in sides] == [
        "<p>The **x** film was <strong>&lt;b&gt;good&lt;/b&gt;</strong> and fun.</p>",
        "<p>The **x** film was <strong>&lt;b&gt;bad&lt;/b&gt;</strong> and fun.</p>",
    ]
    captions = [c.value.replace("\\", "") for c in at.caption]
    assert any(c.startswith("Labelled positive · sentence") for c in captions)
    assert any(c.startswith("Labelled negative · sentence") for c in captions)
    assert "1 pair · cosine 0.98" in captions
    assert at.button(key="pair-label-0").label.replace("\\", "") == "Both: negative"


def test_keep_both_settles_the_pair_and_keeps_both_labels(make_app):
    at, project_id = _pairs_view(make_app, role="moderator")
    at.button(key="pair-keep").click().run()
    assert not at.exception
    assert any("No contradicting pairs right now" in s.value for s in at.success)
    assert at.radio(key="check-view").options[1] == "Contradicting pairs (0)"
    assert label_pairs(get_db(), project_id) == []
    data = project_sentences(get_db(), project_id)
    assert data.labels == [1, 0, 0]


def test_both_one_label_relabels_the_other_side(make_app):
    at, project_id = _pairs_view(make_app)
    at.button(key="pair-label-0").click().run()
    assert not at.exception
    data = project_sentences(get_db(), project_id)
    assert data.labels == [0, 0, 0]
    assert [(a.label, a.source, a.annotator) for a in history(get_db(), data.ids[0])][-1] == (0, "check", "tester")
    assert any("No contradicting pairs right now" in s.value for s in at.success)
