"""A small blocking SSE client for tests: reads a real ``text/event-stream`` over HTTP on a background thread."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class SseEvent:
    id: str | None
    event: str | None
    data: Any  # parsed JSON
    received: float  # time.time() when the event's blank line arrived


@dataclass
class SseClient:
    """``GET url`` as an event stream; events and comments accumulate while the test runs.

    The reader stops when the server ends the stream or the connection drops (``ended`` is set), or at the
    next line after :meth:`close` (servers under test send heartbeats, so that comes quickly).
    """

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    events: list[SseEvent] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    status_code: int | None = None
    body: str = ""
    error: BaseException | None = None
    hello: SseEvent | None = None  # the stream's opening ``event: hello`` (kept apart from ``events``)

    def __post_init__(self) -> None:
        self.connected = threading.Event()  # the first comment (": connected <topic>") arrived
        self.ended = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(10.0, read=60.0), trust_env=False) as client,
                client.stream("GET", self.url, headers=self.headers) as response,
            ):
                self.status_code = response.status_code
                if response.status_code != 200:
                    self.body = response.read().decode()
                    return
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith(":"):
                        self.comments.append(line[1:].strip())
                        self.connected.set()
                    elif line == "":
                        if "data" in fields:
                            data = json.loads(fields["data"])
                            event = SseEvent(fields.get("id"), fields.get("event"), data, time.time())
                            if event.event == "hello":
                                self.hello = event
                            else:
                                self.events.append(event)
                        fields = {}
                    else:
                        name, _, value = line.partition(":")
                        fields[name] = value[1:] if value.startswith(" ") else value
        except (httpx.HTTPError, OSError) as exc:
            self.error = exc
        finally:
            self.connected.set()
            self.ended.set()

    def wait_connected(self, timeout: float = 10.0) -> None:
        assert self.connected.wait(timeout), f"no response from {self.url}"
        assert self.status_code == 200, (self.status_code, self.body)

    def wait_for(self, n: int, timeout: float = 10.0) -> list[SseEvent]:
        """Block until ``n`` data events (any type) have arrived; returns all events so far."""
        deadline = time.monotonic() + timeout
        while len(self.events) < n and time.monotonic() < deadline and not self.ended.is_set():
            time.sleep(0.01)
        assert len(self.events) >= n, f"{len(self.events)} of {n} events from {self.url} ({self.error})"
        return list(self.events)

    def data(self, event: str | None = None) -> list[Any]:
        """Payloads of the events of one type (``telemetry``, ``cue``, ``notification``, ``dropped``…)."""
        return [e.data for e in self.events if e.event == event]

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
