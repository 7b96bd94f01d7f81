"""Fixtures shared by the runtime's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.runtime.test_notifiers import Receiver


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    """An HTTP server on loopback that answers every POST with 200 and keeps the bodies."""
    r = Receiver([])
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()
