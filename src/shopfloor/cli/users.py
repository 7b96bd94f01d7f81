"""``shopfloor users``: the people who log in to the Studio (create, list, disable, enable).

Users live in the project's ``.shopfloor/users.json`` (mode 0600) with an argon2 hash of
their password. The password is asked for twice at the prompt, or read from the first
line of ``--password-file`` (``-`` for standard input); it is never a command-line
argument, where other users of the machine could read it. A running platform sees each
change at once; every change is written to the project's audit log.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shopfloor.cli.common import JsonOption, ProjectOption, checked, current_user, load, run_async
from shopfloor.cli.lazy import group_app
from shopfloor.cli.output import as_json, print_summary, print_table
from shopfloor.errors import ConfigError
from shopfloor.services.listing import Listing
from shopfloor.services.options import ROLES

if TYPE_CHECKING:
    from shopfloor.config import Project
    from shopfloor.services.users import UserRegistry

__all__ = ["app"]

app = group_app("users")

NameArgument = Annotated[str, typer.Argument(help="The user's login name.")]


def _registry(project: Project) -> UserRegistry:
    from shopfloor.services.users import USERS_NAME, UserRegistry

    return UserRegistry(project.state_dir / USERS_NAME)


def _audit(project: Project, action: str, detail: dict[str, Any]) -> None:
    from shopfloor.api.audit import AUDIT_NAME, AuditLog

    log = AuditLog(project.state_dir / AUDIT_NAME)

    async def write() -> None:
        await log.record(
            who=current_user(),
            role="shell",
            client=None,
            action=action,
            outcome="ok",
            detail=detail,
        )

    run_async(write)


def _password(password_file: Path | None) -> str:
    """The new password: the first line of ``password_file``, or typed twice."""
    if password_file is None:
        text: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
        return text
    try:
        raw = sys.stdin.read() if str(password_file) == "-" else password_file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"--password-file {password_file}: {err}") from err
    lines = raw.splitlines()
    if not lines or not lines[0]:
        raise ConfigError(f"--password-file {password_file}: the first line holds no password")
    return lines[0]


@app.command()
def create(
    name: NameArgument,
    role: Annotated[str, typer.Option("--role", help=f"What the user may do: {ROLES}.")],
    password_file: Annotated[
        Path | None,
        typer.Option(help="Read the password from this file's first line ('-': standard input)."),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Create user NAME with ROLE; the password is prompted for (or read from a file)."""
    from shopfloor.services.users import check_name, parse_role

    proj = load(project, build_pipelines=False)
    parsed = checked(parse_role, role)
    checked(check_name, name)
    password = checked(_password, password_file)
    made = checked(_registry(proj).create, name, parsed, password)
    _audit(proj, "user_create", {"user": made.name, "role": made.role.value})
    print_summary([f"created user {made.name!r} ({made.role.value})"])


@app.command("list")
def list_users(project: ProjectOption = None, json_: JsonOption = False) -> None:
    """List the users: names, roles, creation times, disabled or not (never the hashes)."""
    rows = [u.as_dict() for u in checked(_registry(load(project, build_pipelines=False)).users)]
    if not as_json(json_, rows):
        table = [(r["name"], r["role"], r["created"], "yes" if r["disabled"] else "") for r in rows]
        print_table(Listing(f"{len(rows)} user(s)", ("name", "role", "created", "disabled"), table))


def _set_disabled(name: str, project: Path | None, disabled: bool) -> None:
    proj = load(project, build_pipelines=False)
    changed = checked(_registry(proj).set_disabled, name, disabled)
    verb = "disabled" if disabled else "enabled"
    _audit(proj, f"user_{verb[:-1]}", {"user": changed.name, "role": changed.role.value})
    print_summary([f"{verb} user {changed.name!r} ({changed.role.value})"])


@app.command()
def disable(name: NameArgument, project: ProjectOption = None) -> None:
    """Disable user NAME: their login is refused and their open sessions end."""
    _set_disabled(name, project, True)


@app.command()
def enable(name: NameArgument, project: ProjectOption = None) -> None:
    """Enable user NAME again."""
    _set_disabled(name, project, False)
