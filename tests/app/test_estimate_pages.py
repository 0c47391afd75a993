"""AppTest for the estimate on the stream: the Evaluation page's switch to the random sample (and an
admin's request), and the Label page's evaluation batch."""
from __future__ import annotations

from sqlalchemy import select

from core.demo import DEMO_PROJECT_NAME
from core.estimate import batch_progress, estimate, request_estimate
from core.labeling import QueueFilter, next_sentence, save_label
from core.projects import get_project
from db.models import Sentence, Split
from tests.helpers import ADMIN, fake_succeeded_run, moderator
from ui.common import get_db, safe_text

BATCH = QueueFilter(unlabelled_only=False, evaluation_batch=True)


def _fours(s) -> float:
    """A fake version's P(label 1): it calls every sentence whose id is a multiple of 4 label 1."""
    return 0.9 if s.id % 4 == 0 else 0.2


def _strata(project_id: int) -> tuple[int, int]:
    """Unlabelled demo sentences the fake version calls 0 and 1 (the stream the sample is drawn from)."""
    with get_db().read() as session:
        ids = list(session.scalars(select(Sentence.id).where(Sentence.project_id == project_id,
                                                             Sentence.label.is_(None))))
    ones = sum(i % 4 == 0 for i in ids)
    return len(ids) - ones, ones


def test_evaluation_switches_to_the_random_sample_where_an_admin_asks_for_an_estimate(make_app):
    at = make_app()
    project = get_project(get_db(), DEMO_PROJECT_NAME)
    fake_succeeded_run(get_db(), project.id, 1, _fours, activate=True)
    at.switch_page("pages/evaluation.py").run()
    assert at.segmented_control(key="eval_source").value == "Test split"
    assert "Accuracy (current labels)" in [m.label for m in at.metric]

    at.segmented_control(key="eval_source").set_value("Random sample (stream)").run()
    assert not at.exception
    assert [m.label for m in at.metric] == []  # the test split's figures make way
    assert at.info[0].value.startswith("No estimate on the stream yet.")
    at.button(key="request-estimate").click().run()
    assert not at.exception
    n0, n1 = _strata(project.id)
    drawn = min(n0, 93) + min(n1, 93)
    assert at.success[0].value == safe_text(
        f"Drew {drawn} sentences for version 1: {drawn} to label on the Label page (Show: Evaluation batch).")
    assert f"0 of {drawn} sampled sentences labelled" in [p.proto.text for p in at.get("progress")]
    [table] = at.dataframe
    rows = table.value.set_index("label")
    assert rows.loc["1 · physical violence", "predicted"] == n1
    assert rows.loc["1 · physical violence", "labelled / drawn"] == f"0 / {min(n1, 93)}"
    assert rows.loc["0 · other", "precision (95% interval)"] == "—"

    # The batch labelled (by hand, here: a quarter of it "violent"), the figures appear with their intervals.
    while (view := next_sentence(get_db(), project.id, queue_filter=BATCH)) is not None:
        save_label(get_db(), moderator(), view.id, int(view.id % 8 == 0))
    at.run()
    figures = estimate(get_db(), project.id)
    rows = at.dataframe[0].value.set_index("label")
    one = figures.per_label[1]
    for column, value, interval in (("precision", one.precision, one.precision_interval),
                                    ("recall", one.recall, one.recall_interval),
                                    ("prevalence", one.prevalence, one.prevalence_interval)):
        assert rows.loc["1 · physical violence", f"{column} (95% interval)"] == (
            f"{value:.3f} ({interval.low:.2f} – {interval.high:.2f})")
    assert f"{drawn} of {drawn} sampled sentences labelled" in [p.proto.text for p in at.get("progress")]
    assert not at.warning

    fake_succeeded_run(get_db(), project.id, 2, _fours, activate=True)
    at.run()
    assert at.warning[0].value == safe_text(
        "Version 2 is active now; this estimate is of version 1. Ask for a new estimate: labels given so far "
        "are reused where they still fit.")


def test_a_moderator_reads_the_estimate_but_does_not_ask_for_one(make_app):
    at = make_app(user="mo", role="moderator")
    project = get_project(get_db(), DEMO_PROJECT_NAME)
    fake_succeeded_run(get_db(), project.id, 1, _fours, activate=True)
    request_estimate(get_db(), ADMIN, project.id)
    at.switch_page("pages/evaluation.py").run()
    at.segmented_control(key="eval_source").set_value("Random sample (stream)").run()
    assert not at.exception
    assert [b.key for b in at.button if b.key == "request-estimate"] == []
    assert len(at.dataframe) == 1


def test_label_page_serves_the_evaluation_batch_in_order_without_the_models_guess(make_app):
    from core.suggestions import refresh_suggestions
    from tests.helpers import CountingEncoder

    at = make_app()
    db = get_db()
    project = get_project(db, DEMO_PROJECT_NAME)
    fake_succeeded_run(db, project.id, 1, _fours, activate=True)
    refresh_suggestions(db, project.id, "base", CountingEncoder())  # so that the other views show a suggestion
    asked = request_estimate(db, ADMIN, project.id)
    at.run()
    show = at.selectbox(key="label_show")
    assert show.options[:2] == ["Unlabelled first", f"Evaluation batch ({asked.to_label} to go)"]
    assert any(c.value.startswith("Suggestion: ") for c in at.caption)

    first = next_sentence(db, project.id, queue_filter=BATCH)
    show.set_value("batch").run()
    assert not at.exception
    assert at.session_state["current_id"] == first.id
    assert not any(c.value.startswith("Suggestion: ") for c in at.caption)
    assert any(c.value.startswith(f"Evaluation batch of version 1: 0 of {asked.sampled} labelled, "
                                  f"{asked.to_label} to go.") for c in at.caption)
    second = next_sentence(db, project.id, queue_filter=BATCH, exclude_ids=[first.id])
    at.button(key="label-1").click().run()
    assert not at.exception
    assert at.session_state["current_id"] == second.id
    with db.read() as session:
        labelled = session.get(Sentence, first.id)
    assert (labelled.label, labelled.split, labelled.split_explicit) == (1, Split.test, True)
    assert batch_progress(db, project.id).labelled == 1
