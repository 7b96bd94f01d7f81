"""A schemathesis run against the OpenAPI schema, in process, as admin: no 5xx."""

from __future__ import annotations

import asyncio
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopfloor.api.app import create_app
from shopfloor.api.security import ARROW_STREAM, ApiSecurity
from shopfloor.api.tokens import Role, TokenRegistry
from shopfloor.model import Signal
from shopfloor.store import DuckDBStore

TOKEN = "schemathesis-admin-token"
ASSET = "acme/plant1/press-shop/line1/cell1/press-3"


schemathesis.openapi.media_type(ARROW_STREAM, st.binary(max_size=4096))


def test_no_server_errors(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "store.duckdb")

    async def prepare() -> None:
        await store.open()
        await store.register_signals(ASSET, [Signal(name="temp", unit="degC")])

    asyncio.run(prepare())
    tokens = TokenRegistry()
    tokens.add("fuzz", Role.ADMIN, TOKEN)
    app = create_app(store, ApiSecurity(tokens, allowed_hosts=["testserver"]))
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [op.ok() for op in schema.get_all_operations()]
        assert len(operations) >= 12
        cases = st.one_of(
            [
                op.as_strategy(generation_mode=mode)
                for op in operations
                for mode in (
                    schemathesis.GenerationMode.POSITIVE,
                    schemathesis.GenerationMode.NEGATIVE,
                )
            ]
        )
        failures: list[str] = []
        statuses: list[int] = []

        @given(case=cases)
        @settings(
            max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers={"authorization": f"Bearer {TOKEN}"})
            statuses.append(response.status_code)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.query} -> "
                    f"{response.status_code} {response.text[:200]}"
                )

        run()
        assert not failures, "\n".join(failures)
        assert len(statuses) >= 100 and 200 in statuses and 422 in statuses
    finally:
        asyncio.run(store.close())
