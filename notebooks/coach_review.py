import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="Pitwall · coach review")

with app.setup:
    import marimo as mo
    import polars as pl

    from pipelines.build_sample_db import SAMPLE_DB
    from pitwall import charts
    from pitwall.analysis.delta import lap_traces
    from pitwall.coach.concepts import load_concepts
    from pitwall.coach.render import render_finding, render_markdown
    from pitwall.coach.review import review_view
    from pitwall.notebook_support import database_field, load_views, read_database


@app.cell(hide_code=True)
def _():
    mo.md("""
    # Coach review

    What the rule coach says about one session, beside the traces that made it say so. Every finding is
    computed by `pitwall.coach.review.review_view` (`pitwall.coach.rules.review_session` over the analysis pipelines (corner passes and summary
    against the physics-model lap when the track has one, sector splits, pedal states, laps)) — the same
    function behind `POST /coach/debrief` — and every sentence is rendered from the finding's numbers.
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
        lambda store: store.list_sessions(limit=100_000).filter(pl.col("best_lap_s").is_not_null()),
        empty="has no session with a complete lap.",
    )
    return db_path, sessions


@app.cell
def _(sessions):
    _labels = {
        f"{row['track'] or 'no track'} · {row['driver'] or 'no driver'} · {row['session_id']}": row[
            "session_id"
        ]
        for row in sessions.iter_rows(named=True)
    }
    _wanted = mo.cli_args().get("session") or sessions["session_id"][0]
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
    complete = view.complete_laps()["lap"].to_list()
    mo.stop(not complete, mo.callout(mo.md("This session has no complete lap."), kind="warn"))
    concepts = load_concepts()
    summary, review = review_view(view, concepts)
    return concepts, review, summary, view


@app.cell
def _(concepts, review, view):
    _by_id = {c.id: c for c in concepts}
    findings_table = pl.DataFrame(
        [
            {
                "kind": f.kind,
                "corner": f.corner,
                "sector": f.sector,
                "s_m": f.s_m,
                "gain_s": f.gain_s,
                "concept": f.concept,
                "confidence": f.confidence,
                "text": render_finding(f, _by_id),
            }
            for f in review.findings
        ],
        schema={
            "kind": pl.String,
            "corner": pl.String,
            "sector": pl.Int64,
            "s_m": pl.Float64,
            "gain_s": pl.Float64,
            "concept": pl.String,
            "confidence": pl.Float64,
            "text": pl.String,
        },
    )
    narrative = render_markdown(review.findings, review.top, concepts, title=f"Debrief: {view.track.name}")
    mo.md(narrative)
    return (findings_table,)


@app.cell
def _(findings_table, review, view):
    _best = view.best_lap() or int(view.complete_laps()["lap"][0])
    _trace = (
        lap_traces(view.telemetry, view.laps.lazy(), view.track, laps=[_best])
        .collect()
        .with_columns(pl.lit(f"lap {_best}").alias("label"))
    )
    _marks = findings_table.filter(pl.col("s_m").is_not_null()).select(
        "s_m", "text", pl.lit(f"lap {_best}").alias("label")
    )
    review_chart = charts.trace_panels(
        _trace,
        channels=["speed_kph", "throttle_pct", "brake_bar", "brake_pct"],
        marks=_marks,
        width=620,
        title=f"{view.track.name}, lap {_best}: where each finding is (rules at s_m)",
    )
    if _png := mo.cli_args().get("png"):
        charts.save_png(review_chart, str(_png))
    mo.hstack(
        [
            mo.vstack([mo.md(f"## Findings (confidence {review.confidence})"), mo.ui.table(findings_table)]),
            review_chart,
        ],
        widths=[1, 1],
    )
    return (review_chart,)


@app.cell
def _(summary):
    mo.vstack(
        [
            mo.md("## The corner summary the corner findings come from"),
            mo.ui.table(
                summary.select(
                    "corner", "corner_name", "n_passes", "mean_time_s", "ref_time_s", "delta_to_reference_s"
                )
            ),
        ]
    )
    return


if __name__ == "__main__":
    app.run()
