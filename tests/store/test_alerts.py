"""Alerts in the embedded store: saved with their history, read back, filtered."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopfloor.errors import StoreError
from shopfloor.model.alert import AlertState, acknowledge, raise_alert, resolve
from shopfloor.store import AlertStore, DuckDBStore
from shopfloor.store.remote import RemoteStore

ASSET = "acme/p1/machining/l1/c1/cnc-01"
S = 1_000_000_000


async def test_alert_and_history_round_trip(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    await store.open()
    try:
        assert isinstance(store, AlertStore)
        alert, change = raise_alert(
            None,
            rule="hot",
            asset=ASSET,
            severity="alarm",
            message="hot",
            at_ns=1 * S,
            signal="temp",
            value=90.5,
        )
        alert = await store.save_alert(alert, [change])
        assert alert.id is not None
        acked, c2 = acknowledge(alert, who="ana", at_ns=2 * S, comment="on it")
        await store.save_alert(acked, [c2])
        other, c3 = raise_alert(
            None,
            rule="cold",
            asset=ASSET.replace("cnc-01", "cnc-02"),
            severity="info",
            message="cold",
            at_ns=3 * S,
        )
        other = await store.save_alert(other, [c3])
        done, c4 = resolve(other, who="system", at_ns=4 * S)
        await store.save_alert(done, [c4])

        back = await store.get_alert(alert.id)
        assert back == acked
        assert await store.get_alert(999) is None
        history = await store.alert_history(alert.id)
        assert [(c.action, c.who, c.from_state, c.to_state) for c in history] == [
            ("raised", "system", None, AlertState.OPEN),
            ("acknowledged", "ana", AlertState.OPEN, AlertState.ACKNOWLEDGED),
        ]
        assert [a.rule for a in await store.list_alerts()] == ["cold", "hot"]
        open_ = await store.list_alerts(states=[AlertState.OPEN, AlertState.ACKNOWLEDGED])
        assert [a.id for a in open_] == [alert.id]
        assert [a.rule for a in await store.list_alerts(asset=ASSET)] == ["hot"]
        assert [a.rule for a in await store.list_alerts(rule="cold")] == ["cold"]
        assert len(await store.list_alerts(limit=1)) == 1
    finally:
        await store.close()
    reopened = DuckDBStore(tmp_path / "s.duckdb", read_only=True)
    await reopened.open()
    try:
        assert (await reopened.get_alert(alert.id)) == acked
    finally:
        await reopened.close()


async def test_remote_store_says_alerts_are_not_over_http() -> None:
    remote = RemoteStore("http://127.0.0.1:9")
    with pytest.raises(StoreError, match="alerts are not served over HTTP yet"):
        await remote.list_alerts()
