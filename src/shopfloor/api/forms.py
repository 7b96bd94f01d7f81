"""``multipart/form-data`` bodies, parsed with the standard library's MIME parser.

Starlette's own form parsing needs ``python-multipart``, which is not a dependency of
shopfloor; the :mod:`email` package parses MIME multipart messages (binary-safe with
:data:`email.policy.HTTP`), so only the glue is written here: a body already bounded by
the caller goes in, its parts come out.
"""

from __future__ import annotations

import email.parser
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage

from shopfloor.errors import RequestInvalid

__all__ = ["FormPart", "parse_form"]


@dataclass(frozen=True)
class FormPart:
    """One field of a form: its name, the file name if it is a file, and its bytes."""

    name: str
    filename: str | None
    content_type: str
    data: bytes

    @property
    def text(self) -> str:
        """The value of a text field (UTF-8)."""
        return self.data.decode("utf-8", errors="replace")


def parse_form(content_type: str, body: bytes) -> list[FormPart]:
    r"""The parts of a ``multipart/form-data`` body.

    Raises
    ------
    RequestInvalid
        The content type names no boundary, or the body holds no parts.

    Examples
    --------
    >>> body = (b'--b\r\nContent-Disposition: form-data; name="part_id"\r\n\r\n42\r\n'
    ...         b'--b--\r\n')
    >>> [(p.name, p.text) for p in parse_form("multipart/form-data; boundary=b", body)]
    [('part_id', '42')]
    """
    if "boundary=" not in content_type:
        raise RequestInvalid(f"multipart body without a boundary in {content_type!r}")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise RequestInvalid(f"not a multipart body ({len(body)} bytes)")
    parts: list[FormPart] = []
    for part in message.iter_parts():
        if not isinstance(part, EmailMessage):
            continue
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        parts.append(FormPart(name, part.get_filename(), part.get_content_type(), payload))
    if not parts:
        raise RequestInvalid(f"multipart body of {len(body)} bytes holds no form fields")
    return parts
