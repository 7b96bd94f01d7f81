"""Command options declared once, by a dataclass of :mod:`shopfloor.services`.

:func:`options_of` turns the fields of an options dataclass (with the help in each field's
``metadata["help"]``) into the command's parameters, and hands the command one instance
built from what was given; the command declares only its own extra options.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import typer

__all__ = ["options_of"]

Command = Callable[..., None]


def options_of(
    cls: type[Any],
    *,
    arguments: tuple[str, ...] = (),
    flags: Mapping[str, Mapping[str, Any]] | None = None,
) -> Callable[[Command], Command]:
    """Give a command one parameter per field of the dataclass ``cls``.

    Parameters
    ----------
    cls : type
        A dataclass whose fields carry their help in ``metadata["help"]``. A field typed
        ``tuple[X, ...]`` becomes a repeatable option; a field without a default, a
        required one. ``metadata["flags"]`` holds extra keywords of :func:`typer.Option`
        (as ``flags`` does). A field without help is no option (it keeps its default).
    arguments : tuple of str
        Fields that are positional arguments (required) rather than options.
    flags : mapping, optional
        Field name -> extra keywords of :func:`typer.Option`; ``param_decls`` gives the
        option's spellings when they are not the field's name.

    Returns
    -------
    callable
        A decorator. The command it wraps takes the instance as its first parameter
        (named as it likes) and its own options after it.
    """
    extra = flags or {}
    hints = typing.get_type_hints(cls)

    def parameter(field: dataclasses.Field[Any]) -> inspect.Parameter:
        hint: Any = hints[field.name]
        missing = field.default is dataclasses.MISSING
        default: Any = inspect.Parameter.empty if missing else field.default
        if typing.get_origin(hint) is tuple:  # repeated: typer gives a list, or None
            hint = types.GenericAlias(list, typing.get_args(hint)[:1])
            default = None
            hint = hint if field.name in arguments else hint | None
        help_ = field.metadata["help"]
        info: Any
        if field.name in arguments:
            default = inspect.Parameter.empty
            info = typer.Argument(help=help_, show_default=False)
        else:
            keywords = {**field.metadata.get("flags", {}), **extra.get(field.name, {})}
            info = typer.Option(*keywords.pop("param_decls", ()), help=help_, **keywords)
        return inspect.Parameter(
            field.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=default,
            annotation=Annotated[hint, info],
        )

    fields = [f for f in dataclasses.fields(cls) if "help" in f.metadata]
    names = {f.name for f in fields}
    repeated = {f.name for f in fields if typing.get_origin(hints[f.name]) is tuple}

    def decorate(command: Command) -> Command:
        own_hints = typing.get_type_hints(command, include_extras=True)
        own = [
            p.replace(annotation=own_hints[p.name], kind=p.KEYWORD_ONLY)
            for p in list(inspect.signature(command).parameters.values())[1:]
        ]
        clash = names & {p.name for p in own}
        if clash:
            raise ValueError(f"{command.__name__}: options {sorted(clash)} are {cls.__name__}'s")

        def wrapper(**given: Any) -> None:
            values = {name: given[name] for name in names if name in given}
            values.update({name: tuple(values.get(name) or ()) for name in repeated})
            command(cls(**values), **{k: v for k, v in given.items() if k not in names})

        params = [parameter(f) for f in fields] + own
        for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
            setattr(wrapper, attribute, getattr(command, attribute))
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate
