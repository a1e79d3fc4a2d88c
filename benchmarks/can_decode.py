"""CAN decode benchmark; prints one JSON object per line: ``{"bench", "value", "unit", "baseline", "ratio"}``.

* ``can_decode.vectorised``: :class:`pitwall.live.decode.Decoder` on 1,000,000 random 8-byte frames spread
  over the ids of ``data/dbc/pitwall.dbc`` (12 messages, 45 signals), best of ``runs``; baseline = cantools
  ``Database.decode_message`` frames/s **timed on a 20,000-frame subset and extrapolated** (cantools decodes
  one frame at a time, so its rate does not depend on the batch size). Targets: ≥ 5M frames/s, ≥ 20×.
* ``can_decode.cantools_subset``: that cantools rate itself (no baseline).
* ``can_decode.small_reads``: the decoder alone on that simulated lap in 160-frame reads (below), frames/s;
  baseline = cantools on the first 20,000 of those frames. Target ≥ 10×.
* ``can_decode.decode_and_batch``: decode + :class:`~pitwall.live.batches.WideBatcher` (canonical wide + tall
  windows) on one simulated Sonoma lap of AiM-MXP frames at the car's real mix of rates, fed in the reads a
  CanReader makes when 8,000 frames/s arrive (20 ms polls: 160 frames), frames/s of CPU capacity; baseline
  8,000 frames/s (the live-path target; a 1 Mbit/s bus carries at most ≈ 7,700 8-byte frames/s).

The decoded values of the subset are checked against cantools before any figure is printed.

Run from the repository root: ``.venv/bin/python -m benchmarks.can_decode [--runs 5]``
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from typing import Any

import numpy as np

from benchmarks.report import emit as emit_figure
from pitwall import DATA_DIR
from pitwall.formats.car import load_car
from pitwall.formats.dbc import load_dbc
from pitwall.formats.track import load_track
from pitwall.live.batches import WideBatcher
from pitwall.live.decode import Decoder
from pitwall.live.frames import FrameBatch
from pitwall.live.simulator import Simulator

N_FRAMES = 1_000_000
N_CANTOOLS = 20_000
LIVE_TARGET_FPS = 8_000
READ_S = 0.02  # CanReader poll
emit = partial(emit_figure, digits=1, baseline_digits=1)
"""Figures and baselines to 0.1 frames/s."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    db = load_dbc([DATA_DIR / "dbc" / "pitwall.dbc"])
    rng = np.random.default_rng(0)
    ids = np.array([m.frame_id for m in db.messages], np.int64)
    batch = FrameBatch(
        t_s=np.arange(N_FRAMES, dtype=np.float64) * 1e-4,
        arbitration_id=rng.choice(ids, N_FRAMES),
        is_extended=np.zeros(N_FRAMES, np.bool_),
        dlc=np.full(N_FRAMES, 8, np.uint8),
        data=rng.integers(0, 256, (N_FRAMES, 8), dtype=np.uint8),
    )

    # cantools baseline on a subset, and the correctness check on that subset
    subset = batch.take(slice(0, N_CANTOOLS))
    rows = [(int(i), bytes(d)) for i, d in zip(subset.arbitration_id, subset.data, strict=True)]
    started = time.perf_counter()
    reference: list[Any] = [db.decode_message(i, d, decode_choices=False) for i, d in rows]
    cantools_fps = N_CANTOOLS / (time.perf_counter() - started)
    ours = Decoder(db).decode(subset)
    for name, (t, values) in ours.items():
        expected = [ref[name] for ref in reference if name in ref]
        if not np.array_equal(values, np.asarray(expected, np.float64)) or t.size != len(expected):
            raise SystemExit(f"decode mismatch against cantools on {name}")

    best = 0.0
    for _ in range(args.runs):
        decoder = Decoder(db)
        started = time.perf_counter()
        decoder.decode(batch)
        best = max(best, N_FRAMES / (time.perf_counter() - started))
    emit("can_decode.vectorised", best, "frames/s", cantools_fps)
    emit("can_decode.cantools_subset", cantools_fps, "frames/s", None)

    car = load_car(DATA_DIR / "cars" / "bmw_e46_m3.yaml")
    sim = Simulator(load_track(DATA_DIR / "tracks" / "sonoma.json"), car, db, lap_seconds=None, laps=1)
    lap = sim.frames_between(0.0, sim.duration_s)
    reads = [
        lap.take(c) for c in np.array_split(np.arange(len(lap)), len(lap) // int(LIVE_TARGET_FPS * READ_S))
    ]
    sample = reads[: max(1, N_CANTOOLS // int(LIVE_TARGET_FPS * READ_S))]
    sample_rows = [(int(i), bytes(d)) for r in sample for i, d in zip(r.arbitration_id, r.data, strict=True)]
    started = time.perf_counter()
    for i, d in sample_rows:
        db.decode_message(i, d, decode_choices=False)
    cantools_small = len(sample_rows) / (time.perf_counter() - started)
    best = 0.0
    for _ in range(args.runs):
        decoder = Decoder(db, car=car)
        started = time.perf_counter()
        for read in reads:
            decoder.decode(read)
        best = max(best, len(lap) / (time.perf_counter() - started))
    emit("can_decode.small_reads", best, "frames/s", cantools_small)
    best = 0.0
    for _ in range(args.runs):
        decoder, batcher = Decoder(db, car=car), WideBatcher(car)
        started = time.perf_counter()
        for chunk in np.array_split(np.arange(len(lap)), max(1, len(lap) // int(LIVE_TARGET_FPS * READ_S))):
            batcher.push(decoder.decode(lap.take(chunk)))
        batcher.flush()
        best = max(best, len(lap) / (time.perf_counter() - started))
    emit("can_decode.decode_and_batch", best, "frames/s", LIVE_TARGET_FPS)


if __name__ == "__main__":
    main()
