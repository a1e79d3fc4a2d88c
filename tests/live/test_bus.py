"""The in-process bus: fan-out, ordering, drop-oldest back-pressure, thread producers, frame encoding."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime

import polars as pl
import pytest

from pitwall import schema
from pitwall.compat import default_aliases
from pitwall.live.bus import TelemetryBus, encode_frames

STREAM_KEYS = list(default_aliases().stream)


def _values(events: list) -> list[int]:
    return [json.loads(e.data)["i"] for e in events]


async def _drain(sub, n: int, timeout: float = 5.0) -> list:
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got += await sub.next_batch(timeout=0.5)
    return got


def test_fan_out_in_order_with_sequence_numbers() -> None:
    async def main() -> None:
        bus = TelemetryBus()
        a, b = bus.subscribe("cues"), bus.subscribe("cues")
        other = bus.subscribe("notifications")
        for i in range(5):
            bus.publish("cues", {"i": i})
        for sub in (a, b):
            events = await _drain(sub, 5)
            assert _values(events) == [0, 1, 2, 3, 4]
            assert [e.seq for e in events] == [0, 1, 2, 3, 4]
            assert {e.topic for e in events} == {"cues"}
        assert other.pending() == 0
        assert bus.stats()["cues"] == {"published": 5, "subscribers": 2, "dropped": 0}

    asyncio.run(main())


def test_slow_subscriber_loses_oldest_and_fast_one_loses_nothing() -> None:
    async def main() -> None:
        bus = TelemetryBus()
        slow = bus.subscribe("telemetry", maxlen=10)
        fast = bus.subscribe("telemetry", maxlen=100)
        for i in range(25):
            bus.publish("telemetry", {"i": i})
        assert _values(await slow.next_batch()) == list(range(15, 25))
        assert slow.dropped == 15
        assert _values(await fast.next_batch()) == list(range(25))
        assert fast.dropped == 0
        assert bus.stats()["telemetry"]["dropped"] == 15

    asyncio.run(main())


def test_batch_larger_than_queue_keeps_newest() -> None:
    async def main() -> None:
        bus = TelemetryBus()
        sub = bus.subscribe("telemetry", maxlen=4)
        bus.publish_encoded("telemetry", [json.dumps({"i": i}).encode() for i in range(10)])
        assert _values(await sub.next_batch()) == [6, 7, 8, 9]
        assert sub.dropped == 6

    asyncio.run(main())


def test_producer_never_blocks_on_a_stalled_subscriber() -> None:
    async def main() -> None:
        bus = TelemetryBus()
        stalled = bus.subscribe("telemetry", maxlen=100)  # never read
        payloads = [b'{"i":0}'] * 1000
        t0 = time.perf_counter()
        for _ in range(200):
            bus.publish_encoded("telemetry", payloads)
        elapsed = time.perf_counter() - t0
        assert stalled.pending() == 100
        assert stalled.dropped == 200_000 - 100
        assert elapsed < 5.0

    asyncio.run(main())


def test_thread_producer_wakes_async_consumer_and_loses_nothing() -> None:
    n = 20_000

    async def main() -> None:
        bus = TelemetryBus()
        sub = bus.subscribe("telemetry", maxlen=n)

        def produce() -> None:
            for start in range(0, n, 50):
                bus.publish_encoded("telemetry", [f'{{"i":{i}}}'.encode() for i in range(start, start + 50)])
                time.sleep(0.0005)

        producer = threading.Thread(target=produce)
        producer.start()
        got = await _drain(sub, n, timeout=10.0)
        producer.join()
        assert _values(got) == list(range(n))
        assert sub.dropped == 0

    asyncio.run(main())


def test_next_batch_times_out_empty_and_close_wakes_the_reader() -> None:
    async def main() -> None:
        bus = TelemetryBus()
        sub = bus.subscribe("cues")
        t0 = time.monotonic()
        assert await sub.next_batch(timeout=0.05) == []
        assert time.monotonic() - t0 >= 0.05
        waiting = asyncio.create_task(sub.next_batch(timeout=5.0))
        await asyncio.sleep(0.01)
        closer = threading.Thread(target=bus.unsubscribe, args=(sub,))
        closer.start()
        assert await asyncio.wait_for(waiting, 1.0) == []
        closer.join()
        assert bus.subscriber_count("cues") == 0
        bus.publish("cues", {"i": 1})
        assert sub.pending() == 0

    asyncio.run(main())


def test_subscriber_of_a_closed_loop_is_dropped_on_publish() -> None:
    bus = TelemetryBus()
    loop = asyncio.new_event_loop()
    sub = bus.subscribe("cues", loop=loop)
    sub._take(1)  # the reader is now "waiting" on a loop that is about to close
    loop.close()
    bus.publish("cues", {"i": 1})
    assert bus.subscriber_count("cues") == 0


def test_unknown_topic_and_bad_maxlen_are_rejected() -> None:
    bus = TelemetryBus()
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="unknown topic"):
            bus.subscribe("laps", loop=loop)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="maxlen"):
            bus.subscribe("cues", maxlen=0, loop=loop)
    finally:
        loop.close()


def test_encode_frames_has_every_canonical_column_iso_utc_and_nulls() -> None:
    wide = pl.DataFrame(
        {
            "session_id": ["s1", "s1"],
            "frame_idx": [0, 1],
            "t_s": [0.0, 0.02],
            "utc": [
                datetime(2026, 5, 26, 17, 0, tzinfo=UTC),
                datetime(2026, 5, 26, 17, 0, 0, 20_000, tzinfo=UTC),
            ],
            "speed_kph": [101.5, float("nan")],
            "gear": [3, 3],
            "not_canonical": [1, 2],
        }
    )
    frames = [json.loads(b) for b in encode_frames(wide)]
    assert len(frames) == 2
    assert list(frames[0]) == list(schema.TELEMETRY) + [k for k in STREAM_KEYS if k not in schema.TELEMETRY]
    assert frames[0]["speed"] == pytest.approx(101.5 / 3.6) and frames[0]["timestamp"] == 0.0
    assert frames[1]["utc"] == "2026-05-26T17:00:00.020000Z"
    assert frames[0]["speed_kph"] == 101.5 and frames[1]["speed_kph"] is None
    assert frames[1]["frame_idx"] == 1 and frames[1]["gear"] == 3 and frames[1]["lat_deg"] is None
    assert encode_frames(wide.clear()) == []


def test_close_delivers_what_is_queued_then_ends_every_subscription() -> None:
    async def main() -> None:
        bus = TelemetryBus()
        sub = bus.subscribe("telemetry")
        idle = bus.subscribe("cues")
        waiting = asyncio.create_task(idle.next_batch(timeout=5.0))
        await asyncio.sleep(0.01)
        bus.publish("telemetry", {"i": 1})
        bus.close()
        assert _values(await sub.next_batch(timeout=1.0)) == [1]
        assert await sub.next_batch(timeout=1.0) == []
        assert await asyncio.wait_for(waiting, 1.0) == []
        late = bus.subscribe("notifications")
        assert late.closed and await late.next_batch(timeout=1.0) == []
        assert bus.stats()["telemetry"]["subscribers"] == 0

    asyncio.run(main())
