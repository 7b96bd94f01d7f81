"""``shopfloor tokens``: the API tokens of a project (create, list, revoke).

Tokens live hashed in the project's ``.shopfloor/tokens.json`` (mode 0600); the secret
is printed once, when it is created. A running platform sees changes at once.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shopfloor.cli.common import JsonOption, ProjectOption, checked, load
from shopfloor.cli.lazy import group_app
from shopfloor.cli.output import EXIT_CONFIG, as_json, console, fail, print_table
from shopfloor.services.listing import Listing

if TYPE_CHECKING:
    from shopfloor.api.tokens import TokenRegistry

__all__ = ["app"]

app = group_app("tokens")

_ROLES = "viewer, operator, engineer or admin"


def _registry(project: Path | None) -> TokenRegistry:
    """The token registry of the project."""
    from shopfloor.api.tokens import TOKENS_NAME, TokenRegistry

    return TokenRegistry(load(project).state_dir / TOKENS_NAME)


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
    from shopfloor.api.tokens import Role

    try:
        parsed = Role(role.lower())
    except ValueError:
        fail(f"--role {role!r} is not a role; use {_ROLES}", EXIT_CONFIG)
    chosen = name or f"{parsed.value}-{secrets.token_hex(3)}"
    secret = checked(_registry(project).create, chosen, parsed)
    if as_json(json_, {"name": chosen, "role": parsed.value, "token": secret}):
        return
    console.print(f"[green]created[/] token {chosen!r} ({parsed.value}); it is shown only now:")
    console.print(secret, highlight=False, soft_wrap=True)
    console.print("send it as the header 'Authorization: Bearer TOKEN'")


@app.command("list")
def list_tokens(project: ProjectOption = None, json_: JsonOption = False) -> None:
    """List the tokens (names, roles, creation times; never the secrets)."""
    found = checked(_registry(project).tokens)
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
    if as_json(json_, rows):
        return
    columns = ("name", "role", "created")
    table = [tuple(row.values()) for row in rows]
    print_table(Listing(f"{len(rows)} API token(s)", columns, table))


@app.command()
def revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    project: ProjectOption = None,
) -> None:
    """Revoke token NAME: the API refuses it from now on."""
    gone = checked(_registry(project).revoke, name)
    console.print(f"[green]revoked[/] token {gone.name!r} ({gone.role.value})")
