"""``python -m pipelines <job> [options]``: run one batch job.

A job is a module exposing ``add_parser(subparsers)`` (adds its sub-command and sets ``run`` as the default
``run`` attribute) and ``run(args) -> int`` (the exit status). Register a job by adding its module name to
``JOBS`` (sub-command name → module). Only the module of the job being run is imported (a job's dependencies —
Dask, scipy, the web of analysis modules — cost seconds to load); ``--help`` without a job imports them all to
list them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

JOBS: dict[str, str] = {
    "build-tracks": "pipelines.build_tracks",
    "import": "pipelines.import_vbo",
    "build-reference": "pipelines.build_reference",
    "sample-db": "pipelines.build_sample_db",
    "export-lake": "pipelines.export_lake",
    "analyze": "pipelines.analyze",
    "track": "pipelines.track",
}
"""Sub-command → job module (each module's ``NAME`` is its sub-command)."""


def _modules(argv: list[str]) -> list[ModuleType]:
    """The job module named in ``argv`` (the first argument that is a job), else every job module."""
    chosen = next((arg for arg in argv if arg in JOBS), None)
    names = [JOBS[chosen]] if chosen is not None else list(JOBS.values())
    return [importlib.import_module(name) for name in names]


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m pipelines", description="Pitwall batch jobs")
    subparsers = parser.add_subparsers(dest="job", required=True, metavar="<job>")
    for job in _modules(args_in):
        job.add_parser(subparsers)
    args = parser.parse_args(args_in)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
