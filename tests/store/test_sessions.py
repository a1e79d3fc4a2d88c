"""Session rows: create, read, end, update, delete, list with derived lap fields (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from pitwall.store import SessionExists, SessionRow, Store, UnknownSession, session_frame

from .frames import T0, laps, session_import, session_row, telemetry


def test_create_and_get_round_trips_every_field(store: Store) -> None:
    row = session_row(
        note="wet", vbo_source="run04.vbo", content_hash="ab" * 32, duration_s=416.0, distance_m=1.5
    )
    store.create_session(row)
    assert store.get_session("ra-fp1") == row


def test_duplicate_id_raises_session_exists_and_keeps_the_first(store: Store) -> None:
    store.create_session(session_row(driver="First"))
    with pytest.raises(SessionExists):
        store.create_session(session_row(driver="Second"))
    with pytest.raises(SessionExists):
        store.import_session(session_import())
    assert store.get_session("ra-fp1").driver == "First"
    assert store.count_telemetry("ra-fp1") == 0


def test_unknown_session(store: Store) -> None:
    with pytest.raises(UnknownSession):
        store.get_session("nope")
    with pytest.raises(UnknownSession):
        store.end_session("nope")
    with pytest.raises(UnknownSession):
        store.update_session("nope", note="x")
    with pytest.raises(UnknownSession):
        store.delete_session("nope")
    with pytest.raises(UnknownSession):
        store.append_telemetry("nope", telemetry(2))


def test_end_session_is_idempotent(store: Store) -> None:
    store.create_session(session_row())
    first = T0 + timedelta(minutes=20)
    assert store.end_session("ra-fp1", at=first).ended_at == first
    assert store.end_session("ra-fp1", at=first + timedelta(hours=1)).ended_at == first
    assert store.end_session("ra-fp1").ended_at == first


def test_end_session_defaults_to_now_and_naive_times_are_utc(store: Store) -> None:
    store.create_session(session_row("a", started_at=datetime(2025, 8, 1, 14, 0)))
    assert store.get_session("a").started_at == datetime(2025, 8, 1, 14, 0, tzinfo=UTC)
    before = datetime.now(UTC)
    ended = store.end_session("a").ended_at
    assert ended is not None and before - timedelta(seconds=1) <= ended <= datetime.now(UTC)


def test_update_session(store: Store) -> None:
    store.create_session(session_row())
    store.update_session("ra-fp1", track="Sonoma Raceway", track_id="sonoma", n_frames=10, meta={"gates": 2})
    row = store.get_session("ra-fp1")
    assert (row.track, row.track_id, row.n_frames, row.meta) == ("Sonoma Raceway", "sonoma", 10, {"gates": 2})
    with pytest.raises(ValueError, match="unknown columns"):
        store.update_session("ra-fp1", colour="red")
    with pytest.raises(ValueError, match="canonical dtypes"):
        store.update_session("ra-fp1", n_frames="many")
    assert store.get_session("ra-fp1").n_frames == 10


def test_find_session_by_hash(store: Store) -> None:
    store.create_session(session_row("a", content_hash="f00d"))
    assert store.find_session_by_hash("f00d") == "a"
    assert store.find_session_by_hash("beef") is None
    assert store.find_session_by_hash("") is None


def test_delete_session_removes_every_row(store: Store) -> None:
    store.import_session(session_import("a"))
    store.import_session(session_import("b"))
    store.replace_laps("a", laps("a", {1: 130.0}))
    store.add_coaching_note("a", "brake later", "rule", {"corner": "5"})
    store.delete_session("a")
    with pytest.raises(UnknownSession):
        store.get_session("a")
    assert store.count_telemetry("a") == 0
    assert store.read_signals("a").is_empty()
    assert store.get_capabilities("a").is_empty()
    assert store.list_laps(session_id="a").is_empty()
    assert store.list_coaching_notes("a").is_empty()
    assert store.count_telemetry("b") == telemetry().height


def test_list_sessions_newest_first_with_derived_lap_fields(store: Store) -> None:
    for i, sid in enumerate(["old", "mid", "new"]):
        store.create_session(session_row(sid, started_at=T0 + timedelta(days=i)))
    store.replace_laps("mid", laps("mid", {1: 131.0, 2: 128.5, 3: 129.0}))
    store.replace_laps("new", laps("new", {4: 127.0}, valid=False))
    store.append_telemetry("new", pl.DataFrame({"t_s": [0.0, 400.0]}))  # manual laps backed by telemetry
    store.add_lap("new", {"lap": 0, "duration_s": 190.0, "kind": "out"})
    store.add_lap("new", {"lap": 5, "duration_s": 80.0, "kind": "incomplete"})
    store.end_session("old")

    listed = store.list_sessions()
    assert listed["session_id"].to_list() == ["new", "mid", "old"]
    assert listed.schema["lap_count"] == pl.Int64 and listed.schema["started_at"] == pl.Datetime("us", "UTC")
    derived = dict(
        zip(listed["session_id"], zip(listed["lap_count"], listed["best_lap_s"], strict=True), strict=True)
    )
    # new: the invalid flying lap and the incomplete lap do not count; the valid out lap does but is no flying lap
    assert derived == {"new": (1, None), "mid": (3, 128.5), "old": (0, None)}

    assert store.list_sessions(limit=2)["session_id"].to_list() == ["new", "mid"]
    assert store.list_sessions(active_only=True)["session_id"].to_list() == ["new", "mid"]


def test_session_frame_of_many_rows_is_the_rows_one_by_one() -> None:
    """The lake builds sessions.parquet from every session in one call: the same rows as one call each."""
    rows = [
        SessionRow("a", datetime(2025, 1, 1, 9, tzinfo=UTC), driver="Kim", duration_s=60, meta={"k": [1, 2]}),
        SessionRow("b", datetime(2025, 1, 2, 9, tzinfo=UTC), duration_s=61.5, n_frames=3, ended_at=None),
    ]
    both = session_frame(*rows)
    assert both.to_dicts() == pl.concat([session_frame(row) for row in rows]).to_dicts()
    assert both["meta"].to_list() == ['{"k": [1, 2]}', "{}"] and both["duration_s"].to_list() == [60.0, 61.5]
    assert session_frame().is_empty() and session_frame().columns == both.columns
    with pytest.raises(ValueError, match="session"):
        session_frame(SessionRow("c", datetime(2025, 1, 3, tzinfo=UTC), n_frames="many"))  # type: ignore[arg-type]
