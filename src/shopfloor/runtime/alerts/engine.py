"""The alert engine: rules evaluated on live values, alerts kept, people told.

One subscription per watched signal (``alerts:<signal path>``) feeds the values of the
bus to each rule on it (:class:`~shopfloor.runtime.alerts.rules.RuleState`); a timer
checks stale rules and expired shelves. Every change of an alert is made by the pure
lifecycle (:mod:`shopfloor.model.alert`), kept in the store with its history
(:class:`~shopfloor.store.AlertStore`) and, unless the alert is shelved, handed to the
:class:`~shopfloor.runtime.notifiers.NotificationDispatcher`, which only queues: a slow
mail server never holds up evaluation. A rule's ``writeback`` values are handed to the
:class:`~shopfloor.runtime.writeback.WritebackService` the same way (it only takes the
latest value per target) when the alert is raised and when it resolves, shelved or not:
shelving silences people, while the machine's alarm node follows the condition. Each
write's outcome is added to the alert's history (``written`` or ``write_failed``). Store
writes run on the store's own threads, so the event loop is never blocked.

There is one open alert per rule and asset: the engine reads the open ones at start and
updates an open alert when its rule raises again. A delivery is acknowledged once its
values were evaluated and the resulting changes handed to the store.

Rules on a deployment (``deployment: NAME``, ``output: score | health_index | state``)
watch ``<asset>/NAME.<output>`` on every asset where a deployment of that name runs in
*active* mode: the deployment runtime tells the engine what runs
(:meth:`AlertEngine.watch_deployments`), and the engine subscribes and unsubscribes as
deployments start, swap, change mode and stop. Until one runs, the rule is reported as
waiting in :meth:`AlertEngine.health`. A *shadow* deployment never alerts: its rules stay
waiting, and values whose provenance marks them as a shadow's
(:data:`~shopfloor.model.deployment.SHADOW_SOURCE`) are never evaluated, even by a rule
that names the shadow's signal directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from shopfloor.bus import Bus, Subscription
from shopfloor.errors import BusClosed, ShopfloorError
from shopfloor.model import Quality, ScalarBatch, SignalRef, format_ns, now_ns, topic_for
from shopfloor.model.alert import (
    SYSTEM,
    Alert,
    AlertChange,
    AlertState,
    raise_alert,
    resolve,
    unshelve,
)
from shopfloor.model.condition import Transition
from shopfloor.model.deployment import SHADOW_SOURCE, Deployment
from shopfloor.runtime.alerts.rules import Firing, RuleState
from shopfloor.runtime.config import AlertRuleConfig
from shopfloor.runtime.notifiers import Notification, NotificationDispatcher
from shopfloor.runtime.writeback import WritebackService, WriteRequest, WriteResult
from shopfloor.store.protocol import AlertStore

__all__ = ["AlertEngine"]

log = logging.getLogger(__name__)

Key = tuple[str, str]
"""(rule name, asset path): at most one open alert each."""


def _split(path: str) -> SignalRef:
    asset, _, name = path.rpartition("/")
    return SignalRef(asset, name)


class AlertEngine:
    """Evaluate alert rules on live values (a platform :class:`~shopfloor.node.Service`).

    Parameters
    ----------
    rules
        The project's alert rules. Rules on a deployment's score wait for deployments
        and are reported as such in :meth:`health`.
    bus
        Where the values come from.
    store
        Where alerts and their history are kept.
    dispatcher
        Where notifications go (``None``: nobody is told).
    writeback
        Writes the rules' ``writeback`` values to machines (``None``: nothing is written).
    clock
        Now in UTC nanoseconds; tests pin it.
    tick_s
        How often stale rules and shelves are checked.
    batch_size
        Deliveries taken at once per subscription.
    """

    name = "alerts"

    def __init__(
        self,
        rules: Sequence[AlertRuleConfig],
        bus: Bus,
        store: AlertStore,
        dispatcher: NotificationDispatcher | None = None,
        *,
        writeback: WritebackService | None = None,
        clock: Callable[[], int] = now_ns,
        tick_s: float = 1.0,
        batch_size: int = 256,
    ) -> None:
        self.bus = bus
        self.store = store
        self.dispatcher = dispatcher
        self.writeback = writeback
        if writeback is not None:
            writeback.on_result = self._written
        self._clock = clock
        self._tick_s = tick_s
        self._batch_size = batch_size
        self.rules = list(rules)
        self.waiting: dict[str, str] = {}
        self._states: dict[str, list[RuleState]] = {}
        for rule in rules:
            if rule.signal is not None:
                self._states.setdefault(rule.signal, []).append(RuleState(rule))
        self._deployment_rules = [r for r in rules if r.deployment is not None]
        self._wait_for_deployments([])
        self.open: dict[Key, Alert] = {}
        self._lock = asyncio.Lock()
        self._readers: dict[str, tuple[Subscription, asyncio.Task[None]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self.skipped_shadow = 0
        self.evaluated = 0
        self.raised = 0
        self.resolved = 0
        self.notified = 0
        self.errors = 0
        self.last_error: str | None = None

    async def start(self) -> None:
        """Read the open alerts, start the notifiers, subscribe and start the timer."""
        started = self._clock()
        for states in self._states.values():
            for state in states:
                state.started_ns = started
        current = await self.store.list_alerts(states=[AlertState.OPEN, AlertState.ACKNOWLEDGED])
        for alert in reversed(current):  # oldest first: a newer one of the same key wins
            self.open[(alert.rule, alert.asset)] = alert
        for path, states in self._states.items():
            asset = _split(path).asset
            for state in states:
                if (state.rule.name, asset) in self.open:
                    state.persistence.reset(active=True)  # it can still clear
        if self.dispatcher is not None:
            await self.dispatcher.start()
        if self.writeback is not None:
            await self.writeback.start()
        for path in self._states:
            await self._watch(path)
        self._tasks.append(asyncio.create_task(self._timer(), name="alerts:timer"))
        self._started = True
        log.info(
            "alerts.started rules=%d signals=%d open=%d",
            len(self.rules),
            len(self._states),
            len(self.open),
        )

    async def _watch(self, path: str) -> None:
        subscription = await self.bus.subscribe(
            topic_for(_split(path)), name=f"alerts:{path}", maxsize=1024
        )
        task = asyncio.create_task(self._read(path, subscription), name=f"alerts:{path}")
        self._readers[path] = (subscription, task)

    async def _unwatch(self, path: str) -> None:
        subscription, task = self._readers.pop(path)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        with contextlib.suppress(Exception):
            await subscription.close()

    def _wait_for_deployments(self, running: Sequence[Deployment]) -> dict[str, list[RuleState]]:
        """The states of deployment rules for what runs; the waiting reasons of the rest."""
        states: dict[str, list[RuleState]] = {}
        for rule in self._deployment_rules:
            name = rule.deployment
            self.waiting.pop(rule.name, None)
            mine = [d for d in running if d.name == name]
            active = [d for d in mine if d.active]
            for d in active:
                path = f"{d.asset}/{d.signal_name(rule.output)}"
                states.setdefault(path, []).append(RuleState(rule))
            if not active:
                self.waiting[rule.name] = (
                    f"deployment {name!r} runs in shadow mode only: a shadow never alerts"
                    if mine
                    else f"no deployment {name!r} runs (deploy one with 'shopfloor deploy')"
                )
        return states

    async def watch_deployments(self, running: Sequence[Deployment]) -> None:
        """Follow the running deployments: rules on active ones watch their outputs.

        Called by the deployment runtime whenever what runs changes. A path watched before
        and still wanted keeps its rule states (persistence is not restarted by a swap).
        """
        wanted = self._wait_for_deployments(running)
        static = {r.signal for r in self.rules if r.signal is not None}
        for path in [p for p in self._states if p not in static and p not in wanted]:
            del self._states[path]
            if path in self._readers:
                await self._unwatch(path)
        for path, states in wanted.items():
            if path in self._states:
                continue
            self._states[path] = states
            for state in states:
                state.started_ns = self._clock()
            if self._started:
                await self._watch(path)
        log.info(
            "alerts.deployments running=%d watched=%d waiting=%d",
            len(running),
            len(wanted),
            len(self.waiting),
        )

    async def _read(self, path: str, subscription: Subscription) -> None:
        states = self._states[path]
        while True:
            try:
                batch = await subscription.get_batch(self._batch_size, 0.5)
            except BusClosed:
                return
            for delivery in batch:
                record = delivery.record
                if isinstance(record, ScalarBatch) and record.provenance.connector.startswith(
                    SHADOW_SOURCE
                ):
                    self.skipped_shadow += len(record)  # a shadow deployment never alerts
                elif isinstance(record, ScalarBatch) and len(record):
                    values = np.where(record.quality == Quality.BAD, np.nan, record.values).tolist()
                    ts = record.ts_ns.tolist()
                    arrival = self._clock()
                    for state in states:
                        await self._apply(state, path, state.feed(ts, values, arrival))
                    self.evaluated += len(ts)
                delivery.ack()

    async def _timer(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            now = self._clock()
            try:
                for path, states in list(self._states.items()):
                    for state in states:
                        if state.is_stale_rule:
                            await self._apply(state, path, state.tick(now))
                await self._unshelve_expired(now)
            except Exception as err:  # the timer must keep running; say so in health
                self._failed("timer", err)

    async def _unshelve_expired(self, now: int) -> None:
        async with self._lock:
            for key, alert in list(self.open.items()):
                if alert.shelf_expired(now):
                    changed, change = unshelve(alert, at_ns=now, comment="shelf expired")
                    await self._keep(key, changed, change)

    async def _apply(self, state: RuleState, path: str, firings: list[Firing]) -> None:
        if not firings:
            return
        rule = state.rule
        ref = _split(path)
        key = (rule.name, ref.asset)
        async with self._lock:
            for firing in firings:
                if firing.transition is Transition.UNKNOWN:
                    log.warning("alerts.unknown rule=%s signal=%s", rule.name, path)
                    continue
                if firing.transition is Transition.RAISED:
                    await self._raise(rule, ref, key, firing, path)
                elif rule.auto_resolve and key in self.open:
                    alert, change = resolve(
                        self.open[key],
                        who=SYSTEM,
                        at_ns=firing.t_ns,
                        comment=f"condition cleared ({self._describe(rule, firing, path)})",
                    )
                    await self._keep(key, alert, change)
                    self.resolved += 1

    async def _raise(
        self, rule: AlertRuleConfig, ref: SignalRef, key: Key, firing: Firing, path: str
    ) -> None:
        message = rule.message or f"{rule.name}: {self._describe(rule, firing, path)}"
        alert, change = raise_alert(
            self.open.get(key),
            rule=rule.name,
            asset=ref.asset,
            severity=rule.severity,
            message=message,
            at_ns=firing.t_ns,
            signal=ref.name,
            value=firing.value,
        )
        await self._keep(key, alert, change)
        if change.action == "raised":
            self.raised += 1

    @staticmethod
    def _describe(rule: AlertRuleConfig, firing: Firing, path: str) -> str:
        value = "unknown" if firing.value is None else f"{firing.value:.4g}"
        if rule.kind == "stale":
            return f"no value of {path} for {value} s (limit {rule.stale_s:g} s)"
        if rule.kind == "rate_of_change":
            return (
                f"{path} changes by {value}/s over {rule.window_s:g} s (limit {rule.threshold:g}/s)"
            )
        if rule.kind == "defect_rate":
            share = "unknown" if firing.value is None else f"{100 * firing.value:.1f} %"
            over = (
                f"the last {rule.window_n} items"
                if rule.window_n is not None
                else f"the last {rule.window_s:g} s"
            )
            limit = 100 * (rule.threshold or 0.0)
            return f"{share} defective over {over} of {path} (limit {limit:g} %)"
        return f"{path} = {value} ({rule.condition} {rule.threshold:g})"

    async def _keep(self, key: Key, alert: Alert, change: AlertChange) -> None:
        """Store the change, track the open alert, and tell the notifiers unless shelved."""
        before = self.open.get(key)
        shelved = before is not None and before.is_shelved(self._clock())
        try:
            alert = await self.store.save_alert(alert, [change])
        except ShopfloorError as err:  # kept in memory; the next change stores it again
            self._failed(f"store alert {key[0]} on {key[1]}", err)
        if alert.is_open:
            self.open[key] = alert
        else:
            self.open.pop(key, None)
        log.info(
            "alerts.%s rule=%s asset=%s id=%s state=%s",
            change.action,
            alert.rule,
            alert.asset,
            alert.id,
            alert.state,
        )
        if change.action not in ("raised", "resolved"):
            return
        rule = next(r for r in self.rules if r.name == alert.rule)
        self._write_back(rule, alert, change)
        if shelved:
            return
        if self.dispatcher is not None:
            self.dispatcher.notify(
                Notification(
                    alert_id=str(alert.id),
                    rule=alert.rule,
                    asset=alert.asset,
                    severity=alert.severity,
                    state=str(alert.state),
                    message=alert.message if alert.is_open else change.comment,
                    at_ns=change.at_ns,
                    value=alert.value
                    if alert.value is None or math.isfinite(alert.value)
                    else None,
                    signal=None if alert.signal is None else f"{alert.asset}/{alert.signal}",
                ),
                only=rule.notify,
            )
            self.notified += 1

    def _write_back(self, rule: AlertRuleConfig, alert: Alert, change: AlertChange) -> None:
        """Hand the rule's write-back values for this change to the writer (never waits)."""
        if self.writeback is None or not rule.writeback:
            return
        phase: Literal["raised", "resolved"] = "raised" if change.action == "raised" else "resolved"
        fields = {
            "rule": alert.rule,
            "asset": alert.asset,
            "severity": alert.severity,
            "state": str(alert.state),
            "message": alert.message if alert.is_open else change.comment,
            "value": alert.value,
        }
        for target in rule.writeback:
            value = target.value_for(phase, fields)
            if value is None:
                continue
            self.writeback.request(
                WriteRequest(
                    rule=rule.name,
                    alert_id=alert.id,
                    asset=alert.asset,
                    phase=phase,
                    connector=target.connector,
                    address=target.address,
                    value=value,
                    at_ns=change.at_ns,
                )
            )

    async def _written(self, result: WriteResult) -> None:
        """Add a write's outcome to the history of the alert that asked for it."""
        alert_id = result.request.alert_id
        if alert_id is None:
            return  # the alert was not stored: the outcome is in health and the log
        async with self._lock:
            current = next((a for a in self.open.values() if a.id == alert_id), None)
            if current is None:
                current = await self.store.get_alert(alert_id)
            if current is None:
                return
            change = AlertChange(
                result.action,
                result.at_ns,
                SYSTEM,
                current.state,
                current.state,
                result.summary(),
                alert_id,
            )
            try:
                await self.store.save_alert(current, [change])
            except ShopfloorError as err:
                self._failed(f"store write-back of alert {alert_id}", err)

    def _failed(self, what: str, err: Exception) -> None:
        self.errors += 1
        self.last_error = f"{what}: {type(err).__name__}: {err}"
        if self.errors in (1, 10, 100, 1000) or self.errors % 10000 == 0:
            log.error("alerts.failed what=%s error=%s count=%d", what, err, self.errors)

    async def stop(self) -> None:
        """Stop reading and the timer, then deliver what is queued to the notifiers."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for path in list(self._readers):
            await self._unwatch(path)
        self._started = False
        if self.dispatcher is not None:
            await self.dispatcher.close()
        if self.writeback is not None:
            await self.writeback.stop()

    def health(self) -> dict[str, Any]:
        """Rules, open alerts, counts, the last error and each notifier's health."""
        now = self._clock()
        shelved = sum(1 for a in self.open.values() if a.is_shelved(now))
        return {
            "state": "degraded" if self.last_error else "running",
            "rules": len(self.rules),
            "signals": len(self._states),
            "open_alerts": len(self.open),
            "shelved": shelved,
            "open": [
                f"#{a.id} {a.rule} on {a.asset} ({a.severity}, {a.state} since "
                f"{format_ns(a.opened_ns)})"
                for a in self.open.values()
            ],
            "values_evaluated": self.evaluated,
            "raised": self.raised,
            "resolved": self.resolved,
            "notified": self.notified,
            "unknown": sorted(
                s.rule.name
                for states in self._states.values()
                for s in states
                if s.persistence.unknown
            ),
            "waiting": self.waiting,
            "shadow_values_skipped": self.skipped_shadow,
            "errors": self.errors,
            "last_error": self.last_error,
            "notifiers": {} if self.dispatcher is None else self.dispatcher.health(),
            "writeback": None if self.writeback is None else self.writeback.health(),
        }
