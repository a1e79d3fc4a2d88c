"""Small literal frames and session rows for the storage tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from pitwall import schema
from pitwall.store import SessionImport, SessionRow

T0 = datetime(2025, 8, 1, 14, 30, 0, 250_000, tzinfo=UTC)


def session_row(session_id: str = "ra-fp1", **fields: Any) -> SessionRow:
    values: dict[str, Any] = {
        "started_at": T0,
        "driver": "Taha",
        "driver_level": "intermediate",
        "track": "Road America",
        "track_id": "road_america",
        "car": "BMW M3 (E46)",
        "source": "vbo",
        "meta": {"device": "VBOX HD2", "rate_hz": 10},
    }
    return SessionRow(session_id=session_id, **{**values, **fields})


def telemetry(n: int = 12, *, hz: float = 10.0) -> pl.DataFrame:
    """Every canonical column, canonical dtypes, a few nulls; ``session_id``/``frame_idx`` left for the store."""
    t = [i / hz for i in range(n)]
    frame = pl.DataFrame(
        {
            "t_s": t,
            "utc": [T0 + timedelta(seconds=x) for x in t],
            "lat_deg": [43.797_850 + 1e-5 * i for i in range(n)],
            "lon_deg": [-87.989_500 - 2e-5 * i for i in range(n)],
            "alt_m": [260.0 + 0.1 * i for i in range(n)],
            "speed_kph": [120.0 + 1.5 * i for i in range(n)],
            "heading_deg": [359.5 if i % 2 else 0.25 for i in range(n)],
            "sats": [12 + i % 3 for i in range(n)],
            "g_lat": [0.1 * ((-1) ** i) * i for i in range(n)],
            "g_long": [-0.05 * i for i in range(n)],
            "g_vert": [None] * n,
            "yaw_rate_dps": [2.0 * i for i in range(n)],
            "throttle_pct": [100.0 if i < n // 2 else 0.0 for i in range(n)],
            "brake_bar": [0.0 if i < n // 2 else 40.0 + i for i in range(n)],
            "brake_pct": [None] * n,
            "steering_deg": [-15.0 + 3.0 * i for i in range(n)],
            "rpm": [6000.0 + 50.0 * i for i in range(n)],
            "gear": [4 if i < n // 2 else 3 for i in range(n)],
            "distance_m": [3.4 * i for i in range(n)],
            "s_m": [None if i == 0 else 1000.0 + 3.4 * i for i in range(n)],
            "lap": [2] * n,
            "video_file_idx": [1] * n,
            "video_t_ms": [40 * i for i in range(n)],
        }
    )
    return schema.conform(frame, schema.TELEMETRY).drop("session_id", "frame_idx")


def stored_telemetry(session_id: str, frames: pl.DataFrame, *, first_idx: int = 0) -> pl.DataFrame:
    """What the store should give back for ``frames``: ids filled in, canonical column order and dtypes."""
    return schema.conform(
        frames.with_columns(
            session_id=pl.lit(session_id),
            frame_idx=pl.int_range(first_idx, first_idx + pl.len(), dtype=pl.Int64),
        ),
        schema.TELEMETRY,
    )


def signals() -> pl.DataFrame:
    """Two tall channels: oil temperature at 2 Hz (useful) and a 0.5 Hz ambient reading (too slow)."""
    oil = [("oil_temp_c", i / 2, 95.0 + i) for i in range(6)]
    ambient = [("obd_ambient_air_temp_c", 2.0 * i, 21.0 + 0.5 * i) for i in range(2)]
    return pl.DataFrame(oil + ambient, schema=["signal_name", "t_s", "value"], orient="row")


def registry() -> pl.DataFrame:
    return schema.conform(
        pl.DataFrame(
            {"signal_name": ["oil_temp_c"], "unit": ["degC"], "source": ["vbo"], "description": ["Oil"]}
        ),
        schema.SIGNAL_REGISTRY,
    )


def session_import(session_id: str = "ra-fp1", **fields: Any) -> SessionImport:
    return SessionImport(session_row(session_id, **fields), telemetry(), signals(), registry())


def laps(
    session_id: str, durations: dict[int, float], *, kind: str = "flying", valid: bool = True
) -> pl.DataFrame:
    rows = [
        {
            "session_id": session_id,
            "lap": lap,
            "t_start_s": 100.0 * lap,
            "t_end_s": 100.0 * lap + duration,
            "duration_s": duration,
            "distance_m": 6515.0,
            "method": "gps",
            "kind": kind,
            "valid": valid,
            "reason": None if valid else "off track",
        }
        for lap, duration in durations.items()
    ]
    return schema.conform(pl.DataFrame(rows), schema.LAPS)
