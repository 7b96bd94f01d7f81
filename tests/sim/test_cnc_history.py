"""BoundedHistory: the simulator's compact in-memory HistoryRead storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asyncua import ua

from shopfloor.sim.cnc.history import MAX_RESPONSE_SAMPLES, BoundedHistory

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NODE = ua.NodeId("CNC01.Spindle.Speed", 2)
ARRAY = ua.NodeId("CNC01.Vibration.AccelX", 2)


def dv(seconds: float, value: object, vtype: ua.VariantType = ua.VariantType.Double,
       status: int = ua.StatusCodes.Good) -> ua.DataValue:  # fmt: skip
    ts = T0 + timedelta(seconds=seconds)
    bad = ua.StatusCode(status).is_bad()
    variant = ua.Variant(None, ua.VariantType.Null) if bad else ua.Variant(value, vtype)
    return ua.DataValue(variant, StatusCode=ua.StatusCode(status), SourceTimestamp=ts,
                        ServerTimestamp=ts)  # fmt: skip


async def filled(n: int = 100, period_s: float | None = None, count: int = 0) -> BoundedHistory:
    history = BoundedHistory()
    period = None if period_s is None else timedelta(seconds=period_s)
    await history.new_historized_node(NODE, period, count)
    for i in range(n):
        await history.save_node_value(NODE, dv(i, float(i)))
    return history


async def test_forward_read_between_start_and_end() -> None:
    history = await filled()
    values, cont = await history.read_node_history(
        NODE, T0 + timedelta(seconds=10), T0 + timedelta(seconds=19), 0
    )
    assert [v.Value.Value for v in values] == [float(i) for i in range(10, 20)]
    assert cont is None
    assert values[0].SourceTimestamp == T0 + timedelta(seconds=10)
    assert values[0].Value.VariantType == ua.VariantType.Double


async def test_reverse_read_when_start_is_after_end_or_unset() -> None:
    history = await filled()
    values, _ = await history.read_node_history(
        NODE, T0 + timedelta(seconds=19), T0 + timedelta(seconds=10), 0
    )
    assert [v.Value.Value for v in values] == [float(i) for i in range(19, 9, -1)]
    newest_first, _ = await history.read_node_history(NODE, None, T0 + timedelta(seconds=5), 3)
    assert [v.Value.Value for v in newest_first] == [5.0, 4.0, 3.0]


async def test_continuation_point_resumes_where_the_limit_stopped() -> None:
    history = BoundedHistory(max_history_data_response_size=30)
    await history.new_historized_node(NODE, None, 0)
    for i in range(100):
        await history.save_node_value(NODE, dv(i, float(i)))
    first, cont = await history.read_node_history(NODE, T0, T0 + timedelta(seconds=99), 0)
    assert len(first) == 30 and cont == T0 + timedelta(seconds=30)
    second, _ = await history.read_node_history(NODE, cont, T0 + timedelta(seconds=99), 0)
    assert second[0].Value.Value == 30.0


@pytest.mark.parametrize("end", [None, T0 + timedelta(seconds=79)])
async def test_newest_first_read_without_start_resumes_newest_first(
    end: datetime | None,
) -> None:
    """asyncua resumes with the continuation as start: the next page stays newest first."""
    history = BoundedHistory(max_history_data_response_size=30)
    await history.new_historized_node(NODE, None, 0)
    for i in range(100):
        await history.save_node_value(NODE, dv(i, float(i)))
    newest = 99 if end is None else 79
    got: list[float] = []
    start, cont = None, None
    for _ in range(10):
        page, cont = await history.read_node_history(NODE, start, end, 0)
        got.extend(v.Value.Value for v in page)
        if cont is None:
            break
        start = cont
    assert got == [float(i) for i in range(newest, -1, -1)]


async def test_period_and_count_bound_the_history() -> None:
    by_period = await filled(1000, period_s=50)
    assert len(by_period) == 51  # [newest - 50 s, newest]
    by_count = await filled(1000, count=20)
    assert len(by_count) == 20
    values, _ = await by_count.read_node_history(NODE, T0, None, 0)
    assert values[0].Value.Value == 980.0


async def test_bad_status_reads_back_as_null_and_uncertain_keeps_value() -> None:
    history = BoundedHistory()
    await history.new_historized_node(NODE, None, 0)
    await history.save_node_value(NODE, dv(0, 1.0))
    await history.save_node_value(NODE, dv(1, None, status=ua.StatusCodes.BadSensorFailure))
    await history.save_node_value(NODE, dv(2, 1.0, status=ua.StatusCodes.UncertainLastUsableValue))
    values, _ = await history.read_node_history(NODE, T0, None, 0)
    assert values[1].StatusCode.value == ua.StatusCodes.BadSensorFailure
    assert values[1].Value.Value is None
    assert values[2].StatusCode.value == ua.StatusCodes.UncertainLastUsableValue
    assert values[2].Value.Value == 1.0


async def test_arrays_integers_and_strings_round_trip() -> None:
    history = BoundedHistory()
    await history.new_historized_node(ARRAY, None, 2)
    for i in range(3):
        await history.save_node_value(ARRAY, dv(i, [float(i)] * 5, ua.VariantType.Double))
    values, _ = await history.read_node_history(ARRAY, T0, None, 0)
    assert [v.Value.Value for v in values] == [[1.0] * 5, [2.0] * 5]
    state = ua.NodeId("CNC01.Program.State", 2)
    count = ua.NodeId("CNC01.Program.PartCount", 2)
    for node in (state, count):
        await history.new_historized_node(node, None, 0)
    await history.save_node_value(state, dv(0, "ROUGHING", ua.VariantType.String))
    await history.save_node_value(count, dv(0, 7, ua.VariantType.UInt32))
    (text,), _ = await history.read_node_history(state, T0, None, 0)
    (number,), _ = await history.read_node_history(count, T0, None, 0)
    assert text.Value.Value == "ROUGHING"
    assert number.Value.Value == 7 and number.Value.VariantType == ua.VariantType.UInt32


async def test_restart_keeps_data_and_same_timestamp_replaces() -> None:
    history = await filled(10)
    await history.new_historized_node(NODE, timedelta(hours=1), 0)  # server restarted
    await history.save_node_value(NODE, dv(9, 99.0))
    await history.save_node_value(NODE, dv(3, -1.0))  # out of order: dropped
    values, _ = await history.read_node_history(NODE, T0, None, 0)
    assert len(values) == 10 and values[-1].Value.Value == 99.0


@pytest.mark.parametrize("unknown", [ua.NodeId("nope", 2)])
async def test_unknown_node_reads_empty(unknown: ua.NodeId) -> None:
    history = await filled(3)
    assert await history.read_node_history(unknown, T0, None, 0) == ([], None)


async def test_array_responses_are_bounded_and_continued() -> None:
    """60 blocks of 25,600 samples do not come back in one response (memory)."""
    history = BoundedHistory()
    await history.new_historized_node(ARRAY, None, 60)
    samples = 25_600
    for i in range(60):
        variant = ua.Variant([float(i)] * samples, ua.VariantType.Double, is_array=True)
        await history.save_node_value(
            ARRAY, ua.DataValue(variant, SourceTimestamp=T0 + timedelta(seconds=i))
        )
    start, end = T0, T0 + timedelta(seconds=100)
    seen: list[float] = []
    while True:
        values, cont = await history.read_node_history(ARRAY, start, end, 0)
        assert len(values) * samples <= MAX_RESPONSE_SAMPLES
        seen += [v.Value.Value[0] for v in values]
        if cont is None:
            break
        start = cont
    assert seen == [float(i) for i in range(60)]
