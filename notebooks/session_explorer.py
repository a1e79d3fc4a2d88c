import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Pitwall · session explorer")

with app.setup:
    import marimo as mo
    import polars as pl

    from pipelines.build_sample_db import SAMPLE_DB
    from pitwall import charts
    from pitwall.analysis.friction import add_combined_g, pick_friction_points
    from pitwall.analysis.maps import reference_polyline
    from pitwall.analysis.pedals import pedal_time_by_lap, pedal_time_session
    from pitwall.analysis.sectors import lap_time_table
    from pitwall.formats.reference import load_model_reference
    from pitwall.notebook_support import database_field, load_views, read_database


@app.cell(hide_code=True)
def _():
    mo.md("""
    # Session explorer

    One session of a Pitwall database: its laps with sector times, a track map coloured by a channel, the
    friction circle, pedal use and the corners with grades. Every number comes from `pitwall.analysis` run
    on the session's `SessionView` — the same pipelines the HTTP API serves.
    """)
    return


@app.cell
def _():
    db_field = database_field(SAMPLE_DB)
    db_field
    return (db_field,)


@app.cell
def _(db_field):
    db_path, sessions = read_database(
        db_field.value, lambda store: store.list_sessions(limit=100_000), empty="has no sessions yet."
    )
    return db_path, sessions


@app.cell
def _(sessions):
    _labels = {
        f"{row['started_at']:%Y-%m-%d %H:%M} · {row['track'] or 'no track'} · {row['driver'] or 'no driver'}"
        f" · {row['session_id']}": row["session_id"]
        for row in sessions.iter_rows(named=True)
    }
    _with_laps = sessions.filter(pl.col("best_lap_s").is_not_null())["session_id"].to_list()
    _wanted = mo.cli_args().get("session") or (_with_laps or sessions["session_id"].to_list())[0]
    session_picker = mo.ui.dropdown(
        options=_labels,
        value=next((label for label, sid in _labels.items() if sid == _wanted), None),
        label="Session",
        full_width=True,
    )
    session_picker
    return (session_picker,)


@app.cell
def _(db_path, session_picker):
    mo.stop(session_picker.value is None, mo.md("Pick a session."))
    view = load_views(db_path, [session_picker.value])[session_picker.value]
    telemetry = add_combined_g(view.telemetry_g.lazy()).collect()
    mo.md(
        f"**{view.session.track or view.track.name}** ({view.track.length_m:,.0f} m) · driver "
        f"{view.session.driver or '—'} · {view.n_frames:,} samples · {view.session.duration_s:.1f} s · "
        f"source `{view.session.vbo_source or view.session.source}`"
    )
    return telemetry, view


@app.cell
def _(view):
    lap_table = lap_time_table(view.telemetry, view.laps.lazy(), view.track).collect()
    _best = view.best_lap()
    mo.vstack(
        [
            mo.md(
                "## Laps\n"
                + (
                    f"Best lap: **{_best}** ({lap_table.filter(pl.col('is_best_lap'))['duration_s'][0]:.3f} s)."
                    if _best is not None
                    else "No valid complete lap in this session: sector times and best flags need one."
                )
            ),
            mo.ui.table(lap_table, selection=None, pagination=False),
        ]
    )
    return (lap_table,)


@app.cell
def _(telemetry):
    _channels = ["speed_kph", "throttle_pct", "brake_bar", "brake_pct", "g_lat", "g_long", "g_combined"]
    _present = [c for c in _channels if telemetry[c].null_count() < telemetry.height]
    channel_picker = mo.ui.dropdown(
        options={charts.title_of(c): c for c in _present},
        value=charts.title_of(_present[0]),
        label="Colour by",
    )
    _laps = sorted(telemetry["lap"].drop_nulls().unique().to_list())
    lap_picker = mo.ui.dropdown(
        options={"all laps": None, **{f"lap {n}": n for n in _laps}}, value="all laps", label="Laps"
    )
    mo.hstack([channel_picker, lap_picker], justify="start")
    return channel_picker, lap_picker


@app.cell
def _(lap_picker, telemetry):
    shown = telemetry if lap_picker.value is None else telemetry.filter(pl.col("lap") == lap_picker.value)
    return (shown,)


@app.cell
def _(channel_picker, shown, view):
    mo.vstack(
        [
            mo.md("## Track map"),
            charts.track_map(
                shown, channel=channel_picker.value, reference=reference_polyline(view.track).collect()
            ),
        ]
    )
    return


@app.cell
def _(shown):
    friction_points = pick_friction_points(shown.lazy()).collect()
    _derived = bool(friction_points["g_derived"].any())
    mo.vstack(
        [
            mo.md(
                "## Friction circle\n"
                + (
                    "Accelerations derived from GPS speed and course (no accelerometer logged)."
                    if _derived
                    else ""
                )
            ),
            charts.friction_circle(friction_points),
        ]
    )
    return


@app.cell
def _(telemetry):
    pedal_by_lap = pedal_time_by_lap(telemetry.lazy()).collect()
    _channel = pedal_time_session(telemetry.lazy()).collect()["brake_channel"][0]
    mo.vstack(
        [
            mo.md(
                f"## Pedals\nBrake read from `{_channel}`." if _channel else "## Pedals\nNo brake channel."
            ),
            charts.pedal_state_bars(pedal_by_lap),
        ]
    )
    return


@app.cell
def _(telemetry, view):
    _laps = view.complete_laps()["lap"].to_list()
    mo.stop(not _laps, mo.md("## Corners\nCorner grades need a complete lap: this session has none."))
    _model = load_model_reference(view.track.id)
    corner_table = view.corner_summary(_model)  # the passes and summary /corners serves
    _against = (
        f"the physics-model lap (`data/reference/{view.track.id}_model.json`)"
        if _model is not None
        else "the session's best pass (so they measure consistency)"
    )
    mo.vstack(
        [
            mo.md(
                f"## Corners\nPasses of the complete laps. Grades compare each corner's mean pass time with "
                f"{_against}: A < 2 % slower, B < 5 %, C < 10 %, D < 20 %, else F."
            ),
            mo.ui.table(
                corner_table.select(
                    "corner",
                    "corner_name",
                    "direction",
                    "n_passes",
                    "best_lap",
                    "best_time_s",
                    "mean_time_s",
                    "best_min_speed_kph",
                    "mean_min_speed_kph",
                    "mean_brake_point_s_m",
                    "pct_slower",
                    "grade",
                ),
                selection=None,
                pagination=False,
            ),
        ]
    )
    return (corner_table,)


if __name__ == "__main__":
    app.run()
