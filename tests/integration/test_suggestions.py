"""Suggestions, the useful queue, the check queue and the embedding cache on a real SQLite file.

The encoder here is a deterministic bag-of-words function standing in for the sentence body (the real
body is exercised in tests/slow); everything downstream of it is the production code.
"""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from core.errors import PermissionDenied
from core.labeling import QueueFilter, history, label_conflicts, next_sentence, save_label, sentence_table
from core.suggestions import (
    KEPT_APART,
    PAIR_MODEL_KEY,
    REFRESH_EVERY,
    cached_embeddings,
    check_queue,
    keep_pair_apart,
    label_pair_alike,
    label_pairs,
    project_sentences,
    refresh_due,
    refresh_suggestions,
    resolve_check,
    store_suspects,
    suggestion_for,
)
from tests.helpers import ADMIN, CountingEncoder, make_labelled_project, moderator



def test_embeddings_are_cached_by_model_and_text_hash(db, project):
    make_labelled_project(db, project)
    data = project_sentences(db, project.id)
    encoder = CountingEncoder()
    first = cached_embeddings(db, "base", data.hashes, data.texts, encoder)
    assert encoder.encoded == len(data.texts) and first.shape == (len(data.texts), 16)
    again = cached_embeddings(db, "base", data.hashes, data.texts, encoder)
    assert encoder.encoded == len(data.texts)  # nothing encoded twice
    np.testing.assert_allclose(first, again)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-5)
    cached_embeddings(db, "run-7", data.hashes[:3], data.texts[:3], encoder)
    assert encoder.encoded == len(data.texts) + 3  # another model's embeddings are its own


def test_refresh_is_due_after_every_few_new_labels(db, project):
    assert refresh_due(db, project.id) is None  # nothing labelled yet
    make_labelled_project(db, project)
    assert refresh_due(db, project.id) == "base"
    refresh_suggestions(db, project.id, "base", CountingEncoder())
    assert refresh_due(db, project.id) is None
    ids = list(sentence_table(db, project.id, limit=100)[0]["id"])
    for i in range(REFRESH_EVERY - 1):
        save_label(db, moderator("ana"), ids[i], 1)
    assert refresh_due(db, project.id) is None
    save_label(db, moderator("ana"), ids[REFRESH_EVERY], 0)
    assert refresh_due(db, project.id) == "base"


def test_suggestions_preselect_and_useful_queue_serves_precomputed_rank(db, project):
    make_labelled_project(db, project)
    from core.importing import ImportRow, ParsedFile, commit_import

    extra = ["He kicked the door and then kicked me.", "We planted tomatoes on Sunday.", "She hit me once.",
             "The bus was late again today.", "He pushed me but I am not sure it was hard."]
    commit_import(db, ADMIN, project.id, ParsedFile("t", tuple(ImportRow(i, t, None, "train", "new", i) for i, t in enumerate(extra)), (), 0))
    seconds = refresh_suggestions(db, project.id, "base", CountingEncoder())
    assert seconds < 5
    served, reasons = [], []
    for _ in range(6):
        view = next_sentence(db, project.id, order="useful", exclude_ids=served)
        served.append(view.id)
        reasons.append(suggestion_for(db, view.id).reason)
    assert len(set(served)) == 6 and next_sentence(db, project.id, order="useful", exclude_ids=served) is None
    assert all(r.startswith(("model unsure", "likeliest", "random")) for r in reasons)
    by_text = {next_sentence(db, project.id, queue_filter=QueueFilter(search=t[:12])).id: t for t in extra}
    violent_id = next(i for i, t in by_text.items() if t.startswith("He kicked"))
    calm_id = next(i for i, t in by_text.items() if t.startswith("We planted"))
    assert suggestion_for(db, violent_id).label == 1 and suggestion_for(db, calm_id).label == 0


