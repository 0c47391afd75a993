"""AppTest for the Train page: the Versions table's empty values and Retrain when nothing changed."""
from __future__ import annotations

from core.demo import DEMO_PROJECT_NAME
from core.params import FAST_PRESET
from core.projects import get_project
from core.run_metrics import RunMetrics
from core.runs import finish_run, list_runs, request_retrain
from db.models import RunStatus, TrainingRun
from ui.common import get_db
from tests.helpers import ADMIN

UNCHANGED = ("No label has changed since the active version 1, and these are the parameters it was trained with, "
             "so retraining would give the same model again.")


def _project():
    return get_project(get_db(), DEMO_PROJECT_NAME)


def _active_fast_version(model_dir) -> int:
    """Version 1 trained (as the worker would leave it) on the demo's labels as they are, fast preset."""
    db = get_db()
    run = request_retrain(db, ADMIN, _project().id, FAST_PRESET, "fast")
    with db.write() as session:
        session.get(TrainingRun, run.id).status = RunStatus.running
    model_dir.mkdir()
    assert finish_run(db, run.id, RunMetrics(train_seconds=1.0, accuracy=0.8125), str(model_dir), "sha")
    return run.id


def _notices(at) -> list[str]:
    """The nothing-changed warnings, as the moderator reads them (shown as escaped text, not Markdown)."""
    return [w.value.replace("\\", "") for w in at.warning if "No label has changed" in w.value]


def _versions_table(at):
    [table] = [frame for frame in at.dataframe if "accuracy" in frame.value.columns]
    return table.value


def test_a_cancelled_run_shows_a_dash_not_none_as_its_accuracy(make_app):
    at = make_app("pages/train.py")
    at.button(key="retrain").click().run()
    at.button(key="cancel").click().run()
    at.run()
    table = _versions_table(at)
    assert table["status"].tolist() == ["cancelled"]
    assert table["accuracy"].tolist() == ["—"] and table["duration (s)"].tolist() == ["—"]


def test_retrain_with_nothing_changed_says_so_and_can_retrain_anyway(make_app, tmp_path):
    at = make_app("pages/train.py")
    first = _active_fast_version(tmp_path / "model-1")
    at.run()
    assert _versions_table(at)["accuracy"].tolist() == ["0.8125"]

    at.button(key="retrain").click().run()
    assert not at.exception
    [notice] = _notices(at)
    assert notice.startswith(UNCHANGED)
    assert [r.id for r in list_runs(get_db(), _project().id)] == [first]  # nothing queued

    at.button(key="retrain-anyway").click().run()
    runs = list_runs(get_db(), _project().id)
    assert [r.version for r in runs] == [2, 1] and runs[0].status == RunStatus.queued
    assert _notices(at) == []


def test_another_preset_is_queued_without_a_warning(make_app, tmp_path):
    at = make_app("pages/train.py")
    _active_fast_version(tmp_path / "model-1")
    at.run()
    at.button(key="retrain").click().run()
    assert _notices(at)[0].startswith(UNCHANGED)
    at.radio(key="train_preset").set_value("seed").run()
    assert _notices(at) == []  # the warning was about the fast preset's parameters
    at.button(key="retrain").click().run()
    runs = list_runs(get_db(), _project().id)
    assert [(r.version, r.preset, r.status) for r in runs] == [(2, "seed", RunStatus.queued), (1, "fast", RunStatus.succeeded)]
    assert _notices(at) == []


def test_the_versions_table_shows_the_scoring_backend_and_a_run_scoring_shows_its_progress(make_app, tmp_path):
    from sqlalchemy import update

    from db.models import utcnow

    at = make_app("pages/train.py")
    version = _active_fast_version(tmp_path / "v1")
    db = get_db()
    with db.write() as session:
        session.execute(update(TrainingRun).where(TrainingRun.id == version).values(
            scoring_backend="onnx-int8", backend_agreement=0.998))
    # Version 2 is trained and published, and is scoring every sentence at 500 a second.
    second = request_retrain(db, ADMIN, _project().id, FAST_PRESET.with_overrides({"seed": "3"}), "custom")
    with db.write() as session:
        session.execute(update(TrainingRun).where(TrainingRun.id == second.id).values(
            status=RunStatus.running, started_at=utcnow(), heartbeat_at=utcnow(), phase="scoring every sentence",
            model_dir=str(tmp_path / "v2"), scoring_backend="onnx", scored=40_000, score_total=100_000,
            scoring_rate=500.0))
    at.run()
    table = _versions_table(at)
    assert table["scoring"].tolist() == ["onnx", "onnx-int8 (99.8% agree)"]  # newest first
    [bar] = [p for p in at.get("progress") if "sentences" in p.proto.text]
    assert bar.proto.text == "scored 40,000 / 100,000 sentences with onnx · about 120 s left"


def test_retrain_by_itself_is_turned_on_here_and_counted_down_on_the_label_page(make_app, tmp_path):
    from core.auto_retrain import auto_retrain_every
    from core.labeling import next_sentence, save_label
    from tests.helpers import moderator

    at = make_app("pages/train.py")
    _active_fast_version(tmp_path / "v1")  # changes are counted from the newest run
    at.run()
    assert at.toggle(key="auto_on").value is False
    at.toggle(key="auto_on").set_value(True).run()
    assert not at.exception
    assert auto_retrain_every(get_db(), _project().id) == 20
    at.number_input(key="auto_every").set_value(3).run()
    assert auto_retrain_every(get_db(), _project().id) == 3
    assert any("3 label change(s) until the next model" in c.value for c in at.caption)
    view = next_sentence(get_db(), _project().id)
    save_label(get_db(), moderator("sam"), view.id, 1)
    label = make_app("pages/label.py", user="sam", role="moderator")
    assert any("2 label change(s) until the next model" in c.value for c in label.caption)
    at.toggle(key="auto_on").set_value(False).run()
    assert auto_retrain_every(get_db(), _project().id) == 0


def test_the_versions_table_shows_which_device_and_host_ran_each_version(make_app, tmp_path):
    from sqlalchemy import update

    at = make_app("pages/train.py")
    first = _active_fast_version(tmp_path / "v1")
    db = get_db()
    with db.write() as session:
        session.execute(update(TrainingRun).where(TrainingRun.id == first).values(device="cuda", host="gpu-box-1"))
    # Version 2 waits for a worker: no machine has run it yet.
    request_retrain(db, ADMIN, _project().id, FAST_PRESET.with_overrides({"seed": "3"}), "custom")
    at.run()
    assert _versions_table(at)["ran on"].tolist() == ["—", "cuda · gpu-box-1"]  # newest first
