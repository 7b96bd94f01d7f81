"""Pydantic's validation errors as lines of a project file: ``file:line: field.path: message``.

An unknown key gets a "did you mean" when the model at that place has a close field name
(:func:`difflib.get_close_matches`), so ``samplng_interval_ms`` points at the right spelling.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from shopfloor.config.source import Located, YamlSource

__all__ = ["did_you_mean", "field_names_at", "issues_from", "located_from"]

Loc = tuple[int | str, ...]

_SECRETS = ("password", "secret", "token")


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a candidate is close to ``name``, else ``""``.

    Examples
    --------
    >>> did_you_mean("methd", ["method", "by_regime"])
    " (did you mean 'method'?)"
    >>> did_you_mean("colour", ["method"])
    ''
    """
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Every pydantic model inside an annotation (through unions, lists, dicts, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return []
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out.extend(_models_in(arg))
    return out


def field_names_at(model: type[BaseModel], loc: Sequence[int | str]) -> set[str]:
    """Field names of the model(s) that hold the key at ``loc`` (relative to ``model``).

    Parts of ``loc`` that are no field (list indexes, union tags) keep the current models.
    """
    current = [model]
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        deeper = [
            inner
            for m in current
            if part in m.model_fields
            for inner in _models_in(m.model_fields[part].annotation)
        ]
        if deeper:
            current = deeper
        elif any(part in m.model_fields for m in current):
            return set()  # a mapping of free keys: nothing to suggest
    return {name for m in current for name in m.model_fields}


def issues_from(
    err: ValidationError,
    source: YamlSource,
    prefix: tuple[int | str, ...] = (),
    model: type[BaseModel] | None = None,
) -> list[str]:
    """One ``file:line: path: message`` line per problem of ``err`` (see :func:`located_from`)."""
    return [source.issue(p.loc, p.message) for p in located_from(err, prefix, model)]


def located_from(
    err: ValidationError,
    prefix: tuple[int | str, ...] = (),
    model: type[BaseModel] | None = None,
) -> list[Located]:
    """One problem with its field path per problem of ``err``.

    Parameters
    ----------
    err
        What pydantic found.
    prefix
        Where in the file the validated value sits (``("connectors", 2)``).
    model
        The model validated, to suggest close field names for unknown keys.
    """
    found: list[tuple[Loc, Loc | None, str, Located]] = []
    for problem in err.errors(include_url=False):
        rel, union_at = _clean_loc(model, problem["loc"])
        loc = (*prefix, *rel)
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            name = str(loc[-1])
            message = f"unknown field {name!r}"
            if name.lower() in _SECRETS:
                message += " (secrets come from the environment: use password_env)"
            elif model is not None:
                message += did_you_mean(name, field_names_at(model, rel))
        elif problem["type"] == "missing":
            message = f"field required: {loc[-1]}"
        elif problem["type"] in ("literal_error", "enum") and isinstance(problem["input"], str):
            expected = re.findall(r"'([^']*)'", str(problem.get("ctx", {}).get("expected", "")))
            message += f", got {problem['input']!r}{did_you_mean(problem['input'], expected)}"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        found.append((loc, union_at, problem["type"], Located(loc, message)))
    # A union reports every branch; where one branch got past the type of the value, the
    # others' "should be <type>" only add noise.
    past_type = {u for _, u, kind, _ in found if u is not None and kind not in _TYPE_MISMATCH}
    return [
        located
        for _, union_at, kind, located in found
        if not (union_at in past_type and kind in _TYPE_MISMATCH)
    ]


_TYPE_MISMATCH = frozenset(
    {
        "literal_error",
        "string_type",
        "int_type",
        "int_parsing",
        "float_type",
        "float_parsing",
        "bool_type",
        "bool_parsing",
        "dict_type",
        "model_type",
        "model_attributes_type",
        "tuple_type",
        "list_type",
        "none_required",
        "is_instance_of",
        "enum",
    }
)


def _clean_loc(model: type[BaseModel] | None, loc: Sequence[int | str]) -> tuple[Loc, Loc | None]:
    """``loc`` without pydantic's union tags and validator names, and where a union was.

    Tags are ``function-after[...]``, ``literal['auto']``, ``tuple[float, float]`` and the
    class name of a model among the members of a union (``BearingGeometry``).
    """
    out: list[int | str] = []
    union_at: Loc | None = None
    current = [model] if model is not None else []
    for part in loc:
        if isinstance(part, int):
            out.append(part)
            continue
        text = str(part)
        is_field = any(text in m.model_fields for m in current)
        if not is_field and (
            text.startswith("function-") or "[" in text or text in {m.__name__ for m in current}
        ):
            union_at = tuple(out) if union_at is None else union_at
            current = [m for m in current if m.__name__ == text]
            continue
        current = [
            inner
            for m in current
            if text in m.model_fields
            for inner in _models_in(m.model_fields[text].annotation)
        ]
        out.append(part)
    return tuple(out), union_at
