"""While the deployment runtime runs, BLAS uses one thread per call; after, what it had."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from shopfloor.bus import MemoryBus
from shopfloor.ml.registry import ModelRegistry
from shopfloor.runtime.deployments import DeploymentCatalog, DeploymentService
from shopfloor.store import DuckDBStore


def blas_threads() -> set[int]:
    """The thread counts of the BLAS libraries loaded in this process."""
    return {int(lib["num_threads"]) for lib in threadpool_info() if lib["user_api"] == "blas"}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[DuckDBStore]:
    async with DuckDBStore(tmp_path / "store.duckdb") as s:
        yield s


def runtime(store: DuckDBStore, bus: MemoryBus, tmp_path: Path) -> DeploymentService:
    catalog = DeploymentCatalog(ModelRegistry(tmp_path / "models"), [], [])
    return DeploymentService(store, bus, catalog, workers=2, reconcile_s=60.0)


async def test_blas_uses_one_thread_while_the_runtime_runs(
    store: DuckDBStore, tmp_path: Path
) -> None:
    if not blas_threads():
        pytest.skip("no BLAS library loaded")
    bus = MemoryBus()
    await bus.start()
    with threadpool_limits(limits=2, user_api="blas"):
        first, second = runtime(store, bus, tmp_path), runtime(store, bus, tmp_path)
        await first.start()
        assert blas_threads() == {1}
        await second.start()
        await first.stop()
        assert blas_threads() == {1}  # the second still runs
        await second.stop()
        assert blas_threads() == {2}
        await second.stop()  # stopping twice gives nothing back twice
        assert blas_threads() == {2}
    await bus.close()
