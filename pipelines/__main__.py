"""``python -m pipelines <job> [options]``: run one batch job.

A job is a module exposing ``add_parser(subparsers)`` (adds its sub-command and sets ``run`` as the default
``run`` attribute) and ``run(args) -> int`` (the exit status). Register a job by adding its module to ``JOBS``.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from pipelines import analyze, build_reference, build_sample_db, build_tracks, export_lake, import_vbo, track

JOBS: list[ModuleType] = [
    build_tracks,
    import_vbo,
    build_reference,
    build_sample_db,
    export_lake,
    analyze,
    track,
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description="Pitwall batch jobs")
    subparsers = parser.add_subparsers(dest="job", required=True, metavar="<job>")
    for job in JOBS:
        job.add_parser(subparsers)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
