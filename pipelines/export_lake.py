"""``python -m pipelines export-lake DEST [--db FILE] [--track T] [--driver D] [--since DAY] [--until DAY]``.

Writes the database's sessions to a hive-partitioned parquet lake at ``DEST`` (a folder or an fsspec URL; the
layout is documented in :mod:`pitwall.lake`): incrementally (a session whose content is unchanged since the last
export is skipped), atomically per session, with a manifest. A session that cannot be analysed (no telemetry,
unknown track) is reported as failed and the others go on; the exit status is then 1. ``--json`` prints one object
per session; otherwise a progress bar (stderr, TTY only) and a summary line.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from pitwall.config import default_db_path
from pitwall.lake import SessionFilter, SessionOutcome, export_lake
from pitwall.store import open_store
from pitwall.store.base import DatabaseLocked, StoreError

NAME = "export-lake"


def add_parser(subparsers: Any) -> None:
    """Register the ``export-lake`` job on the ``python -m pipelines`` dispatcher."""
    parser = subparsers.add_parser(NAME, help="export sessions to a hive-partitioned parquet lake")
    parser.add_argument("dest", help="lake folder or fsspec URL (created if absent)")
    parser.add_argument("--db", type=Path, default=None, help="database file (default: the server's)")
    parser.add_argument("--track", help="only this track (library id or display name)")
    parser.add_argument("--driver", help="only this driver")
    parser.add_argument(
        "--since", type=date.fromisoformat, help="only sessions from this UTC day (YYYY-MM-DD)"
    )
    parser.add_argument(
        "--until", type=date.fromisoformat, help="only sessions up to this UTC day (inclusive)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per session on stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """0 when every session was exported or unchanged, 1 when any failed, 2 when the database cannot be opened."""
    db = args.db or default_db_path()
    try:
        store = open_store(db)
    except (DatabaseLocked, StoreError, OSError) as exc:
        print(f"export-lake: cannot open database {db}: {exc}", file=sys.stderr)
        return 2
    only = SessionFilter(track=args.track, driver=args.driver, since=args.since, until=args.until)
    progress = Progress(
        console=Console(stderr=True), disable=args.json or not sys.stderr.isatty(), transient=True
    )
    task = progress.add_task("exporting", total=None)
    outcomes: list[SessionOutcome] = []

    def report(outcome: SessionOutcome) -> None:
        outcomes.append(outcome)
        progress.update(task, advance=1, description=outcome.session_id)
        if args.json:
            print(json.dumps(asdict(outcome)), flush=True)
        elif outcome.status == "failed":
            print(f"export-lake: {outcome.session_id}: failed: {outcome.detail}", file=sys.stderr)

    try:
        with progress:
            export_lake(store, args.dest, only=only, on_session=report)
    finally:
        store.close()
    if not args.json:
        counts = {s: sum(o.status == s for o in outcomes) for s in ("exported", "unchanged", "failed")}
        print(f"{args.dest}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return 1 if any(o.status == "failed" for o in outcomes) else 0
