import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Pitwall · driver progress")

with app.setup:
    from contextlib import closing

    import marimo as mo
    import polars as pl

    from pipelines.build_sample_db import SAMPLE_DB
    from pitwall import charts
    from pitwall.analysis.stats import session_stats
    from pitwall.formats.reference import load_model_reference
    from pitwall.formats.track import TrackLibrary
    from pitwall.notebook_support import database_field, read_database
    from pitwall.session_view import SessionView, SessionViewError
    from pitwall.store import open_store


@app.cell(hide_code=True)
def _():
    mo.md("""
    # Driver progress

    One driver's sessions at one track, in time order: best and median lap, consistency (standard deviation
    of the valid complete laps), how each corner evolves, and the track's leaderboard. Figures come from
    `pitwall.analysis.stats.session_stats` and `pitwall.analysis.corners` on each session's `SessionView`.
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
        db_field.value,
        lambda store: store.list_sessions(limit=100_000).filter(pl.col("track") != "").sort("started_at"),
        empty="has no session on a known track.",
    )
    return db_path, sessions


@app.cell
def _(sessions):
    _ranked = (
        sessions.group_by("driver")
        .agg(pl.col("best_lap_s").is_not_null().sum().alias("timed"), pl.len().alias("n"))
        .sort("timed", "n", "driver", descending=[True, True, False])
    )
    _drivers = {d or "(no driver)": d for d in _ranked["driver"].to_list()}
    _wanted = mo.cli_args().get("driver")
    driver_picker = mo.ui.dropdown(
        options=_drivers,
        value=_wanted if _wanted in _drivers else next(iter(_drivers)),
        label="Driver",
    )
    driver_picker
    return (driver_picker,)


@app.cell
def _(driver_picker, sessions):
    _tracks = sessions.filter(pl.col("driver") == driver_picker.value)["track"].unique(maintain_order=True)
    track_picker = mo.ui.dropdown(options=_tracks.to_list(), value=_tracks[0], label="Track")
    track_picker
    return (track_picker,)


@app.cell
def _(db_path, driver_picker, sessions, track_picker):
    _chosen = sessions.filter(
        (pl.col("driver") == driver_picker.value) & (pl.col("track") == track_picker.value)
    )
    _library = TrackLibrary()
    views: list[SessionView] = []
    skipped: list[str] = []
    with closing(open_store(db_path)) as _store:
        for _sid in _chosen["session_id"]:
            try:
                views.append(SessionView.load(_store, _sid, _library, None))
            except SessionViewError as _exc:
                skipped.append(f"`{_sid}`: {_exc.error}")
    mo.stop(not views, mo.callout(mo.md("No session of this driver can be analysed."), kind="warn"))
    mo.md(
        f"**{len(views)} session(s)** of {driver_picker.selected_key} at {track_picker.value}."
        + (f" Skipped: {', '.join(skipped)}." if skipped else "")
    )
    return (views,)


@app.cell
def _(views):
    progress = pl.concat(
        [
            pl.DataFrame({"session_id": [v.session_id], "started_at": [v.session.started_at]}).hstack(
                session_stats(v.telemetry_g.lazy(), v.laps.lazy()).collect()
            )
            for v in views
        ]
    )
    mo.vstack(
        [
            mo.md("## Lap times per session (consistency: `std_lap_s`, s)"),
            charts.session_trend(progress),
            mo.ui.table(
                progress.select(
                    "session_id",
                    "started_at",
                    "n_complete_laps",
                    "n_valid_laps",
                    "best_lap_s",
                    "median_lap_s",
                    "std_lap_s",
                    "max_speed_kph",
                    "max_combined_g",
                ),
                selection=None,
                pagination=False,
            ),
        ]
    )
    return (progress,)


@app.cell
def _(views):
    _timed = [v for v in views if v.complete_laps().height]
    mo.stop(not _timed, mo.md("## Corners over sessions\nNo session of this driver has a complete lap."))
    _model = load_model_reference(_timed[0].track.id)
    corner_progress = pl.concat(
        [
            v.corner_summary(_model).select(
                pl.lit(v.session_id).alias("session"),
                pl.lit(v.session.started_at).alias("started_at"),
                "corner",
                "corner_idx",
                "n_passes",
                "best_time_s",
                "mean_min_speed_kph",
                "grade",
            )
            for v in _timed
        ]
    )
    _against = "the physics-model lap" if _model is not None else "the session's best pass (consistency)"
    mo.vstack(
        [
            mo.md(
                "## Corners over sessions\nPasses of complete laps: the best pass through each corner (s) per "
                f"session; the tooltip gives the session's grade (mean pass vs {_against})."
            ),
            charts.corner_trend(corner_progress, value="best_time_s"),
        ]
    )
    return (corner_progress,)


@app.cell
def _(db_path, track_picker):
    with closing(open_store(db_path)) as _store:
        leaderboard = _store.leaderboard(track=track_picker.value)
    mo.vstack(
        [
            mo.md(f"## Leaderboard — {track_picker.value} (best valid lap per driver and car)"),
            mo.ui.table(leaderboard, selection=None, pagination=False),
        ]
    )
    return (leaderboard,)


if __name__ == "__main__":
    app.run()