def test_suspects_and_conflicts_fill_the_check_queue_until_resolved(db, project):
    make_labelled_project(db, project)
    data = project_sentences(db, project.id)
    emb = cached_embeddings(db, "run-1", data.hashes, data.texts, CountingEncoder())
    flipped = next(i for i, t in enumerate(data.texts) if t.startswith("He punched"))
    save_label(db, moderator("ana"), data.ids[flipped], 0)  # a deliberately wrong label
    data = project_sentences(db, project.id)
    assert store_suspects(db, project.id, 1, data.ids, emb, data.labels, 2) >= 1
    queue = check_queue(db, project.id)
    assert queue[0].sentence_id == data.ids[flipped] and queue[0].suggested_label == 1
    assert queue[0].reason == "suspected label error" and len(queue[0].probs) == 2

    other = data.ids[-2]
    save_label(db, moderator("ben"), other, 1)
    save_label(db, moderator("cleo"), other, 0)
    assert other in label_conflicts(db, project.id)
    assert other in [i.sentence_id for i in check_queue(db, project.id) if i.reason == "moderators disagree"]

    # ana's 0 over the imported 1 is a dispute as well as a suspect: hidden from a moderator's queue,
    # and an admin's to decide
    assert data.ids[flipped] not in [i.sentence_id for i in check_queue(db, project.id, moderator("reviewer"))]
    with pytest.raises(PermissionDenied, match="adjudicate"):
        resolve_check(db, moderator("reviewer"), data.ids[flipped], 1)
    resolve_check(db, ADMIN, data.ids[flipped], 1)
    with pytest.raises(PermissionDenied, match="adjudicate"):
        resolve_check(db, moderator("reviewer"), other, 0)  # a disagreement is an admin's to decide
    resolve_check(db, ADMIN, other, 0)
    remaining = [i.sentence_id for i in check_queue(db, project.id)]
    assert data.ids[flipped] not in remaining and other not in remaining
    assert label_conflicts(db, project.id) == []


def test_check_queue_hides_a_suspect_whose_label_changed_since(db, project):
    make_labelled_project(db, project)
    data = project_sentences(db, project.id)
    emb = cached_embeddings(db, "run-1", data.hashes, data.texts, CountingEncoder())
    idx = next(i for i, t in enumerate(data.texts) if t.startswith("He punched"))
    save_label(db, moderator("ana"), data.ids[idx], 0)
    data = project_sentences(db, project.id)
    store_suspects(db, project.id, 1, data.ids, emb, data.labels, 2)
    save_label(db, moderator("ana"), data.ids[idx], 1)  # fixed in the label page meanwhile
    assert data.ids[idx] not in [i.sentence_id for i in check_queue(db, project.id)]


def test_refreshed_suggestions_map_the_head_through_its_classes_when_a_label_has_no_examples(db):
    from tests.fakes import encode
    from tests.three_labels import INSULT, UNLABELLED, VIOLENCE, make_three_label_project

    project = make_three_label_project(db)
    refresh_suggestions(db, project.id, "base", encode)
    data = project_sentences(db, project.id)
    shoved = suggestion_for(db, data.ids[data.texts.index(UNLABELLED[0])])
    weather = suggestion_for(db, data.ids[data.texts.index(UNLABELLED[1])])
    assert shoved.label == VIOLENCE and weather.label == 0
    assert len(shoved.probs) == 3 and shoved.probs[INSULT] == 0.0 and weather.probs[INSULT] == 0.0
    assert shoved.probs[VIOLENCE] > 0.5


def test_suspects_have_one_probability_per_project_label_when_a_label_has_no_examples(db):
    from core.labeling import save_label
    from tests.fakes import encode
    from tests.three_labels import INSULT, VIOLENCE, make_three_label_project

    project = make_three_label_project(db)
    data = project_sentences(db, project.id)
    punched = data.ids[data.texts.index("He punched the referee in the face.")]
    save_label(db, moderator("ana"), punched, 0)  # a violent sentence labelled other
    data = project_sentences(db, project.id)
    emb = cached_embeddings(db, "base", data.hashes, data.texts, encode)
    assert store_suspects(db, project.id, 1, data.ids, emb, data.labels, 3) >= 1
    [first, *_] = check_queue(db, project.id)
    assert first.sentence_id == punched and first.suggested_label == VIOLENCE
    assert len(first.probs) == 3 and first.probs[INSULT] == 0.0


