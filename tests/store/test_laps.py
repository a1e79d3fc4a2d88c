"""Laps: computed replace, manual add, listing and the leaderboard (both backends)."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from pitwall import schema
from pitwall.store import Store, UnknownSession

from .frames import T0, laps, session_row


def test_replace_laps_keeps_manual_laps(store: Store) -> None:
    store.create_session(session_row())
    store.append_telemetry("ra-fp1", pl.DataFrame({"t_s": [0.0, 700.0]}))  # the manual lap is within the data
    store.replace_laps("ra-fp1", laps("ra-fp1", {1: 131.0, 2: 129.0}))
    manual = store.add_lap("ra-fp1", {"t_start_s": 500.0, "t_end_s": 627.25})
    assert manual == {
        "session_id": "ra-fp1",
        "lap": 3,
        "t_start_s": 500.0,
        "t_end_s": 627.25,
        "duration_s": 127.25,
        "distance_m": None,
        "method": "manual",
        "kind": "flying",
        "valid": True,
        "reason": None,
        "clock_repairs": None,  # a lap the user entered: no clock to check
    }
    store.replace_laps("ra-fp1", laps("ra-fp1", {1: 130.5}))
    listed = store.list_laps(session_id="ra-fp1")
    assert listed.select("lap", "method", "duration_s").rows() == [(1, "gps", 130.5), (3, "manual", 127.25)]
    assert listed.schema == pl.Schema(
        {
            **schema.LAPS,
            "driver": pl.String(),
            "car": pl.String(),
            "track": pl.String(),
            "started_at": pl.Datetime("us", "UTC"),
        }
    )
    assert listed["driver"].unique().to_list() == ["Taha"]


def test_add_lap_validates(store: Store) -> None:
    store.create_session(session_row())
    with pytest.raises(ValueError, match="positive duration_s"):
        store.add_lap("ra-fp1", {"t_start_s": 10.0})
    with pytest.raises(ValueError, match="positive duration_s"):
        store.add_lap("ra-fp1", {"duration_s": -1.0})
    with pytest.raises(ValueError, match="unknown columns"):
        store.add_lap("ra-fp1", {"duration_s": 90.0, "sector": 1})
    with pytest.raises(UnknownSession):
        store.add_lap("nope", {"duration_s": 90.0})
    assert store.add_lap("ra-fp1", {"duration_s": 90.0})["lap"] == 1
    with pytest.raises(UnknownSession):
        store.replace_laps("nope", laps("nope", {1: 90.0}))


def test_list_laps_newest_session_first_and_limit(store: Store) -> None:
    store.create_session(session_row("old", started_at=T0))
    store.create_session(session_row("new", started_at=T0 + timedelta(days=1)))
    store.replace_laps("old", laps("old", {1: 131.0, 2: 130.0}))
    store.replace_laps("new", laps("new", {1: 129.0, 2: 128.0}))
    listed = store.list_laps(limit=3)
    assert listed.select("session_id", "lap").rows() == [("new", 1), ("new", 2), ("old", 1)]


def test_leaderboard_best_valid_flying_lap_per_driver_car_track(store: Store) -> None:
    sessions = {
        "taha-1": ("Taha", "BMW M3 (E46)", "Road America"),
        "taha-2": ("Taha", "BMW M3 (E46)", "Road America"),
        "taha-miata": ("Taha", "Mazda MX-5", "Road America"),
        "ana-1": ("Ana", "BMW M3 (E46)", "Road America"),
        "ana-sonoma": ("Ana", "BMW M3 (E46)", "Sonoma Raceway"),
    }
    for i, (sid, (driver, car, track)) in enumerate(sessions.items()):
        track_id = "sonoma" if track.startswith("Sonoma") else "road_america"
        store.create_session(
            session_row(
                sid,
                driver=driver,
                car=car,
                track=track,
                track_id=track_id,
                started_at=T0 + timedelta(hours=i),
            )
        )
    store.replace_laps("taha-1", laps("taha-1", {1: 140.0, 2: 138.2}))
    store.replace_laps("taha-2", laps("taha-2", {1: 137.9}))
    store.add_lap("taha-2", {"duration_s": 120.0, "valid": False, "reason": "cut turn 5"})
    store.add_lap("taha-2", {"duration_s": 110.0, "kind": "incomplete"})
    store.replace_laps("taha-miata", laps("taha-miata", {1: 150.0}))
    store.replace_laps("ana-1", laps("ana-1", {1: 136.5}))
    store.replace_laps("ana-sonoma", laps("ana-sonoma", {1: 101.0}))

    board = store.leaderboard()
    assert board.select("rank", "driver", "car", "track", "best_lap_s", "session_id").rows() == [
        (1, "Ana", "BMW M3 (E46)", "Sonoma Raceway", 101.0, "ana-sonoma"),
        (2, "Ana", "BMW M3 (E46)", "Road America", 136.5, "ana-1"),
        (3, "Taha", "BMW M3 (E46)", "Road America", 137.9, "taha-2"),
        (4, "Taha", "Mazda MX-5", "Road America", 150.0, "taha-miata"),
    ]
    assert board.schema["started_at"] == pl.Datetime("us", "UTC") and board.schema["rank"] == pl.Int64
    by_track = store.leaderboard(track="road america", limit=2)
    assert by_track.select("rank", "session_id").rows() == [(1, "ana-1"), (2, "taha-2")]
    assert store.leaderboard(track="SONOMA")["session_id"].to_list() == ["ana-sonoma"]
    assert store.leaderboard(track="Monza").is_empty()
