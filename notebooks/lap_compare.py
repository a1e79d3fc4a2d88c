import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Pitwall · lap compare")

with app.setup:
    import marimo as mo
    import polars as pl

    from pipelines.build_sample_db import SAMPLE_DB
    from pitwall import charts
    from pitwall.analysis.corners import corner_passes, corner_summary, reference_from_passes
    from pitwall.analysis.delta import braking_delta, braking_points, delta_t, lap_traces
    from pitwall.analysis.friction import add_derived_g
    from pitwall.analysis.sectors import compare_sectors, sector_splits
    from pitwall.notebook_support import database_field, load_views, read_database


@app.cell(hide_code=True)
def _():
    mo.md("""
    # Lap compare

    Two complete laps — of one session, of two sessions, of two drivers — on the track-position axis `s_m`
    (metres along the track's reference line): speed, throttle and brake traces, delta-T (positive = lap B
    is slower than lap A at that point), the time gained or lost per sector and per corner, and the braking
    points in metres. Every number comes from `pitwall.analysis` (`delta`, `sectors`, `corners`).
    """)
    return


@app.cell
def _():
    db_field = database_field(SAMPLE_DB)
    db_field
    return (db_field,)


@app.cell
def _(db_field):
    db_path, complete_laps = read_database(
        db_field.value,
        lambda store: (
            store.list_laps(limit=1_000_000)
            .filter((pl.col("kind") == "flying") & (pl.col("method") != "manual"))
            .sort(pl.col("valid").not_(), "duration_s")
        ),
        empty="has no complete lap to compare.",
    )
    return complete_laps, db_path


@app.cell
def _(complete_laps):
    _options = {
        f"{row['driver'] or 'no driver'} · {row['track']} · {row['session_id']} · lap {row['lap']} · "
        f"{row['duration_s']:.3f} s{'' if row['valid'] else ' (invalid)'}": f"{row['session_id']}:{row['lap']}"
        for row in complete_laps.iter_rows(named=True)
    }
    _keys = list(_options.values())
    _wanted_a = mo.cli_args().get("a") or _keys[0]
    _wanted_b = mo.cli_args().get("b") or _keys[min(1, len(_keys) - 1)]

    def _label(key: str) -> str | None:
        return next((label for label, value in _options.items() if value == key), None)

    lap_a = mo.ui.dropdown(
        options=_options, value=_label(_wanted_a), label="Lap A (reference)", full_width=True
    )
    lap_b = mo.ui.dropdown(
        options=_options, value=_label(_wanted_b), label="Lap B (compared)", full_width=True
    )
    mo.vstack([lap_a, lap_b])
    return lap_a, lap_b


@app.cell
def _(db_path, lap_a, lap_b):
    mo.stop(lap_a.value is None or lap_b.value is None, mo.md("Pick two laps."))
    picks = {
        name: (key.rsplit(":", 1)[0], int(key.rsplit(":", 1)[1]))
        for name, key in (("A", lap_a.value), ("B", lap_b.value))
    }
    views = load_views(db_path, (sid for sid, _ in picks.values()))
    _incomplete = [
        f"`{sid}` lap {lap}"
        for sid, lap in picks.values()
        if lap not in views[sid].complete_laps()["lap"].to_list()
    ]
    mo.stop(
        bool(_incomplete),
        mo.callout(mo.md(f"Not a complete lap of the session: {', '.join(_incomplete)}."), kind="warn"),
    )
    track = views[picks["A"][0]].track
    mo.stop(
        any(v.track.id != track.id for v in views.values()),
        mo.callout(mo.md("The two laps are on different tracks: pick laps of one track."), kind="warn"),
    )
    same_lap = picks["A"] == picks["B"]
    labels = {
        name: f"{name} · {views[sid].session.driver or 'no driver'} · lap {lap}"
        for name, (sid, lap) in picks.items()
    }
    mo.callout(
        mo.md(
            "Lap B is lap A: showing one lap. Pick another lap B to compare (the database may hold only one)."
        )
        if same_lap
        else mo.md(f"**{track.name}**, {track.length_m:,.0f} m: {labels['B']} against {labels['A']}."),
        kind="info",
    )
    return labels, picks, same_lap, track, views


