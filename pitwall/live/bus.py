"""In-process publish/subscribe between the live producers (CAN reader, replay) and the SSE streams.

Topics: ``telemetry`` (one event per decoded wide frame), ``cues`` (coaching cues), ``notifications``
(inbox messages). Producers are plain threads; subscribers are asyncio tasks (one per SSE client).

Back-pressure policy: every subscriber owns a bounded queue (``maxlen`` events). When a slow subscriber's
queue is full, publishing drops that subscriber's **oldest** events and counts them in
:attr:`Subscription.dropped`; the producer never blocks and other subscribers are unaffected. Events are
JSON-encoded once at publish time and shared by every subscriber.

Telemetry frame shape (identical for live CAN, the simulator and replay), one JSON object per frame::

    {"session_id": "sonoma-20260526-170000", "frame_idx": 0, "t_s": 0.02,
     "utc": "2026-05-26T17:00:00.020000Z", "lat_deg": 38.16, "lon_deg": -122.45, ...}

with every column of :data:`pitwall.schema.TELEMETRY` in schema order (units in the names: ``t_s`` seconds
since session start, ``speed_kph``, ``g_lat`` in g positive left, …); ``utc`` is ISO-8601 with ``Z``;
unknown values and NaN are ``null``. After them come the keys the original clients read (``timestamp``,
``speed`` in m/s, ``distance``, ``g_lat``…, ``lap_number``, ``combo_g``; declared in the ``stream`` section of
``data/compat/frame_aliases.yaml``, :func:`pitwall.compat.stream_exprs`).

Every event goes out as ``id: <seq>`` + ``event: <name>`` (:data:`EVENT_NAMES`: ``telemetry``, ``cue``,
``notification``, as the original clients listen for them) + ``data: <json>``. Each event carries a ``key``
(the session id of a telemetry frame or a cue) by which a stream may filter.

Cue shape (:meth:`TelemetryBus.publish_cue`): ``{"id", "session_id", "text", "emotion", "timestamp"
(Unix s), "utc", …}``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, Final, Literal

import polars as pl

from pitwall import compat, schema

Topic = Literal["telemetry", "cues", "notifications"]
TOPICS: Final[tuple[Topic, ...]] = ("telemetry", "cues", "notifications")
_TELEMETRY_SCHEMA: Final = pl.Schema(schema.TELEMETRY)
DEFAULT_MAXLEN: Final = 1024
"""Default per-subscriber queue bound (events); ≈20 s of 50 Hz telemetry."""
EVENT_NAMES: Final[dict[Topic, bytes]] = {
    "telemetry": b"telemetry",
    "cues": b"cue",
    "notifications": b"notification",
}
"""The SSE ``event:`` name of each topic (the names the original PWA listens for)."""
_SESSION_PREFIX: Final = b'{"session_id":"'


@dataclass(frozen=True, slots=True)
class Event:
    """One published message: ``data`` is UTF-8 JSON; ``seq`` increases by one per topic."""

    topic: Topic
    seq: int
    data: bytes
    published_ns: int  # time.monotonic_ns() at publish, for latency measurements
    sse: bytes  # the event as an SSE message (``id`` + ``event`` + ``data``), built once for every client
    key: str | None = None  # the session id of a telemetry frame or a cue (streams filter on it)


@cache
def _stream_exprs() -> tuple[pl.Expr, ...]:
    return tuple(compat.stream_exprs(compat.default_aliases()))


def _key_of(data: bytes) -> str | None:
    """The session id at the head of an :func:`encode_frames` payload (``None`` when null or absent)."""
    if not data.startswith(_SESSION_PREFIX):
        return None
    end = data.index(b'"', len(_SESSION_PREFIX))
    return data[len(_SESSION_PREFIX) : end].decode()


def encode_frames(wide: pl.DataFrame) -> list[bytes]:
    """Encode wide telemetry rows as the telemetry-topic JSON payloads (one ``bytes`` per row).

    ``wide`` needs ``session_id``, ``frame_idx`` and ``t_s``; any canonical column may be missing (it is sent
    as ``null``). Columns that are not canonical are dropped; the original clients' keys are added.
    """
    if wide.is_empty():
        return []
    canonical = wide if wide.schema == _TELEMETRY_SCHEMA else schema.conform(wide, schema.TELEMETRY)
    frames = canonical.with_columns(pl.col("utc").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")).with_columns(
        *_stream_exprs()
    )
    return frames.write_ndjson().encode().splitlines()


class Subscription:
    """A subscriber's bounded queue on one topic, bound to the asyncio loop that created it.

    Read with :meth:`next_batch` from that loop; call :meth:`close` (or :meth:`TelemetryBus.unsubscribe`)
    when done. ``dropped`` counts events discarded because this subscriber fell behind.
    """

    def __init__(self, topic: Topic, maxlen: int, loop: asyncio.AbstractEventLoop) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be >= 1, got {maxlen}")
        self.topic: Topic = topic
        self.maxlen = maxlen
        self.loop = loop
        self.dropped = 0
        self.closed = False
        self._items: deque[Event] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._wakeup: asyncio.Future[None] | None = None  # set while the reader awaits

    def _offer(self, events: Sequence[Event]) -> bool:
        """Enqueue (dropping the oldest on overflow); True when the reader is waiting and must be woken."""
        with self._lock:
            overflow = len(self._items) + len(events) - self.maxlen
            if overflow > 0:
                self.dropped += overflow
            self._items.extend(events)
            return self._wakeup is not None

    def _wake(self) -> None:
        """Resolve the pending wait (runs on the subscriber's loop)."""
        waiter = self._wakeup
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _take(self, max_items: int) -> list[Event]:
        with self._lock:
            n = min(max_items, len(self._items))
            batch = [self._items.popleft() for _ in range(n)]
            if not batch:
                self._wakeup = self.loop.create_future()
        return batch

    async def next_batch(self, *, max_items: int = 512, timeout: float | None = None) -> list[Event]:
        """Up to ``max_items`` queued events, oldest first; waits for at least one.

        Returns ``[]`` when ``timeout`` seconds pass without an event (callers send heartbeats then), or once
        the subscription is closed and everything queued before the close has been read.
        """
        while True:
            batch = self._take(max_items)
            if batch or self.closed:
                return batch
            waiter = self._wakeup
            assert waiter is not None
            try:
                await asyncio.wait_for(waiter, timeout)
            except TimeoutError:
                return []
            finally:
                with self._lock:
                    self._wakeup = None

    def pending(self) -> int:
        """Events queued and not yet read."""
        return len(self._items)

    def close(self) -> None:
        """End the subscription: the reader still gets what is queued, then ``next_batch`` returns ``[]``."""
        with self._lock:
            self.closed = True
            waiting = self._wakeup is not None
        if waiting and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._wake)


