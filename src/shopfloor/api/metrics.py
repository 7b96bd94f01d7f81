"""``/metrics``: the platform's status in the Prometheus text format (version 0.0.4).

Read from the running platform's status (:meth:`shopfloor.node.Platform.status`), the
store's statistics and the alerts; nothing is counted twice. Counters end in ``_total``
(Prometheus takes their ``rate()`` for ingest rates); the rest are gauges:

=============================================  ============================================
``shopfloor_up``                               1 while the API answers
``shopfloor_uptime_seconds``                   since the platform started
``shopfloor_connector_up{connector,health}``   1 for the connector's current health
``shopfloor_connector_values_total``           values received, by connector
``shopfloor_connector_rejected_total``         values rejected, by connector
``shopfloor_connector_reconnects_total``       connections established again
``shopfloor_connector_journal_pending``        records waiting in a connector's journal
``shopfloor_bus_store_queue``                  records queued between bus and store
``shopfloor_store_spill_pending``              records spilled while the store was down
``shopfloor_store_rows{table}``                rows in each table of the store
``shopfloor_store_size_bytes``                 the store's size on disk
``shopfloor_store_sink_records_total``         records the store sink handed to the store
``shopfloor_store_sink_failures_total``        failed store writes
``shopfloor_deployment_windows_total``         windows scored, by deployment
``shopfloor_deployment_scoring_errors_total``  scoring errors of the deployments service
``shopfloor_alerts{state,severity}``           alerts kept, by state and severity
=============================================  ============================================
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["CONTENT_TYPE", "prometheus_text"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_HELP = {
    "shopfloor_up": ("gauge", "1 while the API answers."),
    "shopfloor_uptime_seconds": ("gauge", "Seconds since the platform started."),
    "shopfloor_connector_up": ("gauge", "1 for each connector's current health."),
    "shopfloor_connector_values_total": ("counter", "Values received by each connector."),
    "shopfloor_connector_rejected_total": ("counter", "Values rejected by each connector."),
    "shopfloor_connector_reconnects_total": ("counter", "Connections established again."),
    "shopfloor_connector_journal_pending": ("gauge", "Records waiting in a journal."),
    "shopfloor_bus_store_queue": ("gauge", "Records queued between the bus and the store."),
    "shopfloor_store_spill_pending": ("gauge", "Records spilled while the store was down."),
    "shopfloor_store_rows": ("gauge", "Rows in each table of the store."),
    "shopfloor_store_size_bytes": ("gauge", "The store's size on disk."),
    "shopfloor_store_sink_records_total": ("counter", "Records handed to the store."),
    "shopfloor_store_sink_failures_total": ("counter", "Failed store writes."),
    "shopfloor_deployment_windows_total": ("counter", "Windows scored by each deployment."),
    "shopfloor_deployment_scoring_errors_total": ("counter", "Scoring errors."),
    "shopfloor_alerts": ("gauge", "Alerts kept, by state and severity."),
}

Sample = tuple[str, dict[str, str], float]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _format(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def _connectors(connectors: Mapping[str, Any]) -> Iterable[Sample]:
    for name, health in connectors.items():
        if name.startswith("_") or not isinstance(health, Mapping):
            continue
        labels = {"connector": name}
        yield "shopfloor_connector_up", {**labels, "health": str(health.get("health"))}, 1.0
        for key, metric in (
            ("values_in", "shopfloor_connector_values_total"),
            ("rejected", "shopfloor_connector_rejected_total"),
            ("reconnects", "shopfloor_connector_reconnects_total"),
        ):
            value = _number(health.get(key))
            if value is not None:
                yield metric, labels, value
        journal = health.get("journal")
        pending = _number(journal.get("pending")) if isinstance(journal, Mapping) else None
        if pending is not None:
            yield "shopfloor_connector_journal_pending", labels, pending


def _samples(
    status: Mapping[str, Any],
    store: Mapping[str, Any],
    alerts: Mapping[tuple[str, str], int],
) -> Iterable[Sample]:
    yield "shopfloor_up", {}, 1.0
    uptime = _number((status.get("platform") or {}).get("uptime_s"))
    if uptime is not None:
        yield "shopfloor_uptime_seconds", {}, uptime
    services = status.get("services") or {}
    yield from _connectors(services.get("connectors") or {})
    queue = _number((status.get("bus") or {}).get("store_queue"))
    if queue is not None:
        yield "shopfloor_bus_store_queue", {}, queue
    spill = (status.get("store") or {}).get("spill")
    pending = _number(spill.get("pending")) if isinstance(spill, Mapping) else None
    if pending is not None:
        yield "shopfloor_store_spill_pending", {}, pending
    for table, rows in (store.get("rows") or {}).items():
        value = _number(rows)
        if value is not None:
            yield "shopfloor_store_rows", {"table": str(table)}, value
    size = _number(store.get("size_bytes"))
    if size is not None:
        yield "shopfloor_store_size_bytes", {}, size
    sink = status.get("store_sink") or {}
    for key, metric in (
        ("records", "shopfloor_store_sink_records_total"),
        ("failures", "shopfloor_store_sink_failures_total"),
    ):
        value = _number(sink.get(key))
        if value is not None:
            yield metric, {}, value
    deployments = services.get("deployments") or {}
    for name, running in (deployments.get("deployments") or {}).items():
        windows = _number(running.get("windows")) if isinstance(running, Mapping) else None
        if windows is not None:
            yield "shopfloor_deployment_windows_total", {"deployment": str(name)}, windows
    errors = _number(deployments.get("errors"))
    if errors is not None:
        yield "shopfloor_deployment_scoring_errors_total", {}, errors
    for (state, severity), count in sorted(alerts.items()):
        yield "shopfloor_alerts", {"state": state, "severity": severity}, float(count)


def prometheus_text(
    status: Mapping[str, Any],
    store: Mapping[str, Any],
    alerts: Mapping[tuple[str, str], int],
) -> str:
    """The metrics of a platform as Prometheus text.

    Parameters
    ----------
    status
        The platform's status (``platform``, ``bus``, ``store``, ``store_sink``,
        ``services``); parts that are missing give no metric.
    store
        The store's statistics: ``rows`` by table and ``size_bytes``.
    alerts
        How many alerts there are of each ``(state, severity)``.

    Examples
    --------
    >>> print(prometheus_text({"bus": {"store_queue": 3}}, {}, {}).splitlines()[-1])
    shopfloor_bus_store_queue 3
    """
    by_metric: dict[str, list[tuple[dict[str, str], float]]] = {}
    for name, labels, value in _samples(status, store, alerts):
        by_metric.setdefault(name, []).append((labels, value))
    lines = []
    for name, samples in by_metric.items():
        kind, text = _HELP[name]
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        for labels, value in samples:
            inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            head = f"{name}{{{inner}}}" if inner else name
            lines.append(f"{head} {_format(value)}")
    return "\n".join(lines) + "\n"
