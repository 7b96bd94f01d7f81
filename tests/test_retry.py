"""The one retry policy: delays, jitter, and the same object for the engine and the sink."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from tenacity import RetryCallState

from shopfloor.bus import MemoryBus
from shopfloor.connectors.config import ConnectorConfig, ReconnectPolicy
from shopfloor.node.sink import StoreSink
from shopfloor.retry import RetryPolicy


def state(attempt: int) -> RetryCallState:
    retry_state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
    retry_state.attempt_number = attempt
    return retry_state


def test_delays_grow_by_the_multiplier_up_to_the_cap() -> None:
    policy = RetryPolicy(initial_s=0.5, max_s=4.0, multiplier=2.0, jitter=0.0)
    wait = policy.wait()
    assert [wait(state(n)) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert [policy.delay_s(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_jitter_is_a_fraction_of_the_delay_either_way() -> None:
    policy = RetryPolicy(initial_s=1.0, max_s=1.0, jitter=0.2)
    delays = [policy.wait()(state(3)) for _ in range(500)]
    assert all(0.8 <= d <= 1.2 for d in delays)
    assert min(delays) < 0.95 and max(delays) > 1.05  # spread both ways, not one-sided


def test_the_policy_names_the_bad_setting() -> None:
    with pytest.raises(ValidationError, match=r"max_s \(0.1\) is smaller than initial_s \(1.0\)"):
        RetryPolicy(initial_s=1.0, max_s=0.1)
    with pytest.raises(ValidationError, match="jitter"):
        RetryPolicy(jitter=1.5)


def test_the_engine_and_the_sink_share_one_policy() -> None:
    """A connector's ``reconnect:`` section is the policy, and the sink takes the same."""
    config = ConnectorConfig.model_validate(
        {"name": "cnc", "type": "x", "reconnect": {"initial_s": 0.2, "max_s": 1.0}}
    )
    assert isinstance(config.reconnect, RetryPolicy)
    assert isinstance(ReconnectPolicy(), RetryPolicy)
    sink = StoreSink(MemoryBus(), object(), retry=config.reconnect)  # type: ignore[arg-type]
    assert sink.retry is config.reconnect
    legacy = StoreSink(MemoryBus(), object(), backoff_initial_s=0.01, backoff_max_s=0.5)  # type: ignore[arg-type]
    assert (legacy.retry.initial_s, legacy.retry.max_s) == (0.01, 0.5)


def test_the_store_sink_policy_is_set_in_the_bus_section() -> None:
    from shopfloor.bus.config import BusConfig

    config = BusConfig.model_validate({"store_retry": {"initial_s": 0.05, "max_s": 2.0}})
    assert config.store_retry == RetryPolicy(initial_s=0.05, max_s=2.0)
    assert BusConfig().store_retry.max_s == 5.0
    with pytest.raises(ValidationError, match="store_retry"):
        BusConfig.model_validate({"store_retry": {"initial": 1}})