def test_the_worker_stores_suspects_from_the_new_versions_embeddings_and_caches_base_ones_for_pairs(settings, db, project):
    from core.params import FAST_PRESET
    from core.runs import request_retrain
    from core.worker import TrainingWorker
    from db.models import Embedding
    from tests.fakes import FakeFactory

    make_labelled_project(db, project)
    data = project_sentences(db, project.id)
    flipped = data.ids[next(i for i, t in enumerate(data.texts) if t.startswith("He punched"))]
    save_label(db, moderator("ana"), flipped, 0)  # a deliberately wrong label
    run = request_retrain(db, ADMIN, project.id, FAST_PRESET, "fast")
    worker = TrainingWorker(settings, db, worker_id="test-worker", classifiers=FakeFactory())
    assert worker.claim_next(run.id) == run.id
    worker.execute(run.id)
    queue = check_queue(db, project.id)
    assert queue[0].sentence_id == flipped and queue[0].suggested_label == 1
    assert queue[0].reason == "suspected label error"
    assert all(item.current_label != item.suggested_label for item in queue)
    with db.read() as session:
        base_hashes = set(session.scalars(select(Embedding.text_hash).where(Embedding.model_key == PAIR_MODEL_KEY)))
    labelled = {h for h, label in zip(data.hashes, data.labels) if label is not None}
    assert base_hashes == labelled  # the 24 labelled sentences, not the unlabelled one
    assert len(base_hashes) == 24


# -- contradicting pairs -----------------------------------------------------------------------------

PAIR_TEXTS = {
    "He shoved me hard against the kitchen counter.": ([1.0, 0.0, 0.0], "1"),
    "He shoved me hard against the kitchen table.": ([0.95, 0.3122, 0.0], "0"),  # cosine 0.95 with the first
    "The court date was moved to next month.": ([0.0, 1.0, 0.0], "0"),
    "The court date was moved to next week.": ([0.0, 0.99, 0.1411], "0"),  # near-duplicate, same label
    "I changed the locks last weekend.": ([0.0, 0.0, 1.0], "1"),
    "I changed the locks last week.": ([0.6, 0.0, 0.8], "0"),  # cosine 0.8: too far apart
}


def _pair_project(db, project):
    from core.importing import ImportRow, ParsedFile, commit_import

    rows = tuple(ImportRow(i + 1, text, label, "train", "p", i) for i, (text, (_, label)) in enumerate(PAIR_TEXTS.items()))
    commit_import(db, ADMIN, project.id, ParsedFile("test", rows, (), 0))
    data = project_sentences(db, project.id)
    cached_embeddings(db, PAIR_MODEL_KEY, data.hashes, data.texts,
                      lambda texts: np.array([PAIR_TEXTS[t][0] for t in texts], dtype=np.float32))
    return {text: sid for sid, text in zip(data.ids, data.texts)}


def test_contradicting_pairs_are_near_duplicates_with_different_labels(db, project):
    ids = _pair_project(db, project)
    [pair] = label_pairs(db, project.id)
    assert (pair.first.text, pair.first.label) == ("He shoved me hard against the kitchen counter.", 1)
    assert (pair.second.text, pair.second.label) == ("He shoved me hard against the kitchen table.", 0)
    assert pair.similarity == pytest.approx(0.95, abs=1e-3)
    assert [(p.first.sentence_id, p.second.sentence_id) for p in label_pairs(db, project.id, threshold=0.8)] == [
        (ids["He shoved me hard against the kitchen counter."], ids["He shoved me hard against the kitchen table."]),
        (ids["I changed the locks last weekend."], ids["I changed the locks last week."])]
    assert label_pairs(db, project.id, threshold=0.96) == []


