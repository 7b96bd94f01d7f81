"""Form bodies (``studio.auth.form_of``) and the package's own files."""

from __future__ import annotations

import asyncio
from importlib.resources import files
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.types import Message

from shopfloor.errors import RequestInvalid
from shopfloor.studio.auth import form_of

FORM = b"application/x-www-form-urlencoded"


def _request(body: bytes, content_type: bytes = FORM) -> Request:
    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/studio/alerts/1/ack",
        "headers": [(b"content-type", content_type)],
        "query_string": b"",
    }
    return Request(scope, receive)


def _form(body: bytes, content_type: bytes = FORM) -> dict[str, str]:
    return asyncio.run(form_of(_request(body, content_type)))


@given(st.binary(max_size=300))
def test_any_body_is_fields_or_a_clear_refusal(body: bytes) -> None:
    try:
        fields = _form(body)
    except RequestInvalid as err:
        message = str(err)
    else:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())
        return
    assert "POST /studio/alerts/1/ack: form body of" in message


@given(st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=40), max_size=10))
def test_fields_come_back_as_sent(sent: dict[str, str]) -> None:
    assert _form(urlencode(sent).encode()) == sent


def test_too_many_fields_and_other_media_types() -> None:
    many = "&".join(f"f{i}=1" for i in range(60)).encode()
    with pytest.raises(RequestInvalid, match="form body of"):
        _form(many)
    assert _form(b'{"a": 1}', b"application/json") == {}


def test_templates_and_assets_ship_in_the_package() -> None:
    root = files("shopfloor.studio")
    for name in ("base.html", "login.html", "plant.html", "alerts.html", "models.html"):
        assert root.joinpath("templates", name).is_file(), name
    for name in ("studio.css", "signals.js", "vendor/htmx-LICENSE.txt", "vendor/uPlot-LICENSE.txt"):
        assert root.joinpath("static", *name.split("/")).is_file(), name
