"""Network addresses typed on the command line: ``HOST[:PORT]``."""

from __future__ import annotations

from shopfloor.errors import ConfigError

__all__ = ["split_host_port"]


def split_host_port(text: str, *, default_port: int, what: str) -> tuple[str, int]:
    """``(host, port)`` of ``HOST[:PORT]`` (``[IPv6]:PORT`` too); ``default_port`` if none.

    Raises
    ------
    ConfigError
        Naming ``what`` (the option or argument) and the text.

    Examples
    --------
    >>> split_host_port("plc-3:1502", default_port=502, what="target")
    ('plc-3', 1502)
    >>> split_host_port("[::1]", default_port=1883, what="--broker")
    ('::1', 1883)
    """
    host, port = text.strip(), str(default_port)
    if host.startswith("["):  # [IPv6]:port
        inside, _, rest = host[1:].partition("]")
        host, port = inside, rest.removeprefix(":") or port
    elif host.count(":") == 1:
        host, _, port = host.partition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"{what} {text!r}: use HOST or HOST:PORT (port 1..65535)")
    return host, int(port)
