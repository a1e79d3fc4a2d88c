"""``python -m pipelines analyze LAKE [--engine local|dask] [--scheduler ADDR]``: per-session pipelines over a lake.

Runs :func:`pitwall.lake.analyze_session` (laps, sectors, corner passes) once per session of the lake written by
``export-lake`` and writes the results back under ``LAKE/results/`` as hive-partitioned tables, then the
cross-session tables (leaderboard, consistency by track, driver evolution). ``--engine dask`` runs one task per
session on ``dask.distributed`` (install ``pitwall[cluster]``): on the scheduler at ``--scheduler`` or, without
it, a ``LocalCluster`` of this machine's cores; the results are identical to ``local``. A failed session is
reported and does not stop the others (exit status 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.progress import Progress

from pitwall.lake import Lake, TaskResult, analyze_lake

NAME = "analyze"


def add_parser(subparsers: Any) -> None:
    """Register the ``analyze`` job on the ``python -m pipelines`` dispatcher."""
    parser = subparsers.add_parser(NAME, help="run the per-session pipelines over a parquet lake")
    parser.add_argument("lake", help="lake folder or fsspec URL written by export-lake")
    parser.add_argument("--engine", choices=("local", "dask"), default="local")
    parser.add_argument("--scheduler", help="dask scheduler address (default: a LocalCluster)")
    parser.add_argument("--json", action="store_true", help="one JSON object per session on stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """0 when every session was analysed, 1 when any failed, 2 when the lake or the engine is unusable."""
    try:
        total = len(Lake.open(args.lake).read_manifest()["sessions"])
    except (OSError, ValueError) as exc:
        print(f"analyze: {exc}", file=sys.stderr)
        return 2
    progress = Progress(
        console=Console(stderr=True), disable=args.json or not sys.stderr.isatty(), transient=True
    )
    task = progress.add_task("analysing", total=total)

    def report(result: TaskResult) -> None:
        progress.update(task, advance=1, description=result.session_id)
        if args.json:
            print(json.dumps(asdict(result)), flush=True)
        elif result.error:
            print(f"analyze: {result.session_id}: failed: {result.error}", file=sys.stderr)

    try:
        with progress:
            results = analyze_lake(args.lake, engine=args.engine, scheduler=args.scheduler, on_result=report)
    except ImportError as exc:
        print(f"analyze: the dask engine needs pitwall[cluster] ({exc})", file=sys.stderr)
        return 2
    failed = sum(r.error is not None for r in results)
    if not args.json:
        print(f"{args.lake}: {len(results) - failed} analysed, {failed} failed ({args.engine})")
    return 1 if failed else 0
