"""Chart functions on real data: what each chart embeds (fields, encodings, number of points after thinning,
extremes kept), checked on the Vega-Lite spec Altair produces, and one PNG rendered with vl-convert."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import altair as alt
import polars as pl
import pytest

from pitwall import DATA_DIR, charts
from pitwall.analysis.corners import corner_passes, corner_summary
from pitwall.analysis.delta import braking_points, delta_t, lap_traces
from pitwall.analysis.friction import add_combined_g, add_derived_g, pick_friction_points
from pitwall.analysis.maps import reference_polyline
from pitwall.analysis.pedals import PEDAL_STATES, pedal_time_by_lap
from pitwall.formats.canlog import read_can_log
from pitwall.formats.track import TrackLibrary
from pitwall.importer import import_vbo_file
from pitwall.session_view import SessionView
from pitwall.store import open_store

RUN04 = DATA_DIR / "samples" / "25IR05_RdAm_FP1_Run04_KO.vbo"
CAPTURE = DATA_DIR / "samples" / "fsae-pe3-ecu-capture.csv"


@pytest.fixture(scope="module")
def view(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionView]:
    """Road America Run04 (10,401 samples at 25 Hz, one flying lap) imported into a real DuckDB file."""
    store = open_store(tmp_path_factory.mktemp("charts") / "charts.duckdb")
    library = TrackLibrary()
    result = import_vbo_file(store, RUN04, library=library, driver="KO")
    loaded = SessionView.load(store, result.session_id, library, None)
    store.close()
    yield loaded


@pytest.fixture(scope="module")
def telemetry(view: SessionView) -> pl.DataFrame:
    return add_combined_g(add_derived_g(view.telemetry)).collect()


def values(spec: dict[str, Any], node: dict[str, Any]) -> pl.DataFrame:
    """The rows a (sub-)chart of ``spec`` embeds."""
    return pl.DataFrame(spec["datasets"][node["data"]["name"]])


def test_downsample_keeps_extremes_ends_and_order_within_budget(telemetry: pl.DataFrame) -> None:
    thin = charts.downsample_trace(telemetry, x="t_s", y=["speed_kph", "throttle_pct"], max_points=500)
    assert 400 <= thin.height <= 500 < telemetry.height
    assert thin.columns == telemetry.columns
    for column in ("speed_kph", "throttle_pct"):
        assert thin[column].min() == telemetry[column].min()
        assert thin[column].max() == telemetry[column].max()
    assert (thin["t_s"][0], thin["t_s"][-1]) == (telemetry["t_s"][0], telemetry["t_s"][-1])
    assert (thin["t_s"].diff().drop_nulls() > 0).all()  # original order, no duplicate rows
    assert thin.join(telemetry, on=telemetry.columns, how="anti", nulls_equal=True).height == 0


def test_downsample_per_group_shares_the_budget_and_keeps_each_groups_extremes(
    telemetry: pl.DataFrame,
) -> None:
    laps = telemetry.filter(pl.col("lap").is_not_null())
    thin = charts.downsample_trace(laps, x="t_s", y=["speed_kph"], by="lap", max_points=600)
    assert thin.height <= 600
    per_lap = thin.group_by("lap").agg(
        pl.len(), pl.col("speed_kph").min().alias("lo"), pl.col("speed_kph").max().alias("hi")
    )
    full = laps.group_by("lap").agg(
        pl.col("speed_kph").min().alias("lo"), pl.col("speed_kph").max().alias("hi")
    )
    assert per_lap.select("lap", "lo", "hi").sort("lap").equals(full.sort("lap"))
    assert (per_lap["len"] <= 600 // 3).all()


def test_downsample_leaves_short_traces_whole_and_refuses_a_useless_budget(telemetry: pl.DataFrame) -> None:
    head = telemetry.head(100)
    assert charts.downsample_trace(head, x="t_s", y=["speed_kph"], max_points=100).equals(head)
    with_gap = head.with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise(pl.col("t_s")).alias("t_s")
    )
    assert charts.downsample_trace(with_gap, x="t_s", y=["speed_kph"]).height == 99
    with pytest.raises(ValueError, match="too small"):
        charts.downsample_trace(telemetry, x="t_s", y=["speed_kph", "g_lat"], max_points=5)


def test_track_map_embeds_thinned_fixes_with_the_top_speed_over_the_reference_line(
    view: SessionView, telemetry: pl.DataFrame
) -> None:
    reference = reference_polyline(view.track).collect()
    chart = charts.track_map(telemetry, channel="speed_kph", reference=reference, max_points=800)
    spec = chart.to_dict()
    assert spec["projection"] == {"type": "mercator"}
    line, dots = spec["layer"]
    assert values(spec, line).height == reference.height
    assert line["encoding"]["order"]["field"] == "s_m"
    fixes = values(spec, dots)
    assert set(fixes.columns) == {"lat_deg", "lon_deg", "lap", "t_s", "s_m", "speed_kph"}
    assert fixes.height <= 800
    assert fixes["speed_kph"].max() == telemetry["speed_kph"].max()
    assert fixes["speed_kph"].min() == telemetry["speed_kph"].min()
    enc = dots["encoding"]
    assert (enc["longitude"]["field"], enc["latitude"]["field"], enc["color"]["field"]) == (
        "lon_deg",
        "lat_deg",
        "speed_kph",
    )
    assert enc["color"]["scale"]["scheme"] == {"name": "turbo"}
    g_map = charts.track_map(telemetry, channel="g_lat").to_dict()
    assert g_map["layer"][0]["encoding"]["color"]["scale"] == {
        "scheme": {"name": "redblue"},
        "domainMid": 0.0,
    }


def test_friction_circle_is_square_symmetric_and_tells_derived_from_measured(view: SessionView) -> None:
    points = pick_friction_points(add_derived_g(view.telemetry)).collect()
    spec = charts.friction_circle(points).to_dict()
    data = values(spec, spec)
    assert data.height == points.height
    assert set(data["source"].unique()) == {"derived from GPS"}  # this VBO logs no accelerometer
    x, y = spec["encoding"]["x"], spec["encoding"]["y"]
    assert (x["field"], y["field"]) == ("g_lat", "g_long")
    assert x["scale"]["reverse"] is True
    assert x["scale"]["domain"] == y["scale"]["domain"]
    low, high = x["scale"]["domain"]
    peak = float(pl.concat([points["g_lat"], points["g_long"]]).abs().max())  # type: ignore[arg-type]
    assert low == -high and peak <= high < peak + 0.5


def test_pedal_state_bars_stack_the_four_states_of_every_lap(view: SessionView) -> None:
    by_lap = pedal_time_by_lap(add_derived_g(view.telemetry)).collect()
    spec = charts.pedal_state_bars(by_lap).to_dict()
    data = values(spec, spec)
    assert data.height == by_lap.height * len(PEDAL_STATES)
    assert spec["encoding"]["color"]["scale"]["domain"] == list(PEDAL_STATES)
    sums = data.group_by("lap").agg(pl.col("fraction").sum()).sort("lap")
    assert sums["fraction"].to_list() == pytest.approx([1.0] * by_lap.height)
    lap2 = data.filter(pl.col("lap") == 2).sort("order")
    assert lap2["seconds"].to_list() == [by_lap.filter(pl.col("lap") == 2)[f"{s}_s"][0] for s in PEDAL_STATES]


def test_trace_panels_one_panel_per_channel_with_data_plus_delta(view: SessionView) -> None:
    lap = view.best_lap()
    assert lap == 2
    trace = lap_traces(view.telemetry, view.laps.lazy(), view.track, laps=[lap]).collect()
    labelled = trace.with_columns(pl.lit("lap 2").alias("label"))
    marks = (
        braking_points(trace.lazy(), view.track)
        .collect()
        .select(
            pl.col("s_brake_m").alias("s_m"), pl.col("corner").alias("text"), pl.lit("lap 2").alias("label")
        )
    )
    delta = delta_t(trace.lazy(), trace.lazy()).collect()
    chart = charts.trace_panels(
        labelled,
        channels=["speed_kph", "throttle_pct", "brake_bar", "brake_pct"],
        delta=delta,
        marks=marks,
        max_points=1000,
    )
    spec = chart.to_dict()
    panels = spec["vconcat"]
    assert len(panels) == 4  # brake_pct is all null in this session: no panel; + the delta-T panel
    fields = [p["layer"][0]["encoding"]["y"]["field"] for p in panels[:3]]
    assert fields == ["speed_kph", "throttle_pct", "brake_bar"]
    lines = values(spec, panels[0]["layer"][0])
    assert lines.height <= 1000 < trace.height
    assert lines["speed_kph"].max() == trace["speed_kph"].max()
    assert lines["brake_bar"].max() == trace["brake_bar"].max()
    assert panels[0]["layer"][0]["encoding"]["x"]["field"] == "s_m"
    rules = values(spec, panels[0]["layer"][1])
    assert rules["s_m"].to_list() == marks["s_m"].to_list()
    delta_line = values(spec, panels[3]["layer"][1])
    assert delta_line["delta_s"].abs().max() == 0.0  # the lap against itself
    with pytest.raises(ValueError, match="has data"):
        charts.trace_panels(labelled, channels=["brake_pct", "rpm"])


def test_gain_bars_colour_by_sign_in_the_given_order(view: SessionView, telemetry: pl.DataFrame) -> None:
    summary = corner_summary(corner_passes(telemetry.lazy(), view.track), view.track).collect()
    spec = charts.gain_bars(summary, category="corner", gain="delta_to_reference_s", title="s").to_dict()
    data = values(spec, spec)
    assert data["corner"].to_list() == summary["corner"].to_list()
    expected = ["slower" if g > 0 else "faster" for g in summary["delta_to_reference_s"]]
    assert data["sign"].to_list() == expected
    assert spec["encoding"]["y"]["sort"] is None


def test_can_charts_on_the_real_capture() -> None:
    frames = read_can_log(CAPTURE)
    rates = (
        frames.group_by("arbitration_id")
        .agg(
            pl.len().alias("n_frames"),
            ((pl.len() - 1) / (pl.col("t_s").max() - pl.col("t_s").min())).alias("rate_hz"),
        )
        .with_columns(
            pl.format("0x{}", pl.col("arbitration_id")).alias("id_hex"),
            pl.lit(None, dtype=pl.String).alias("message"),
        )
    )
    spec = charts.frame_rate_bars(rates).to_dict()
    data = values(spec, spec)
    assert data.height == rates.height == 8
    assert set(data["status"]) == {"unknown"} and set(data["message"]) == {"(unknown id)"}
    long = frames.select(
        pl.format("0x{}", "arbitration_id").alias("signal"),
        (pl.col("t_s") - pl.col("t_s").min()).alias("t_s"),
        pl.col("data")
        .bin.slice(0, 1)
        .bin.encode("hex")
        .str.to_integer(base=16)
        .cast(pl.Float64)
        .alias("value"),
    )
    facet = charts.signal_traces(long, max_points=2000).to_dict()
    shown = values(facet, facet)
    assert shown.height <= 2000 < long.height
    full = long.group_by("signal").agg(pl.col("value").min().alias("lo"), pl.col("value").max().alias("hi"))
    kept = shown.group_by("signal").agg(pl.col("value").min().alias("lo"), pl.col("value").max().alias("hi"))
    assert kept.sort("signal").equals(full.sort("signal"))
    assert facet["facet"]["row"]["field"] == "signal"
    assert facet["resolve"]["scale"]["y"] == "independent"


def test_progress_charts_encode_sessions_in_time_order() -> None:
    sessions = pl.DataFrame(
        {
            "started_at": pl.Series(["2025-08-01T19:00:13", "2025-08-01T19:43:33"]).str.to_datetime(
                time_zone="UTC"
            ),
            "session_id": ["run01", "run04"],
            "best_lap_s": [None, 114.96],
            "median_lap_s": [None, 114.96],
        }
    )
    trend = charts.session_trend(sessions).to_dict()
    assert values(trend, trend).height == 2  # the session without a valid lap has no point
    assert trend["encoding"]["x"] == {"field": "started_at", "title": "session start", "type": "temporal"}
    corners = pl.DataFrame(
        {
            "session": ["run04", "run04"],
            "started_at": sessions["started_at"][1:].extend(sessions["started_at"][1:]),
            "corner": ["1", "2"],
            "corner_idx": [0, 1],
            "best_time_s": [3.8, 4.4],
            "grade": ["A", "B"],
        }
    )
    trend_by_corner = charts.corner_trend(corners, value="best_time_s").to_dict()
    assert values(trend_by_corner, trend_by_corner).columns == [
        "session",
        "started_at",
        "corner",
        "corner_idx",
        "best_time_s",
        "grade",
    ]
    assert trend_by_corner["facet"]["sort"] == {"field": "corner_idx", "op": "min"}
    assert trend_by_corner["columns"] == 4
    assert trend_by_corner["resolve"]["scale"]["y"] == "independent"
    assert trend_by_corner["spec"]["encoding"]["y"]["field"] == "best_time_s"


def test_save_png_renders_with_vl_convert(tmp_path: Path, telemetry: pl.DataFrame) -> None:
    chart = (
        alt.Chart(charts.downsample_trace(telemetry.select("t_s", "speed_kph"), x="t_s", y=["speed_kph"]))
        .mark_line()
        .encode(x="t_s:Q", y="speed_kph:Q")
    )
    path = charts.save_png(chart, tmp_path / "img" / "speed.png", scale=1.0)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 300 and height > 300