def test_a_pair_labelled_alike_leaves_the_list_and_only_the_other_side_changes(db, project):
    ids = _pair_project(db, project)
    counter, table = ids["He shoved me hard against the kitchen counter."], ids["He shoved me hard against the kitchen table."]
    label_pair_alike(db, moderator("ana"), counter, table, 1)
    assert label_pairs(db, project.id) == []
    assert [(a.label, a.source) for a in history(db, table)] == [(0, "import"), (1, "check")]
    assert [(a.label, a.source) for a in history(db, counter)] == [(1, "import")]


def test_a_pair_kept_apart_stays_off_the_list_until_a_label_changes(db, project):
    ids = _pair_project(db, project)
    counter, table = ids["He shoved me hard against the kitchen counter."], ids["He shoved me hard against the kitchen table."]
    keep_pair_apart(db, moderator("ana"), counter, table)
    assert label_pairs(db, project.id) == []
    assert [(a.label, a.note) for a in history(db, counter)][-1] == (1, f"{KEPT_APART}{table}")
    assert [(a.label, a.note) for a in history(db, table)][-1] == (0, f"{KEPT_APART}{counter}")
    save_label(db, moderator("ben"), table, 0)  # the same label again: still settled
    assert label_pairs(db, project.id) == []
    save_label(db, moderator("ben"), table, 1)
    save_label(db, moderator("ben"), table, 0)  # changed and back: the decision is asked for again
    assert [p.second.sentence_id for p in label_pairs(db, project.id)] == [table]


def test_pairs_leave_out_disputed_and_not_yet_embedded_sentences(db, project):
    from core.importing import ImportRow, ParsedFile, commit_import

    ids = _pair_project(db, project)
    counter, table = ids["He shoved me hard against the kitchen counter."], ids["He shoved me hard against the kitchen table."]
    commit_import(db, ADMIN, project.id, ParsedFile("t", (ImportRow(1, "He shoved me hard against the kitchen door.", "0", "train", "q", 0),), (), 0))
    assert [p.second.sentence_id for p in label_pairs(db, project.id)] == [table]  # the new one has no vector yet
    save_label(db, moderator("ben"), table, 1)
    save_label(db, moderator("cleo"), table, 0)  # moderators disagree: an admin decides that first
    assert label_conflicts(db, project.id) == [table]
    assert label_pairs(db, project.id) == []


def test_a_pair_side_still_blind_for_a_moderator_is_not_shown_to_them(db, project):
    from core.accounts import create_user
    from core.assignments import assign_work
    from core.importing import ImportRow, ParsedFile, commit_import
    from core.permissions import CLI_ACTOR

    ids = _pair_project(db, project)
    counter = ids["He shoved me hard against the kitchen counter."]
    commit_import(db, ADMIN, project.id, ParsedFile("t", (ImportRow(1, "He shoved me hard against the kitchen door.", None, "train", "q", 0),), (), 0))
    for name in ("ben", "cleo"):
        create_user(db, CLI_ACTOR, name, "moderator", "a long enough password")
    assert assign_work(db, ADMIN, project.id, ["ben", "cleo"], 1.0).doubled == 1  # a blind double for both
    data = project_sentences(db, project.id)
    door = data.ids[data.texts.index("He shoved me hard against the kitchen door.")]
    cached_embeddings(db, PAIR_MODEL_KEY, [data.hashes[-1]], [data.texts[-1]],
                      lambda texts: np.array([[0.97, 0.2431, 0.0]], dtype=np.float32))
    save_label(db, moderator("ben"), door, 0)
    pairs_of = lambda actor: sorted((p.first.sentence_id, p.second.sentence_id) for p in label_pairs(db, project.id, actor))  # noqa: E731
    table = ids["He shoved me hard against the kitchen table."]
    assert pairs_of(moderator("ben")) == sorted([(counter, table), (counter, door)])
    assert pairs_of(moderator("cleo")) == [(counter, table)]  # cleo has yet to label the door sentence blind
    assert pairs_of(None) == sorted([(counter, table), (counter, door)])
