"""`python -m core users ...` as an operator runs it: a subprocess on a temporary DATA_DIR."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.accounts import authenticate
from core.audit import audit_log
from core.config import Settings
from core.db import open_database
from core.permissions import CLI_ACTOR

ROOT = Path(__file__).resolve().parents[2]


def cli(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, DATA_DIR=str(tmp_path / "data"), WORKER_AUTOSTART="0", HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_add_list_disable_enable_and_reset_a_password(tmp_path):
    added = cli(tmp_path, "users", "add", "Ada", "--role", "admin", "--password-stdin", stdin="first password\n")
    assert (added.returncode, added.stdout) == (0, "created admin 'Ada'\n")
    assert cli(tmp_path, "users", "add", "sam", "--role", "moderator", "--password-stdin",
               stdin="sam's password\n").returncode == 0
    listed = json.loads(cli(tmp_path, "users", "list", "--json").stdout)
    assert [(u["name"], u["role"], u["disabled"], u["created_by"], u["last_login_at"]) for u in listed] == [
        ("Ada", "admin", False, "cli", None), ("sam", "moderator", False, "cli", None)]

    disabled = cli(tmp_path, "users", "disable", "SAM")
    assert disabled.stdout == "disabled 'sam': it cannot sign in, and its open sessions have ended\n"
    text = cli(tmp_path, "users", "list").stdout.splitlines()
    assert text[1].split() == ["sam", "moderator", "disabled", "last", "login", "never"]
    assert cli(tmp_path, "users", "enable", "sam").stdout == "enabled 'sam'\n"

    reset = cli(tmp_path, "users", "reset-password", "sam", "--password-stdin", stdin="a brand new one\n")
    assert reset.stdout == "new password set for 'sam'; its open sessions have ended\n"
    db = open_database(Settings.from_env({"DATA_DIR": str(tmp_path / "data")}))
    assert authenticate(db, "sam", "a brand new one").name == "sam"
    rows, _ = audit_log(db, CLI_ACTOR)
    assert [(r.actor, r.action.value, r.details) for r in rows] == [
        ("cli", "password reset", "sam (0 open session(s) ended)"),
        ("cli", "user enabled", "sam"),
        ("cli", "user disabled", "sam (0 open session(s) ended)"),
        ("cli", "user created", "sam (moderator)"),
        ("cli", "user created", "Ada (admin)"),
    ]
    db.dispose()


def test_errors_are_one_line_and_exit_1(tmp_path):
    short = cli(tmp_path, "users", "add", "Ada", "--role", "admin", "--password-stdin", stdin="short\n")
    assert (short.returncode, short.stderr) == (1, "error: A password needs at least 8 characters.\n")
    missing = cli(tmp_path, "users", "disable", "ghost")
    assert (missing.returncode, missing.stderr) == (1, "error: No account named 'ghost'; `users list` shows them.\n")


def test_an_unknown_role_is_a_usage_error(tmp_path):
    result = cli(tmp_path, "users", "add", "Ada", "--role", "owner", "--password-stdin", stdin="long enough\n")
    assert result.returncode == 2
    assert "invalid choice: 'owner'" in result.stderr


def test_list_on_an_empty_database_says_how_to_start(tmp_path):
    assert cli(tmp_path, "users", "list").stdout == (
        "no accounts yet: `python -m core users add NAME --role admin`, or open the app to create the first admin\n")


def test_set_role_changes_a_role_ends_sessions_and_keeps_the_last_admin(tmp_path):
    from core.accounts import authenticate as sign_in
    from datetime import timedelta

    from core.sessions import resolve_session, start_session

    cli(tmp_path, "users", "add", "Ada", "--role", "admin", "--password-stdin", stdin="first password\n")
    cli(tmp_path, "users", "add", "sam", "--role", "moderator", "--password-stdin", stdin="sam's password\n")
    db = open_database(Settings.from_env({"DATA_DIR": str(tmp_path / "data")}))
    token = start_session(db, sign_in(db, "sam", "sam's password").id)
    promoted = cli(tmp_path, "users", "set-role", "sam", "admin")
    assert (promoted.returncode, promoted.stdout) == (0, "'sam' is now an admin; its open sessions have ended\n")
    assert resolve_session(db, token, timedelta(hours=1)) is None  # signs in again, with the new role's pages
    assert [u["role"] for u in json.loads(cli(tmp_path, "users", "list", "--json").stdout)] == ["admin", "admin"]
    cli(tmp_path, "users", "set-role", "Ada", "moderator")
    last = cli(tmp_path, "users", "set-role", "sam", "moderator")
    assert (last.returncode, last.stderr) == (1, "error: sam is the only admin left; make another admin first.\n")
    rows, _ = audit_log(db, CLI_ACTOR)
    assert [r.details for r in rows[:2]] == ["Ada: admin -> moderator (0 open session(s) ended)",
                                             "sam: moderator -> admin (1 open session(s) ended)"]
    db.dispose()


def test_assign_and_agreement_from_the_command_line(tmp_path):
    from core.demo import DEMO_PROJECT_NAME as DEMO
    from core.labeling import next_sentence, save_label
    from core.projects import get_project
    from core.permissions import Actor, Role

    assert cli(tmp_path, "init", "--demo").returncode == 0
    for name in ("ana", "ben"):
        cli(tmp_path, "users", "add", name, "--role", "moderator", "--password-stdin", stdin="a password here\n")
    out = cli(tmp_path, "assign", "--project", DEMO, "--moderators", "ana,ben",
              "--overlap", "1.0")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("assigned ") and "to two moderators (blind): ana " in out.stdout
    db = open_database(Settings.from_env({"DATA_DIR": str(tmp_path / "data")}))
    project = get_project(db, DEMO)
    seen = []
    for label_b in (1, 1, 0, 0):
        view = next_sentence(db, project.id, annotator="ana", exclude_ids=seen)
        seen.append(view.id)
        save_label(db, Actor("ana", Role.moderator), view.id, 1 if len(seen) <= 2 else 0)
        save_label(db, Actor("ben", Role.moderator), view.id, label_b if len(seen) != 4 else 1)
    db.dispose()
    report = json.loads(cli(tmp_path, "agreement", "--project", DEMO, "--json").stdout)
    # ana 1 1 0 0, ben 1 1 0 1: po 3/4, pe 1/2*3/4 + 1/2*1/4 = 1/2, kappa 0.5
    assert (report["sentences"], report["disagreements"]) == (4, 1)
    assert report["pairs"][0]["cohen_kappa"]["value"] == 0.5
    text = cli(tmp_path, "agreement", "--project", DEMO).stdout
    assert text.startswith("4 sentences labelled by two or more, 1 disagreements; Krippendorff's alpha 0.")
