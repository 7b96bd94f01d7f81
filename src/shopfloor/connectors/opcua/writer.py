"""Writing a value to an OPC UA node, as the server describes it, and reading it back.

Works against any compliant server: nothing about the node is assumed. The address is a
node id (``ns=2;s=CNC01.Alarm.Active``) or a browse path below the Objects folder
(``2:CNC01/2:Alarm/2:Active``; a segment without ``ns:`` matches a browse name in any
namespace). One Read asks the server for the node's ``DataType``, ``ValueRank`` and
``UserAccessLevel``; the configured value is converted to that data type
(:func:`~shopfloor.connectors.writes.convert_value`: 2.5 is refused for a Boolean, 300
for a Byte), written as a bare value (no timestamps: servers may refuse those), and read
back. A read-back that differs is written and read once more; a second difference
raises :class:`~shopfloor.errors.WriteNotVerified`.

Errors are mapped at this boundary: a status that will not change by retrying
(``BadNotWritable``, ``BadTypeMismatch``, ``BadUserAccessDenied``, an unknown node ...)
raises :class:`~shopfloor.errors.WriteRefused`; a lost connection or a timeout raises
:class:`~shopfloor.errors.ConnectorNotReady`; anything else
:class:`~shopfloor.errors.WriteError`.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from shopfloor.connectors.writes import SCALAR_TYPES, WriteValue, convert_value, same_value
from shopfloor.errors import (
    ConnectorNotReady,
    WriteError,
    WriteNotVerified,
    WriteRefused,
)

__all__ = ["browse_path", "write_verified"]

_NODE_ID = re.compile(r"^(ns=\d+;|nsu=[^;]+;)?(i|s|g|b)=")

_REFUSED = frozenset(
    {
        "BadNotWritable",
        "BadUserAccessDenied",
        "BadTypeMismatch",
        "BadOutOfRange",
        "BadNodeIdUnknown",
        "BadNodeIdInvalid",
        "BadAttributeIdInvalid",
        "BadWriteNotSupported",
        "BadNotSupported",
        "BadIndexRangeInvalid",
        "BadNoMatch",
        "BadBrowseNameInvalid",
    }
)
"""Status codes that will be the same on the next try."""

_SCALAR_RANKS = frozenset({-3, -2, -1})
"""ValueRank of a node that holds a scalar: ScalarOrOneDimension, Any, Scalar."""


def browse_path(address: str) -> list[tuple[int | None, str]] | None:
    """The segments of a browse path, or ``None`` when ``address`` is a node id.

    A leading ``Objects`` (or ``0:Objects``) segment is dropped: paths start there.

    Examples
    --------
    >>> browse_path("ns=2;s=CNC01.Alarm.Active") is None
    True
    >>> browse_path("Objects/2:CNC01/Alarm/Active")
    [(2, 'CNC01'), (None, 'Alarm'), (None, 'Active')]
    """
    if _NODE_ID.match(address):
        return None
    segments: list[tuple[int | None, str]] = []
    for part in address.strip("/").split("/"):
        ns, sep, name = part.partition(":")
        if sep and ns.isdigit():
            segments.append((int(ns), name))
        else:
            segments.append((None, part))
    if segments and segments[0][1] == "Objects" and segments[0][0] in (None, 0):
        segments = segments[1:]
    if not segments or any(not name for _, name in segments):
        raise WriteRefused(f"address {address!r} is neither a node id nor a browse path")
    return segments


def _status_name(err: Exception) -> str:
    from asyncua import ua

    code = getattr(err, "code", None)
    return ua.StatusCode(ua.UInt32(code)).name if isinstance(code, int) else type(err).__name__


def _mapped(err: Exception, doing: str) -> WriteError | ConnectorNotReady:
    """The shopfloor error for a failure of the client while ``doing``."""
    from asyncua import ua

    if isinstance(err, ua.UaStatusCodeError):
        name = _status_name(err)
        if name in _REFUSED:
            return WriteRefused(f"{doing}: the server answers {name}")
        return WriteError(f"{doing}: the server answers {name}")
    if isinstance(err, TimeoutError | ConnectionError | OSError):
        return ConnectorNotReady(f"{doing}: {type(err).__name__}: {err or 'no answer'}")
    return WriteError(f"{doing}: {type(err).__name__}: {err}")


async def _resolve(client: Any, address: str, where: str) -> Any:
    """The node at ``address`` (a node id, or a browse path walked from Objects)."""
    from asyncua import ua

    segments = browse_path(address)
    if segments is None:
        return client.get_node(ua.NodeId.from_string(address))
    node = client.nodes.objects
    walked: list[str] = []
    for ns, name in segments:
        children = await node.get_children_descriptions()
        found = [
            c
            for c in children
            if c.BrowseName.Name == name and (ns is None or c.BrowseName.NamespaceIndex == ns)
        ]
        here = "/".join(walked) or "Objects"
        if not found:
            raise WriteRefused(f"{where}: {here} has no child {name!r} (address {address!r})")
        if len(found) > 1:
            spaces = sorted({c.BrowseName.NamespaceIndex for c in found})
            raise WriteRefused(
                f"{where}: {here} has {len(found)} children named {name!r} (namespaces "
                f"{spaces}); write it as ns:{name}"
            )
        node = client.get_node(found[0].NodeId)
        walked.append(f"{found[0].BrowseName.NamespaceIndex}:{name}")
    return node


async def _data_type(client: Any, node: Any, address: str, where: str) -> tuple[str, Any]:
    """The node's scalar data type name and asyncua's variant type for it."""
    from asyncua import ua
    from asyncua.common.ua_utils import data_type_to_variant_type

    results = await node.read_attributes(
        [ua.AttributeIds.DataType, ua.AttributeIds.ValueRank, ua.AttributeIds.UserAccessLevel]
    )
    for result, attribute in zip(
        results, ("DataType", "ValueRank", "UserAccessLevel"), strict=True
    ):
        if not result.StatusCode.is_good():
            raise WriteRefused(
                f"{where}: cannot read the {attribute} of {address}: {result.StatusCode.name} "
                "(is it a variable?)"
            )
    data_type, rank, access = (r.Value.Value for r in results)
    if rank not in _SCALAR_RANKS:
        raise WriteRefused(f"{where}: {address} holds an array (ValueRank {rank}); "
                           "write-back writes scalars")  # fmt: skip
    if not int(access) & ua.AccessLevel.CurrentWrite.mask:
        raise WriteRefused(f"{where}: {address} is not writable (UserAccessLevel {int(access)})")
    variant = await data_type_to_variant_type(client.get_node(data_type))
    if variant == ua.VariantType.Variant:
        # an abstract type (BaseDataType, Number): the current value's type is what it holds
        current = (await node.read_data_value()).Value
        variant = current.VariantType if current is not None else variant
    if variant.name not in SCALAR_TYPES:
        raise WriteRefused(
            f"{where}: {address} holds {variant.name} (data type {data_type.to_string()}); "
            f"write-back writes {', '.join(SCALAR_TYPES)}"
        )
    return variant.name, variant


async def write_verified(
    client: Any, address: str, value: WriteValue, *, where: str, timeout_s: float = 10.0
) -> WriteValue:
    """Write ``value`` to the node at ``address`` as the server types it; the value read back.

    Parameters
    ----------
    client
        A connected asyncua client.
    address
        Node id or browse path (see :func:`browse_path`).
    value
        The configured value; converted to the node's data type.
    where
        Names the server in errors (its endpoint).
    timeout_s
        For each request.

    Raises
    ------
    WriteRefused
        The node is unknown, not a writable scalar of a supported type, the value does
        not fit its type, or the server refuses the write for good.
    WriteNotVerified
        What is read back differs from what was written, twice.
    ConnectorNotReady
        The connection is lost or a request timed out.
    WriteError
        Any other failure.
    """
    from asyncua import ua

    doing = f"writing {value!r} to {address} on {where}"
    try:
        async with asyncio.timeout(timeout_s):
            node = await _resolve(client, address, where)
            type_name, variant = await _data_type(client, node, address, where)
        converted = convert_value(value, type_name, what=f"{address} on {where}")
        doing = f"writing {converted!r} ({type_name}) to {address} on {where}"
        read: Any = None
        for _ in range(2):  # a differing read-back is written once more
            async with asyncio.timeout(timeout_s):
                await node.write_attribute(
                    ua.AttributeIds.Value, ua.DataValue(ua.Variant(converted, variant))
                )
                read = await node.read_value()
            if same_value(converted, read, type_name):
                return read  # type: ignore[no-any-return]
    except (WriteError, ConnectorNotReady):
        raise
    except Exception as err:  # asyncua raises status errors, OSError, TimeoutError ...
        raise _mapped(err, doing) from err
    raise WriteNotVerified(f"{doing}: read back {read!r} twice")