@app.cell
def _(labels, picks, same_lap, track, views):
    traces = {
        name: lap_traces(views[sid].telemetry, views[sid].laps.lazy(), track, laps=[lap])
        .collect()
        .with_columns(pl.lit(labels[name]).alias("label"))
        for name, (sid, lap) in picks.items()
        if not (same_lap and name == "B")
    }
    delta = None if same_lap else delta_t(traces["B"].lazy(), traces["A"].lazy()).collect()
    brakes = {name: braking_points(trace.lazy(), track).collect() for name, trace in traces.items()}
    return brakes, delta, traces


@app.cell
def _(brakes, delta, labels, track, traces):
    _marks = pl.concat(
        [
            points.select(
                pl.col("s_brake_m").alias("s_m"),
                pl.format("T{} brake at {} m", "corner", pl.col("s_brake_m").round(0)).alias("text"),
                pl.lit(labels[name]).alias("label"),
            )
            for name, points in brakes.items()
        ]
    )
    compare_chart = charts.trace_panels(
        pl.concat(list(traces.values()), how="diagonal_relaxed"),
        channels=["speed_kph", "throttle_pct", "brake_bar", "brake_pct"],
        delta=delta,
        marks=_marks,
        title=f"{track.name}: " + " vs ".join(labels[name] for name in traces),
    )
    if _png := mo.cli_args().get("png"):
        charts.save_png(compare_chart, str(_png))
    mo.vstack([mo.md("## Traces along the lap (dashed: braking points)"), compare_chart])
    return (compare_chart,)


@app.cell
def _(brakes, labels, same_lap):
    braking_table = (
        brakes["A"].select("corner", "s_brake_m", "speed_kph")
        if same_lap
        else braking_delta(brakes["B"].lazy(), brakes["A"].lazy()).collect()
    )
    mo.vstack(
        [
            mo.md(
                "## Braking points (m along the lap)\n"
                + ("" if same_lap else f"`delta_m` > 0: {labels['B']} brakes later than {labels['A']}.")
            ),
            mo.ui.table(braking_table, selection=None, pagination=False),
        ]
    )
    return (braking_table,)


@app.cell
def _(picks, same_lap, track, views):
    mo.stop(same_lap, None)
    _splits = {
        name: sector_splits(views[sid].telemetry, views[sid].laps.filter(pl.col("lap") == lap).lazy(), track)
        for name, (sid, lap) in picks.items()
    }
    sector_gains = compare_sectors(_splits["A"], _splits["B"]).collect()
    mo.vstack(
        [
            mo.md("## Sectors (`gain_s` = B − A, s; negative = B faster)"),
            mo.hstack(
                [
                    mo.ui.table(sector_gains, selection=None, pagination=False),
                    charts.gain_bars(sector_gains, category="sector", gain="gain_s", title="B − A (s)"),
                ]
            ),
        ]
    )
    return (sector_gains,)


@app.cell
def _(picks, same_lap, track, views):
    mo.stop(same_lap, None)
    _passes = {
        name: corner_passes(add_derived_g(views[sid].telemetry), track).filter(pl.col("lap") == lap)
        for name, (sid, lap) in picks.items()
    }
    corner_gains = corner_summary(
        _passes["B"], track, reference=reference_from_passes(_passes["A"])
    ).collect()
    mo.vstack(
        [
            mo.md(
                "## Corners (`delta_to_reference_s` = B − A through the corner, s; speeds km/h, brake point m)"
            ),
            mo.hstack(
                [
                    mo.ui.table(
                        corner_gains.select(
                            "corner",
                            "corner_name",
                            "best_time_s",
                            "ref_time_s",
                            "delta_to_reference_s",
                            "best_min_speed_kph",
                            "ref_min_speed_kph",
                            "best_brake_point_s_m",
                        ),
                        selection=None,
                        pagination=False,
                    ),
                    charts.gain_bars(
                        corner_gains, category="corner", gain="delta_to_reference_s", title="B − A (s)"
                    ),
                ]
            ),
        ]
    )
    return (corner_gains,)


if __name__ == "__main__":
    app.run()