class TelemetryBus:
    """Thread-safe in-process pub/sub. :meth:`publish` may be called from any thread and never blocks."""

    def __init__(self, *, maxlen: int = DEFAULT_MAXLEN) -> None:
        self.maxlen = maxlen
        self._subs: dict[Topic, tuple[Subscription, ...]] = {topic: () for topic in TOPICS}
        self._seq: dict[Topic, itertools.count[int]] = {topic: itertools.count() for topic in TOPICS}
        self._published: dict[Topic, int] = dict.fromkeys(TOPICS, 0)
        self._lock = threading.Lock()  # guards subscriber lists, sequence numbers and counters
        self._cue_ids = itertools.count(1)
        self.closed = False

    def subscribe(
        self, topic: Topic, *, maxlen: int | None = None, loop: asyncio.AbstractEventLoop | None = None
    ) -> Subscription:
        """A new subscription receiving events published from now on (call from a running loop or pass one)."""
        if topic not in TOPICS:
            raise ValueError(f"unknown topic {topic!r}; expected one of {', '.join(TOPICS)}")
        sub = Subscription(
            topic, self.maxlen if maxlen is None else maxlen, loop or asyncio.get_running_loop()
        )
        with self._lock:
            if self.closed:
                sub.closed = True
            else:
                self._subs[topic] = (*self._subs[topic], sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs[sub.topic] = tuple(s for s in self._subs[sub.topic] if s is not sub)
        sub.close()

    def close(self) -> None:
        """Shut the bus down: every subscription ends after its queued events; new ones end at once."""
        with self._lock:
            self.closed = True
            subs = [sub for topic in TOPICS for sub in self._subs[topic]]
            self._subs = {topic: () for topic in TOPICS}
        for sub in subs:
            sub.close()

    def publish(self, topic: Topic, payload: dict[str, Any], *, key: str | None = None) -> Event:
        """Publish one JSON-serialisable message (filter ``key``: see :class:`Event`); returns the event."""
        data = json.dumps(payload, separators=(",", ":")).encode()
        return self.publish_encoded(topic, [data], keys=[key])[0]

    def publish_cue(self, session_id: str, text: str, *, emotion: str = "neutral", **fields: Any) -> Event:
        """Publish a coaching cue for ``session_id`` in the original clients' shape ``{"id", "session_id",
        "text", "emotion", "timestamp" (Unix s), "utc", **fields}``; ``id`` counts cues from 1 per bus."""
        now = datetime.now(UTC)
        with self._lock:
            cue_id = next(self._cue_ids)
        cue = {
            "id": cue_id,
            "session_id": session_id,
            "text": text,
            "emotion": emotion,
            "timestamp": now.timestamp(),
            "utc": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            **fields,
        }
        return self.publish("cues", cue, key=session_id)

    def notify(self, kind: str, text: str, **fields: Any) -> Event:
        """Publish an inbox message ``{"kind", "text", "utc", **fields}`` on the notifications topic."""
        utc = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return self.publish("notifications", {"kind": kind, "text": text, "utc": utc, **fields})

    def publish_frames(self, wide: pl.DataFrame) -> list[Event]:
        """Publish wide telemetry rows as telemetry events (see :func:`encode_frames` for the shape)."""
        return self.publish_encoded("telemetry", encode_frames(wide))

    def publish_encoded(
        self, topic: Topic, payloads: Sequence[bytes], *, keys: Sequence[str | None] | None = None
    ) -> list[Event]:
        """Publish already-encoded JSON payloads in order, waking each waiting subscriber loop once.

        ``keys``: each payload's filter key; by default the session id heading a telemetry payload (as
        :func:`encode_frames` writes it), else ``None``."""
        if not payloads:
            return []
        if keys is None:
            keys = [_key_of(data) for data in payloads] if topic == "telemetry" else [None] * len(payloads)
        now = time.monotonic_ns()
        name = EVENT_NAMES[topic]
        with self._lock:
            seq = self._seq[topic]
            events = []
            for data, key in zip(payloads, keys, strict=True):
                n = next(seq)
                sse = b"id: %d\nevent: %s\ndata: %s\n\n" % (n, name, data)
                events.append(Event(topic, n, data, now, sse, key))
            self._published[topic] += len(events)
            subs = self._subs[topic]
        to_wake: dict[asyncio.AbstractEventLoop, list[Subscription]] = {}
        for sub in subs:
            if sub._offer(events):
                to_wake.setdefault(sub.loop, []).append(sub)
        for loop, waiting in to_wake.items():
            try:
                loop.call_soon_threadsafe(_wake_all, waiting)
            except RuntimeError:  # the subscriber's loop is closed: it can never read again
                for sub in waiting:
                    self.unsubscribe(sub)
        return events

    def subscriber_count(self, topic: Topic) -> int:
        return len(self._subs[topic])

    def stats(self) -> dict[str, dict[str, int]]:
        """Per topic: events published, current subscribers and events dropped across live subscribers."""
        with self._lock:
            return {
                topic: {
                    "published": self._published[topic],
                    "subscribers": len(self._subs[topic]),
                    "dropped": sum(s.dropped for s in self._subs[topic]),
                }
                for topic in TOPICS
            }


def _wake_all(subs: list[Subscription]) -> None:
    for sub in subs:
        sub._wake()
