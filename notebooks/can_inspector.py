import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Pitwall · CAN inspector")

with app.setup:
    import tempfile
    from pathlib import Path

    import marimo as mo
    import polars as pl

    from pitwall import DATA_DIR, charts
    from pitwall.analysis.canstats import id_frame_rates
    from pitwall.formats.canlog import read_can_log, write_can_log
    from pitwall.formats.car import load_car
    from pitwall.formats.dbc import load_dbc
    from pitwall.formats.errors import ReadError
    from pitwall.formats.track import load_track
    from pitwall.live.decode import Decoder
    from pitwall.live.frames import FrameBatch
    from pitwall.live.simulator import Simulator


@app.cell(hide_code=True)
def _():
    mo.md("""
    # CAN inspector

    A DBC and a CAN log (candump `.log`, Vector `.asc`, python-can `.csv`): frame rate per identifier, the
    signals the DBC decodes, over time, and the identifiers it does not describe. Logs are read by
    `pitwall.formats.canlog.read_can_log` and decoded by `pitwall.live.decode.Decoder` — the live path's own
    reader and decoder. With no log at hand, record the built-in AiM-MXP simulator to a candump file.
    """)
    return


@app.cell
def _():
    dbc_field = mo.ui.text(
        value=str(mo.cli_args().get("dbc") or DATA_DIR / "dbc" / "pitwall.dbc"),
        label="DBC file(s), comma-separated",
        full_width=True,
    )
    source = mo.ui.radio(
        options=["log file", "simulator recording"],
        value="simulator recording" if mo.cli_args().get("source") == "simulator" else "log file",
        label="Frames from",
        inline=True,
    )
    log_field = mo.ui.text(
        value=str(mo.cli_args().get("log") or DATA_DIR / "samples" / "fsae-pe3-ecu-capture.csv"),
        label="CAN log",
        full_width=True,
    )
    mo.vstack([dbc_field, source, log_field])
    return dbc_field, log_field, source


@app.cell
def _(dbc_field):
    try:
        dbc = load_dbc([Path(p.strip()).expanduser() for p in dbc_field.value.split(",") if p.strip()])
    except ReadError as _exc:
        mo.stop(True, mo.callout(mo.md(f"DBC not loaded: {_exc}"), kind="danger"))
    messages = pl.DataFrame(
        {
            "arbitration_id": [int(m.frame_id) for m in dbc.messages],
            "is_extended": [bool(m.is_extended_frame) for m in dbc.messages],
            "message": [m.name for m in dbc.messages],
        },
        schema={"arbitration_id": pl.Int64, "is_extended": pl.Boolean, "message": pl.String},
    )
    return dbc, messages


@app.cell
def _(log_field, source):
    if source.value == "simulator recording":  # the AiM MXP stream of the bundled car, encoded with its DBC
        _sim = Simulator(
            load_track(DATA_DIR / "tracks" / "sonoma.json"),
            load_car(DATA_DIR / "cars" / "bmw_e46_m3.yaml"),
            load_dbc([DATA_DIR / "dbc" / "pitwall.dbc"]),
        )
        log_path = Path(tempfile.gettempdir()) / "pitwall-simulator-20s.log"
        write_can_log(_sim.frames_between(0.0, 20.0).to_frame(), log_path)
    else:
        log_path = Path(log_field.value).expanduser()
    try:
        frames = read_can_log(log_path)
    except ReadError as _exc:
        mo.stop(True, mo.callout(mo.md(f"CAN log not read: {_exc}"), kind="danger"))
    t0 = frames["t_s"].min()
    mo.md(
        f"`{log_path}`: **{frames.height:,} frames** over {frames['t_s'].max() - t0:,.1f} s "
        f"from {frames.select(pl.struct('arbitration_id', 'is_extended').n_unique()).item()} identifiers."
    )
    return frames, t0


@app.cell
def _(frames, messages):
    id_table = (
        id_frame_rates(frames.lazy())
        .join(messages.lazy(), on=["arbitration_id", "is_extended"], how="left", maintain_order="left")
        .select(
            "id_hex",
            "message",
            "n_frames",
            "rate_hz",
            "dlc",
            "last_payload_hex",
            "arbitration_id",
            "is_extended",
        )
        .collect()
    )
    mo.vstack(
        [
            mo.md(
                "## Frames per identifier (rate = frames − 1 over the span between the first and last, Hz)"
            ),
            mo.hstack(
                [
                    charts.frame_rate_bars(id_table),
                    mo.ui.table(id_table.drop("arbitration_id", "is_extended"), selection=None),
                ]
            ),
        ]
    )
    return (id_table,)


@app.cell
def _(dbc, frames, t0):
    decoder = Decoder(dbc)
    decoded = decoder.decode(FrameBatch.from_frame(frames))
    signals = pl.concat(
        [
            pl.DataFrame({"signal": key, "t_s": t - t0, "value": values})
            for key, (t, values) in decoded.items()
            if t.size
        ]
        or [pl.DataFrame(schema={"signal": pl.String, "t_s": pl.Float64, "value": pl.Float64})]
    )
    _varying = signals.group_by("signal", maintain_order=True).agg(
        (pl.col("value").n_unique() > 1).alias("varies")
    )
    signal_picker = mo.ui.multiselect(
        options=signals["signal"].unique(maintain_order=True).to_list(),
        value=_varying.filter("varies")["signal"].head(6).to_list(),
        label="Signals",
    )
    mo.vstack(
        [
            mo.md(
                f"## Decoded signals\n{signals['signal'].n_unique()} signals decoded from "
                f"{decoder.frames_total - decoder.unknown_frames:,} frames; {decoder.unknown_frames:,} frames have "
                f"an identifier the DBC does not describe, {decoder.short_frames:,} were too short."
            ),
            signal_picker,
        ]
    )
    return decoder, signal_picker, signals


@app.cell
def _(signal_picker, signals):
    mo.stop(
        not signal_picker.value,
        mo.callout(
            mo.md("No decoded signal to plot: no frame of this log is described by the DBC."), kind="info"
        ),
    )
    charts.signal_traces(signals.filter(pl.col("signal").is_in(signal_picker.value)))
    return


@app.cell
def _(id_table):
    unknown_ids = id_table.filter(pl.col("message").is_null()).drop(
        "message", "arbitration_id", "is_extended"
    )
    mo.vstack(
        [
            mo.md(
                f"## Unknown identifiers ({unknown_ids.height})\nIn the log but in no message of the DBC: "
                "a DBC describing them is needed to decode their signals."
            ),
            mo.ui.table(unknown_ids, selection=None),
        ]
    )
    return (unknown_ids,)


if __name__ == "__main__":
    app.run()
