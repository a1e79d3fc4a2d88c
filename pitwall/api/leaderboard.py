"""``GET /leaderboard``, ``GET /laps`` and ``POST /lap``: lap rows across sessions."""

from __future__ import annotations

from typing import Annotated, Any, Final

from litestar import Router, get, post
from litestar.datastructures import State
from litestar.params import Parameter

from pitwall.api.deps import store_of
from pitwall.api.errors import ApiError
from pitwall.api.schemas import LapIn, Leaderboard, LeaderboardEntry, Rows, json_rows, json_value

LEADERBOARD_CAP: Final = 500
"""``/leaderboard`` answers at most this many entries (larger ``limit`` values are capped)."""

LAP_KINDS: Final = ("out", "flying", "in", "incomplete")


def lap_time_text(seconds: float) -> str:
    """``m:ss.mmm`` rounded to the millisecond (105.318 → ``1:45.318``)."""
    millis = round(seconds * 1000)
    minutes, millis = divmod(millis, 60_000)
    return f"{minutes}:{millis // 1000:02d}.{millis % 1000:03d}"


def initials(driver: str) -> str:
    """Upper-case initials: first letters of the first and last word (``Taha Bakir`` → ``TB``), the first two
    letters of a single word (``Taha`` → ``TA``), empty for an unnamed driver."""
    words = [w for w in driver.replace("-", " ").replace(".", " ").split() if w[0].isalnum()]
    if not words:
        return ""
    if len(words) == 1:
        return words[0][:2].upper()
    return (words[0][0] + words[-1][0]).upper()


@get("/leaderboard", operation_id="leaderboard", sync_to_thread=True)
def leaderboard(
    state: State,
    track: Annotated[str | None, Parameter(description="track display name, e.g. Sonoma Raceway")] = None,
    limit: Annotated[int, Parameter(ge=1, description="entries; values above 500 are capped at 500")] = 50,
) -> Leaderboard:
    """Best valid lap per (driver, car, track) across all sessions, fastest first; ``time`` is ``m:ss.mmm``.
    No fake rows: ``{"entries": [], "count": 0}`` when nothing was recorded. 503 when no database."""
    board = store_of(state).leaderboard(track=track or None, limit=min(limit, LEADERBOARD_CAP))
    entries = [
        LeaderboardEntry(
            rank=row["rank"],
            initials=initials(row["driver"] or ""),
            driver=row["driver"] or "",
            car=row["car"] or "",
            track=row["track"] or "",
            time=lap_time_text(row["best_lap_s"]),
            lap_time_s=row["best_lap_s"],
            session_id=row["session_id"],
            lap=row["lap"],
            clock_repairs=row["clock_repairs"],
        )
        for row in board.iter_rows(named=True)
    ]
    return Leaderboard(entries=entries, count=len(entries))


@get("/laps", operation_id="list_laps", sync_to_thread=True)
def list_laps(
    state: State,
    session_id: Annotated[str | None, Parameter(description="only laps of this session")] = None,
    limit: Annotated[int, Parameter(ge=1, le=1000, description="rows, 1..1000")] = 20,
) -> Rows:
    """Lap rows (``schema.LAPS`` columns), of one session or all; 404 when ``session_id`` is unknown."""
    store = store_of(state)
    if session_id is not None:
        store.get_session(session_id)
    rows = json_rows(store.list_laps(session_id=session_id, limit=limit))
    return Rows(rows=rows, count=len(rows))


@post("/lap", status_code=200, operation_id="add_lap", sync_to_thread=True)
def add_lap(state: State, data: LapIn) -> dict[str, Any]:
    """Write one manual lap (method ``manual``); returns it as stored. Times in seconds since session start;
    ``duration_s`` defaults to ``t_end_s - t_start_s``, ``lap`` (or the original's ``lap_number``) to the session's next lap number. 400 for an empty or negative lap or an unknown
    ``kind``, 404 unknown session; the answer also carries ``lap_number`` (= ``lap``). A lap the session's
    telemetry does not cover is stored with ``valid`` false and its ``reason`` (never on the leaderboard)."""
    if data.t_end_s <= data.t_start_s:
        raise ApiError(400, "invalid lap", "t_end_s must be after t_start_s")
    duration = data.duration_s if data.duration_s is not None else data.t_end_s - data.t_start_s
    if data.lap is not None and data.lap_number is not None and data.lap != data.lap_number:
        raise ApiError(400, "invalid lap", "lap and lap_number (its original name) disagree")
    number = data.lap if data.lap is not None else data.lap_number
    if duration <= 0 or (number is not None and number < 0):
        raise ApiError(400, "invalid lap", "lap must be >= 0 and duration_s > 0")
    if data.kind not in LAP_KINDS:
        raise ApiError(400, "invalid lap", f"kind must be one of {list(LAP_KINDS)}")
    store = store_of(state)
    store.get_session(data.session_id)
    lap = {
        "lap": number,
        "t_start_s": data.t_start_s,
        "t_end_s": data.t_end_s,
        "duration_s": duration,
        "distance_m": data.distance_m,
        "kind": data.kind,
        "valid": data.valid,
        "reason": data.reason,
    }
    stored = {key: json_value(value) for key, value in store.add_lap(data.session_id, lap).items()}
    return {**stored, "lap_number": stored.get("lap")}


router = Router("/", route_handlers=[leaderboard, list_laps, add_lap], tags=["leaderboard"])
