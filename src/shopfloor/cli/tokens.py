"""``shopfloor tokens``: the API tokens of a project (create, list, revoke).

Tokens live hashed in the project's ``.shopfloor/tokens.json`` (mode 0600); the secret
is printed once, when it is created. A running platform sees changes at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shopfloor.cli.common import JsonOption, ProjectOption, checked, load
from shopfloor.cli.lazy import group_app
from shopfloor.cli.options import options_of
from shopfloor.cli.output import as_json, console, print_table
from shopfloor.services.listing import Listing
from shopfloor.services.options import TokenOptions

if TYPE_CHECKING:
    from shopfloor.api.tokens import TokenRegistry

__all__ = ["app"]

app = group_app("tokens")


def _registry(project: Path | None) -> TokenRegistry:
    """The token registry of the project."""
    from shopfloor.api.tokens import TOKENS_NAME, TokenRegistry

    return TokenRegistry(load(project).state_dir / TOKENS_NAME)


@app.command()
@options_of(TokenOptions)
def create(o: TokenOptions, project: ProjectOption = None, json_: JsonOption = False) -> None:
    """Create a token with ROLE and print its secret (shown this once only)."""
    made = checked(_registry(project).issue, o)
    if as_json(json_, made):
        return
    console.print(
        f"[green]created[/] token {made['name']!r} ({made['role']}); it is shown only now:"
    )
    console.print(made["token"], highlight=False, soft_wrap=True)
    console.print("send it as the header 'Authorization: Bearer TOKEN'")


@app.command("list")
def list_tokens(project: ProjectOption = None, json_: JsonOption = False) -> None:
    """List the tokens (names, roles, creation times; never the secrets)."""
    rows = [t.as_dict() for t in checked(_registry(project).tokens)]
    if not as_json(json_, rows):
        table = [tuple(row.values()) for row in rows]
        print_table(Listing(f"{len(rows)} API token(s)", ("name", "role", "created"), table))


@app.command()
def revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    project: ProjectOption = None,
) -> None:
    """Revoke token NAME: the API refuses it from now on."""
    gone = checked(_registry(project).revoke, name)
    console.print(f"[green]revoked[/] token {gone.name!r} ({gone.role.value})")
