"""Shared test fixtures.

Tests that read the public recordings in ``../shared/data`` use the ``shared_data``
fixture (and the ``shared_data`` marker): in a user's clone without that folder they are
skipped with the reason; when ``CI=true`` a missing folder is a failure, because CI
always has it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.receivers import Mailbox, Receiver, free_port, mosquitto

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SHOPFLOOR_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every test that uses the ``shared_data`` fixture the marker of the same name."""
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.shared_data)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; skip (or fail under CI) when it is not there."""
    if SHARED_DATA.is_dir() and any(SHARED_DATA.iterdir()):
        return SHARED_DATA
    reason = (
        f"needs the public recordings in {SHARED_DATA} (set SHOPFLOOR_SHARED_DATA to "
        "their folder); they are not in this clone"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    """An HTTP server on loopback that keeps every POST (answering 200, or ``statuses``)."""
    r = Receiver([])
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    """A mosquitto broker on a free loopback port; yields the port."""
    try:
        with mosquitto(tmp_path) as port:
            yield port
    except RuntimeError as err:
        pytest.fail(str(err))


@pytest.fixture
async def smtp() -> AsyncIterator[tuple[int, Mailbox]]:
    """An SMTP server on loopback (aiosmtpd) that keeps every message; yields port and box."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, box
    controller.stop()
