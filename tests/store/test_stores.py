"""The store contract, run against the embedded store and against a running platform's API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from shopfloor.api.security import ApiSecurity
from shopfloor.api.tokens import Role, TokenRegistry
from shopfloor.errors import StoreUnavailable
from shopfloor.store import DuckDBStore, Store
from shopfloor.store.remote import RemoteStore
from shopfloor.testing.store_checks import STORE_CHECKS
from tests.api.conftest import served

CheckFn = Callable[[Store], Awaitable[None]]


@pytest.mark.parametrize("check", STORE_CHECKS, ids=lambda c: c.__name__)
async def test_embedded_store(check: CheckFn, tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "store.duckdb")
    await store.open()
    try:
        await check(store)
    finally:
        await store.close()


TOKEN = "contract-test-admin-token"


@pytest.mark.integration
@pytest.mark.parametrize("check", STORE_CHECKS, ids=lambda c: c.__name__)
async def test_remote_store_over_http(check: CheckFn, tmp_path: Path) -> None:
    backing = DuckDBStore(tmp_path / "store.duckdb")
    await backing.open()
    try:
        tokens = TokenRegistry()
        tokens.add("contract", Role.ADMIN, TOKEN)
        async with served(backing, ApiSecurity(tokens)) as url:
            remote = RemoteStore(url, token=TOKEN)
            await remote.open()
            try:
                await check(remote)
            finally:
                await remote.close()
    finally:
        await backing.close()


async def test_second_process_cannot_open_the_file(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "store.duckdb"
    store = DuckDBStore(path)
    await store.open()
    try:
        code = (
            "import asyncio, sys\n"
            "from shopfloor.store import DuckDBStore\n"
            "from shopfloor.errors import StoreUnavailable\n"
            f"s = DuckDBStore({str(path)!r})\n"
            "try:\n    asyncio.run(s.open())\n"
            "except StoreUnavailable as e:\n    print('refused:', e); sys.exit(3)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 3, done.stderr
        assert "owns it" in done.stdout
    finally:
        await store.close()


async def test_closed_store_says_so(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    with pytest.raises(StoreUnavailable, match="not open"):
        await store.signals()
    await store.open()
    await store.close()
    await store.close()  # twice is fine
    with pytest.raises(StoreUnavailable, match="not open"):
        await store.count_dead_letters()


async def test_reopen_keeps_signals_and_data(tmp_path: Path) -> None:
    from shopfloor.model import Provenance, ScalarBatch
    from shopfloor.testing.store_checks import ASSET, SIGNALS, T0, ref

    path = tmp_path / "s.duckdb"
    async with DuckDBStore(path) as store:
        await store.register_signals(ASSET, SIGNALS)
        await store.write([ScalarBatch.of(ref("speed"), [T0], [1.0], Provenance("x"))])
    async with DuckDBStore(path) as store:
        assert len(await store.signals()) == len(SIGNALS)
        assert await store.count(ref("speed")) == 1
        report = await store.write([ScalarBatch.of(ref("speed"), [T0], [1.0], Provenance("x"))])
        assert report.duplicates == 1


async def test_kind_change_is_refused(tmp_path: Path) -> None:
    from shopfloor.errors import StoreError
    from shopfloor.model import Signal

    async with DuckDBStore(tmp_path / "s.duckdb") as store:
        await store.register_signals("a/b/c/d/e/f", [Signal(name="x")])
        with pytest.raises(StoreError, match="stored as scalar"):
            await store.register_signals("a/b/c/d/e/f", [Signal(name="x", kind="event")])
