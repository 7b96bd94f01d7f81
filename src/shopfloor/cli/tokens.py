"""``shopfloor tokens``: the API tokens of a project (create, list, revoke).

Tokens live hashed in the project's ``.shopfloor/tokens.json`` (mode 0600); the secret
is printed once, when it is created. A running platform sees changes at once.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from shopfloor.cli.common import (
    EXIT_CONFIG,
    JsonOption,
    ProjectOption,
    console,
    fail,
    load,
    print_json,
)
from shopfloor.errors import ConfigError

__all__ = ["app"]

app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)

_ROLES = "viewer, operator, engineer or admin"


@app.callback()
def tokens() -> None:
    """Create, list and revoke API tokens."""


@app.command()
def create(
    role: Annotated[str, typer.Option(help=f"What the token may do: {_ROLES}.")],
    name: Annotated[
        str | None, typer.Option(help="A name for the token (default: ROLE-xxxxxx).")
    ] = None,
    project: ProjectOption = None,
    json_: JsonOption = False,
) -> None:
    """Create a token with ROLE and print its secret (shown this once only)."""
    from shopfloor.api.tokens import TOKENS_NAME, Role, TokenRegistry

    try:
        parsed = Role(role.lower())
    except ValueError:
        fail(f"--role {role!r} is not a role; use {_ROLES}", EXIT_CONFIG)
    chosen = name or f"{parsed.value}-{secrets.token_hex(3)}"
    registry = TokenRegistry(load(project).state_dir / TOKENS_NAME)
    try:
        secret = registry.create(chosen, parsed)
    except ConfigError as err:
        fail(str(err), EXIT_CONFIG)
    if json_:
        print_json({"name": chosen, "role": parsed.value, "token": secret})
        return
    console.print(f"[green]created[/] token {chosen!r} ({parsed.value}); it is shown only now:")
    console.print(secret, highlight=False, soft_wrap=True)
    console.print("send it as the header 'Authorization: Bearer TOKEN'")


@app.command("list")
def list_tokens(project: ProjectOption = None, json_: JsonOption = False) -> None:
    """List the tokens (names, roles, creation times; never the secrets)."""
    from shopfloor.api.tokens import TOKENS_NAME, TokenRegistry

    registry = TokenRegistry(load(project).state_dir / TOKENS_NAME)
    try:
        found = registry.tokens()
    except ConfigError as err:
        fail(str(err), EXIT_CONFIG)
    rows = [
        {
            "name": t.name,
            "role": t.role.value,
            "created": datetime.fromtimestamp(t.created_ns / 1e9, UTC).isoformat(
                timespec="seconds"
            ),
        }
        for t in found
    ]
    if json_:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} API token(s)")
    for column in ("name", "role", "created"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["role"], row["created"])
    console.print(table)


@app.command()
def revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    project: ProjectOption = None,
) -> None:
    """Revoke token NAME: the API refuses it from now on."""
    from shopfloor.api.tokens import TOKENS_NAME, TokenRegistry

    registry = TokenRegistry(load(project).state_dir / TOKENS_NAME)
    try:
        gone = registry.revoke(name)
    except ConfigError as err:
        fail(str(err), EXIT_CONFIG)
    console.print(f"[green]revoked[/] token {gone.name!r} ({gone.role.value})")
