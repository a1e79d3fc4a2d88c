"""Ask the coach: ``POST /coach/ask``, ``/coach/ask/stream``, ``/coach/ask/end``; ``GET /coach/agents``,
``/coach/traces``, ``/conversations/<session_id>``, ``/conversations/driver/<driver_id>``.

A question is routed to an intent (:mod:`pitwall.coach.ask`; the optional ``intent`` bypasses the router) and
answered from the session's pipelines — the lap-time table, the corner passes and the rule coach's review, as
``/lap_time_table`` and ``/coach/debrief`` compute them — then, when a language model is configured, rephrased
under the no-invented-number rule (:mod:`pitwall.coach.llm`). Works fully offline. Each step (route, tools,
phrasing) is written to ``agent_traces``; the multi-turn history is kept in memory per ``driver_id:session_id``
(``qa_key``) until ``/coach/ask/end`` flushes it to ``conversations``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import anyio.to_thread
import msgspec
import polars as pl
from litestar import Router, get, post
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from pitwall.analysis.sectors import lap_time_table
from pitwall.api.coach import FindingOut, concepts_of, session_coaching
from pitwall.api.deps import settings_of, store_of
from pitwall.api.errors import ApiError
from pitwall.api.phrasing import phrase_logged
from pitwall.api.schemas import iso_utc
from pitwall.coach import ask as asking
from pitwall.coach.findings import Finding
from pitwall.store._tables import CONVERSATIONS
from pitwall.store.base import Store, StoreError

TRACE_LIMIT_DEFAULT: Final = 200
TRACE_LIMIT_MAX: Final = 1000
STREAM_CHUNK_WORDS: Final = 3
"""Words per ``delta`` event of ``/coach/ask/stream``."""

IntentName = Literal[
    "lap_comparison", "corner_advice", "braking", "consistency", "best_lap", "sectors", "general"
]


class AskRequest(msgspec.Struct):
    """A driver's question. Without ``session_id`` the driver's newest session is used."""

    question: Annotated[str, msgspec.Meta(max_length=2000)]
    driver_id: Annotated[str, msgspec.Meta(max_length=200)] = ""
    session_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    intent: IntentName | None = None


class AskResponse(msgspec.Struct):
    """``answer`` (what to say), ``emotion``, ``qa_key`` (``driver_id:session_id``), ``turn`` (1 for the
    first question of that conversation), the routed ``intent`` (``routed_by``: router | request), who wrote the
    words (``coach_source``: rule | llm; ``fallback_reason`` when a configured model was not used) and the
    ``findings`` every number of the answer comes from."""

    answer: str
    emotion: str
    qa_key: str
    turn: int
    session_id: str
    intent: str
    routed_by: str
    coach_source: str
    fallback_reason: str | None
    findings: list[FindingOut]


class AskEndRequest(msgspec.Struct):
    driver_id: Annotated[str, msgspec.Meta(max_length=200)] = ""
    session_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    qa_key: Annotated[str, msgspec.Meta(min_length=1, max_length=401)] | None = None


class AskEnded(msgspec.Struct):
    qa_key: str
    flushed: int


class Agent(msgspec.Struct):
    name: str
    role: str
    example_questions: list[str]


class LlmInfo(msgspec.Struct):
    configured: bool
    model: str | None


class AgentsResponse(msgspec.Struct):
    """Always 200: ``available`` is true (the router's intents are the agents and need nothing external);
    ``llm`` says whether a language model phrases their answers."""

    available: bool
    reason: str | None
    agents: list[Agent]
    llm: LlmInfo


class Trace(msgspec.Struct):
    id: int
    session_id: str | None
    created_at: str
    ts: float
    agent: str | None
    event: str | None
    latency_ms: float | None
    payload: dict[str, Any]


class TracesResponse(msgspec.Struct):
    """Always 200; ``available`` false (with the reason) when there is no database."""

    available: bool
    reason: str | None
    traces: list[Trace]
    count: int


class Turn(msgspec.Struct):
    session_id: str | None
    driver_id: str | None
    qa_key: str | None
    turn: int | None
    role: str
    text: str
    emotion: str | None
    recorded_at: str


class History(msgspec.Struct):
    history: list[Turn]
    count: int


# -------------------------------------------------------------------------------------------------------
# In-memory conversations (flushed by /coach/ask/end)
# -------------------------------------------------------------------------------------------------------


class Conversations:
    """Q&A turns per ``qa_key`` until flushed; thread-safe (handlers run in worker threads)."""

    def __init__(self) -> None:
        self._turns: dict[str, list[dict[str, Any]]] = {}
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(
        self, qa_key: str, session_id: str, driver_id: str, question: str, answer: str, emotion: str
    ) -> int:
        """Record one question and its answer; returns the turn number (1-based, per ``qa_key``)."""
        now = datetime.now(UTC)
        with self._lock:
            turn = self._counts.get(qa_key, 0) + 1
            self._counts[qa_key] = turn
            base = {"session_id": session_id, "driver_id": driver_id, "qa_key": qa_key, "turn": turn}
            self._turns.setdefault(qa_key, []).extend(
                [
                    {**base, "role": "driver", "text": question, "emotion": None, "created_at": now},
                    {**base, "role": "coach", "text": answer, "emotion": emotion, "created_at": now},
                ]
            )
        return turn

    def take(self, qa_key: str) -> list[dict[str, Any]]:
        """Remove and return the key's unflushed turns (the turn counter goes on)."""
        with self._lock:
            return self._turns.pop(qa_key, [])

    def clear(self) -> int:
        with self._lock:
            n = sum(len(v) for v in self._turns.values())
            self._turns.clear()
            self._counts.clear()
        return n


def conversations_of(state: State) -> Conversations:
    """The app's conversation buffer (created on first use; emptied by ``POST /session/reset``)."""
    conversations = state.get("conversations")
    if conversations is None:
        conversations = Conversations()
        state.conversations = conversations
        state.caches["conversations"] = conversations.clear
    return conversations


# -------------------------------------------------------------------------------------------------------
# Answering
# -------------------------------------------------------------------------------------------------------


def _trace(
    store: Store, session_id: str | None, agent: str, event: str, latency_ms: float | None, **payload: Any
) -> None:
    with contextlib.suppress(StoreError, ValueError):  # a read-only store (a lake) keeps no traces
        store.add_agent_trace(
            {
                "session_id": session_id,
                "agent": agent,
                "event": event,
                "latency_ms": latency_ms,
                "payload": payload,
            }
        )


def _session_for(store: Store, data: AskRequest) -> str:
    if data.session_id is not None:
        store.get_session(data.session_id)  # unknown → 404
        return data.session_id
    sessions = store.list_sessions(limit=1000)
    if data.driver_id:
        sessions = sessions.filter(pl.col("driver") == data.driver_id)
    if sessions.height == 0:
        raise ApiError(404, "no session", f"driver {data.driver_id!r} has no session to ask about")
    return str(sessions["session_id"][0])


def _inputs(state: State, session_id: str) -> asking.AskInputs:
    coaching = session_coaching(state, session_id)
    view = coaching.view
    table = lap_time_table(view.telemetry, view.laps.lazy(), view.track).collect()
    names = {c.number: c.name for c in view.track.corners}
    return asking.AskInputs(table, coaching.view.passes, coaching.review, names)


@dataclass(frozen=True)
class _Answered:
    response: AskResponse
    findings: Sequence[Finding]


def _answer(state: State, data: AskRequest) -> _Answered:
    question = data.question.strip()
    if not question:
        raise ApiError(400, "empty question", "ask a question (the text was empty or only whitespace)")
    store = store_of(state)
    session_id = _session_for(store, data)
    routed = asking.route(question, intent=data.intent)
    _trace(
        store,
        session_id,
        "router",
        "route",
        None,
        question=question,
        intent=routed.name,
        routed_by=routed.routed_by,
        laps=list(routed.laps),
        corner=routed.corner,
    )
    started = time.perf_counter()
    inputs = _inputs(state, session_id)
    concepts = concepts_of(state)
    answer = asking.answer(question, inputs, intent=data.intent, concepts=concepts)
    _trace(
        store,
        session_id,
        routed.name,
        "tools",
        (time.perf_counter() - started) * 1000,
        tools=["lap_time_table", "corner_passes", "session_review"],
        findings=[f.kind for f in answer.findings],
    )
    phrased = phrase_logged(
        state, answer.findings, answer.text, role="ask", session_id=session_id, question=question
    )
    _trace(
        store,
        session_id,
        "llm" if settings_of(state).llm.enabled else "template",
        "phrase",
        phrased.latency_ms,
        source=phrased.source,
        fallback_reason=phrased.fallback_reason,
    )
    qa_key = f"{data.driver_id}:{session_id}"
    turn = conversations_of(state).add(
        qa_key, session_id, data.driver_id, question, phrased.text, answer.emotion
    )
    response = AskResponse(
        answer=phrased.text,
        emotion=answer.emotion,
        qa_key=qa_key,
        turn=turn,
        session_id=session_id,
        intent=routed.name,
        routed_by=routed.routed_by,
        coach_source=phrased.source,
        fallback_reason=phrased.fallback_reason,
        findings=[
            msgspec.convert({**f.to_dict(), "text": asking.finding_text(f, concepts)}, FindingOut)
            for f in answer.findings
        ],
    )
    return _Answered(response, answer.findings)


# -------------------------------------------------------------------------------------------------------
# Routes
# -------------------------------------------------------------------------------------------------------


@post("/coach/ask", operation_id="coach_ask", status_code=200, sync_to_thread=True)
def coach_ask(state: State, data: AskRequest) -> AskResponse:
    """Answer a driver's question from the session's numbers (see the module doc). Lap comparisons state lap
    and sector times equal to ``/session/<sid>/lap_time_table`` to 0.01 s. 400 empty question or no complete lap,
    404 unknown session (or a driver without sessions), 503 no database."""
    return _answer(state, data).response


async def _deltas(response: AskResponse) -> AsyncIterator[ServerSentEventMessage]:
    words = response.answer.split(" ")
    for k in range(0, len(words), STREAM_CHUNK_WORDS):
        chunk = " ".join(words[k : k + STREAM_CHUNK_WORDS]) + (
            " " if k + STREAM_CHUNK_WORDS < len(words) else ""
        )
        yield ServerSentEventMessage(data=msgspec.json.encode({"delta": chunk}).decode())
    done = {"done": True, **msgspec.to_builtins(response)}
    yield ServerSentEventMessage(data=msgspec.json.encode(done).decode())


@post("/coach/ask/stream", operation_id="coach_ask_stream", status_code=200)
async def coach_ask_stream(state: State, data: AskRequest) -> ServerSentEvent:
    """:func:`coach_ask` as SSE: ``data: {"delta": "…"}`` lines, then ``data: {"done": true, "answer": …,
    "emotion": …}`` with every key of the ``/coach/ask`` answer. The answer is checked (numbers) before the
    first delta is sent, so what streams is what ``done`` confirms. Errors are answered before the stream opens
    (4xx with the error shape)."""
    answered = await anyio.to_thread.run_sync(_answer, state, data)
    return ServerSentEvent(_deltas(answered.response))


@post("/coach/ask/end", operation_id="coach_ask_end", status_code=200, sync_to_thread=True)
def coach_ask_end(state: State, data: AskEndRequest) -> AskEnded:
    """Flush the in-memory history of one conversation (``qa_key``, or ``driver_id`` + ``session_id``) to the
    ``conversations`` table; ``flushed`` counts the turns written (0 when there was nothing new)."""
    if data.qa_key is None and data.session_id is None:
        raise ApiError(400, "invalid request", "give qa_key, or driver_id and session_id")
    qa_key = data.qa_key or f"{data.driver_id}:{data.session_id}"
    store = store_of(state)
    turns = conversations_of(state).take(qa_key)
    if turns:
        store.add_conversation_turns(pl.DataFrame(turns, schema=CONVERSATIONS))
    return AskEnded(qa_key=qa_key, flushed=len(turns))


@get("/coach/agents", operation_id="coach_agents", sync_to_thread=False)
def coach_agents(state: State) -> AgentsResponse:
    """The coach's agents: one per intent of the router, with its role and example questions."""
    config = settings_of(state).llm
    agents = [
        Agent(name=name, role=asking.ROLES[name], example_questions=list(asking.EXAMPLES[name]))
        for name in asking.INTENTS
    ]
    return AgentsResponse(
        available=True,
        reason=None,
        agents=agents,
        llm=LlmInfo(configured=config.enabled, model=config.model if config.enabled else None),
    )


@get("/coach/traces", operation_id="coach_traces", sync_to_thread=True)
def coach_traces(
    state: State,
    session_id: Annotated[str | None, Parameter(min_length=1, max_length=200)] = None,
    limit: Annotated[
        int, Parameter(ge=1, le=TRACE_LIMIT_MAX, description="rows, newest first")
    ] = TRACE_LIMIT_DEFAULT,
    since_ts: Annotated[
        float | None, Parameter(ge=0, le=1e11, description="only rows after this Unix time (s), for polling")
    ] = None,
) -> TracesResponse:
    """What the router, the tools and the phrasing did, newest first (``limit`` default 200, at most 1000;
    ``since_ts`` for incremental polling). Always 200: ``available`` false without a database."""
    store = state.get("store")
    if store is None:
        return TracesResponse(
            available=False, reason=f"no database: {state.get('store_error')}", traces=[], count=0
        )
    since = None if since_ts is None else datetime.fromtimestamp(since_ts, UTC)
    frame = store.list_agent_traces(session_id=session_id, since=since, limit=limit)
    traces = [
        Trace(
            id=row["id"],
            session_id=row["session_id"],
            created_at=iso_utc(row["created_at"]),
            ts=row["created_at"].timestamp(),
            agent=row["agent"],
            event=row["event"],
            latency_ms=row["latency_ms"],
            payload=msgspec.json.decode(row["payload"] or "{}"),
        )
        for row in frame.iter_rows(named=True)
    ]
    return TracesResponse(available=True, reason=None, traces=traces, count=len(traces))


def _history(frame: pl.DataFrame) -> History:
    turns = [
        Turn(
            session_id=row["session_id"],
            driver_id=row["driver_id"],
            qa_key=row["qa_key"],
            turn=row["turn"],
            role=row["role"],
            text=row["text"],
            emotion=row["emotion"],
            recorded_at=iso_utc(row["created_at"]),
        )
        for row in frame.iter_rows(named=True)
    ]
    return History(history=turns, count=len(turns))


HistoryLimit = Annotated[int, Parameter(ge=1, le=1000, description="newest turns, returned oldest first")]


@get("/conversations/{session_id:str}", operation_id="session_conversations", sync_to_thread=True)
def session_conversations(state: State, session_id: str, limit: HistoryLimit = 200) -> History:
    """The flushed Q&A history of a session (``history[]``: ``session_id``, ``role``, ``text``,
    ``recorded_at``…), oldest first. 404 unknown session."""
    store = store_of(state)
    store.get_session(session_id)
    return _history(store.list_conversations(session_id=session_id, limit=limit))


@get("/conversations/driver/{driver_id:str}", operation_id="driver_conversations", sync_to_thread=True)
def driver_conversations(state: State, driver_id: str, limit: HistoryLimit = 50) -> History:
    """A driver's flushed Q&A history across sessions, oldest first (empty when there is none)."""
    return _history(store_of(state).list_conversations(driver_id=driver_id, limit=limit))


router = Router(
    "/",
    route_handlers=[
        coach_ask,
        coach_ask_stream,
        coach_ask_end,
        coach_agents,
        coach_traces,
        session_conversations,
        driver_conversations,
    ],
    tags=["coach"],
)
