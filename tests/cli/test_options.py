"""Options declared once by a services dataclass become the command's parameters."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from shopfloor.cli.main import app
from shopfloor.cli.options import options_of
from shopfloor.services.ingest_options import IngestOptions


@dataclass(frozen=True)
class _Options:
    paths: tuple[Path, ...] = field(metadata={"help": "Files."})
    tag: tuple[str, ...] = field(default=(), metadata={"help": "Repeatable."})
    level: int = field(default=1, metadata={"help": "A number."})


def _app(seen: list[Any]) -> typer.Typer:
    sub = typer.Typer()

    @sub.command()
    @options_of(_Options, arguments=("paths",), flags={"level": {"min": 0}})
    def go(options: _Options, loud: bool = False) -> None:
        """Go."""
        seen.append((options, loud))

    return sub


def test_the_command_gets_one_instance_with_tuples() -> None:
    seen: list[Any] = []
    result = CliRunner().invoke(_app(seen), ["a", "b", "--tag", "x", "--tag", "y", "--loud"])
    assert result.exit_code == 0, result.output
    assert seen == [(_Options(paths=(Path("a"), Path("b")), tag=("x", "y")), True)]


def test_defaults_and_bounds_come_from_the_dataclass_and_flags() -> None:
    seen: list[Any] = []
    assert CliRunner().invoke(_app(seen), ["a"]).exit_code == 0
    assert seen == [(_Options(paths=(Path("a"),)), False)]
    refused = CliRunner().invoke(_app(seen), ["a", "--level", "-1"])
    assert refused.exit_code == 2 and "--level" in refused.output


def test_an_own_option_named_as_a_field_is_refused() -> None:
    def go(options: _Options, level: int = 0) -> None:
        """Go."""

    with pytest.raises(ValueError, match=r"options \['level'\] are _Options's"):
        options_of(_Options)(go)


def test_ingest_offers_every_ingest_option_with_its_help() -> None:
    command = typer.main.get_command(app)._load("ingest")  # type: ignore[attr-defined]
    params = {p.name: p for p in command.params}
    fields = [f.name for f in dataclasses.fields(IngestOptions)]
    assert [*fields, "strict", "project", "json_"] == list(params)
    for name in fields:
        assert params[name].help == IngestOptions.__dataclass_fields__[name].metadata["help"]
    assert {"--channels", "--variables"} <= set(params["channels"].opts)
    assert params["fmt"].opts == ["--format"]


@dataclass(frozen=True)
class _Spelled:
    name: str = field(metadata={"help": "Required.", "flags": {"param_decls": ("--called",)}})
    hidden: int = 7  # no help: no option, keeps its default


def test_a_field_without_default_is_required_and_flags_come_from_its_metadata() -> None:
    seen: list[Any] = []
    sub = typer.Typer()

    @sub.command()
    @options_of(_Spelled)
    def go(options: _Spelled) -> None:
        """Go."""
        seen.append(options)

    missing = CliRunner().invoke(sub, [])
    assert missing.exit_code == 2 and "--called" in missing.output
    assert CliRunner().invoke(sub, ["--called", "x"]).exit_code == 0
    assert seen == [_Spelled(name="x", hidden=7)]
    assert "--hidden" not in CliRunner().invoke(sub, ["--help"]).output


@pytest.mark.parametrize(
    ("command", "options"),
    [
        (("query",), "QueryOptions"),
        (("events",), "EventOptions"),
        (("dead-letters",), "DeadLetterOptions"),
        (("serve",), "ServeOptions"),
        (("demo",), "DemoOptions"),
    ],
)
def test_commands_offer_their_services_options_with_their_help(
    command: tuple[str, ...], options: str
) -> None:
    from shopfloor.services import options as declared

    cls = getattr(declared, options)
    root = typer.main.get_command(app)
    found = (  # a lazy command is loaded as it is when it runs
        root._load(command[0])  # type: ignore[attr-defined]
        if command[0] in root.lazy  # type: ignore[attr-defined]
        else root.get_command(None, command[0])  # type: ignore[attr-defined]
    )
    params = {p.name: p for p in found.params}
    for f in dataclasses.fields(cls):
        assert params[f.name].help == f.metadata["help"]
