"""Users and sessions (``services.users``) and ``shopfloor users``."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from shopfloor.api.audit import AuditLog
from shopfloor.cli.main import app
from shopfloor.config import load_project
from shopfloor.config.template import write_example_project
from shopfloor.errors import ConfigError
from shopfloor.services.sessions import SessionStore
from shopfloor.services.users import FAST_HASHER, Role, UserRegistry, parse_role
from shopfloor.studio.auth import safe_next

PASSWORD = "a long enough secret"


def test_users_are_kept_hashed_in_a_private_file(tmp_path: Path) -> None:
    users = UserRegistry(tmp_path / "users.json", hasher=FAST_HASHER)
    made = users.create("ana", Role.OPERATOR, PASSWORD)
    text = (tmp_path / "users.json").read_text()
    assert PASSWORD not in text and "$argon2id$" in text
    assert stat.S_IMODE((tmp_path / "users.json").stat().st_mode) == 0o600
    assert made.as_dict()["role"] == "operator" and "password_hash" not in made.as_dict()
    assert users.verify("ana", PASSWORD) == made
    assert users.verify("ana", PASSWORD + "x") is None
    assert users.verify("nobody", PASSWORD) is None


def test_a_second_registry_sees_changes_made_by_another_process(tmp_path: Path) -> None:
    running = UserRegistry(tmp_path / "users.json", hasher=FAST_HASHER)
    shell = UserRegistry(tmp_path / "users.json", hasher=FAST_HASHER)
    assert running.get("bo") is None
    shell.create("bo", Role.ENGINEER, PASSWORD)
    assert running.verify("bo", PASSWORD) is not None
    shell.set_disabled("bo", True)
    assert running.verify("bo", PASSWORD) is None


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("ana", "short", "give at least 10"),
        ("../etc", PASSWORD, "must be 1-64 letters"),
        ("", PASSWORD, "must be 1-64 letters"),
        ("a b", PASSWORD, "must be 1-64 letters"),
    ],
)
def test_bad_names_and_short_passwords_are_refused(
    tmp_path: Path, name: str, password: str, message: str
) -> None:
    users = UserRegistry(tmp_path / "users.json", hasher=FAST_HASHER)
    with pytest.raises(ConfigError, match=message):
        users.create(name, Role.VIEWER, password)


def test_a_name_is_taken_once_and_an_unknown_user_cannot_be_disabled(tmp_path: Path) -> None:
    users = UserRegistry(tmp_path / "users.json", hasher=FAST_HASHER)
    users.create("ana", Role.VIEWER, PASSWORD)
    with pytest.raises(ConfigError, match="exists already"):
        users.create("ana", Role.ADMIN, PASSWORD)
    with pytest.raises(ConfigError, match=r"no user named 'zed' \(known: ana\)"):
        users.set_disabled("zed", True)


def test_a_malformed_user_file_names_itself(tmp_path: Path) -> None:
    (tmp_path / "users.json").write_text('{"users": [{"name": "x"}]}')
    with pytest.raises(ConfigError, match=r"users\.json is malformed"):
        UserRegistry(tmp_path / "users.json", hasher=FAST_HASHER).users()


def test_roles_parse_in_any_case_and_name_the_option() -> None:
    assert parse_role("Engineer") is Role.ENGINEER
    with pytest.raises(ConfigError, match="--role 'boss' is not a role"):
        parse_role("boss")


def test_sessions_end_with_their_user_and_follow_role_changes(tmp_path: Path) -> None:
    users = UserRegistry(tmp_path / "users.json", hasher=FAST_HASHER)
    info = users.create("ana", Role.ADMIN, PASSWORD)
    sessions = SessionStore(users)
    session = sessions.open(info)
    assert sessions.get(session.id) == session
    assert session.csrf_ok(session.csrf) and not session.csrf_ok("x") and not session.csrf_ok(None)
    assert sessions.get("forged") is None and sessions.get(None) is None
    users.set_disabled("ana", True)
    assert sessions.get(session.id) is None
    assert len(sessions) == 0


def test_an_expired_session_is_gone(tmp_path: Path) -> None:
    users = UserRegistry(None, hasher=FAST_HASHER)
    sessions = SessionStore(users, ttl_s=0.0)
    session = sessions.open(users.add("ana", Role.VIEWER, PASSWORD))
    assert sessions.get(session.id) is None


@given(st.text(max_size=80))
def test_after_login_the_browser_never_leaves_the_studio(text: str) -> None:
    target = safe_next(text, "/studio")
    assert target.startswith("/studio/") and not target.startswith("//")
    assert "\\" not in target and all(ch.isprintable() for ch in target)


def test_cli_creates_lists_disables_and_audits(tmp_path: Path) -> None:
    folder = tmp_path / "plant"
    write_example_project(folder)
    p = str(folder)
    secret = tmp_path / "secret.txt"
    secret.write_text(PASSWORD + "\n")
    runner = CliRunner()
    made = runner.invoke(
        app,
        ["users", "create", "ana", "--role", "operator", "--password-file", str(secret), "-p", p],
    )
    assert made.exit_code == 0, made.output
    assert "created user 'ana' (operator)" in made.output
    typed = runner.invoke(
        app,
        ["users", "create", "bo", "--role", "viewer", "-p", str(folder)],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert typed.exit_code == 0, typed.output
    listed = runner.invoke(app, ["users", "list", "--json", "-p", str(folder)])
    rows = json.loads(listed.output)
    assert [(r["name"], r["role"], r["disabled"]) for r in rows] == [
        ("ana", "operator", False),
        ("bo", "viewer", False),
    ]
    off = runner.invoke(app, ["users", "disable", "ana", "-p", str(folder)])
    assert off.exit_code == 0 and "disabled user 'ana'" in off.output
    state = load_project(folder, build_pipelines=False).state_dir
    assert UserRegistry(state / "users.json").verify("ana", PASSWORD) is None
    actions = [
        (e["action"], e["detail"]["user"]) for e in AuditLog(state / "audit.jsonl").entries()
    ]
    assert actions == [("user_create", "ana"), ("user_create", "bo"), ("user_disable", "ana")]


def test_cli_refuses_a_password_on_the_command_line_and_a_bad_role(tmp_path: Path) -> None:
    folder = tmp_path / "plant"
    write_example_project(folder)
    p = str(folder)
    runner = CliRunner()
    argv = runner.invoke(
        app,
        ["users", "create", "ana", "--role", "viewer", "--password", PASSWORD, "-p", str(folder)],
    )
    assert argv.exit_code == 2 and "No such option" in argv.output
    bad = runner.invoke(app, ["users", "create", "ana", "--role", "boss", "-p", str(folder)])
    assert bad.exit_code == 2 and "not a role" in bad.output
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    none = runner.invoke(
        app,
        ["users", "create", "ana", "--role", "viewer", "--password-file", str(empty), "-p", p],
    )
    assert none.exit_code == 2 and "holds no password" in none.output
    missing = runner.invoke(app, ["users", "disable", "zed", "-p", str(folder)])
    assert missing.exit_code == 2 and "no user named 'zed'" in missing.output
