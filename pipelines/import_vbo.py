"""``python -m pipelines import PATH... --db FILE``: bulk-import logger files (and folders of them).

Every supported format is picked up by its content, not its extension (VBO and its variants, RaceChrono CSV
v3, RaceCapture ``.log``; :mod:`pitwall.formats.detect`); a file in a folder that no reader recognises is
listed as ``unsupported`` with what it looks like. Files are parsed in parallel worker processes (``--jobs``,
or automatically for large batches) and written by this one process (one writer). Imports are idempotent (a
recording whose data is already stored is ``skipped``, whatever its header bytes); a bad file is ``failed``
and the batch goes on; the exit status is 1 when any file failed or when the given folders held files but
none of them could be imported. ``--json`` prints one object per
file; otherwise a progress bar (stderr, TTY only) and a summary table. When the database is held by a running
server, ``--server URL`` hands the files to that server's ``POST /session/import`` instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from pitwall.config import Settings, default_db_path, user_tracks_dir_for
from pitwall.formats.detect import HEAD_BYTES, describe, detect_format
from pitwall.formats.track import TrackLibrary
from pitwall.importer import ImportResult, ParsedImport, import_vbo_file, parse_for_import
from pitwall.store import open_store
from pitwall.store.base import DatabaseLocked, Store, StoreError

NAME = "import"

AUTO_PARALLEL_BYTES = 256 << 20
"""Without ``--jobs``, parse in worker processes only from this many bytes of VBO: parsing runs at roughly
100 MB/s per core while starting a worker costs about a second, so smaller batches are faster in-process."""

Status = Literal["imported", "skipped", "failed", "unsupported"]


@dataclass(frozen=True)
class FileOutcome:
    """One line of the report (``--json`` prints exactly these keys)."""

    file: str
    session_id: str | None
    status: Status
    rows: int | None
    duration_s: float | None  # seconds
    distance_m: float | None  # metres
    error: str | None

    @classmethod
    def of(cls, result: ImportResult) -> FileOutcome:
        return cls(
            str(result.path),
            result.session_id,
            result.status,
            result.n_frames,
            result.duration_s,
            result.distance_m,
            None,
        )

    @classmethod
    def failed(cls, path: Path, error: str) -> FileOutcome:
        return cls(str(path), None, "failed", None, None, None, error)

    @classmethod
    def unsupported(cls, path: Path, head: bytes) -> FileOutcome:
        reason = f"unsupported format (looks like {describe(head)})"
        return cls(str(path), None, "unsupported", None, None, None, reason)


def add_parser(subparsers: Any) -> None:
    """Register the ``import`` job on the ``python -m pipelines`` dispatcher."""
    p = subparsers.add_parser(
        NAME,
        help="import logger files and folders (VBO, RaceChrono CSV, RaceCapture .log; recursive) into a database",
    )
    p.add_argument("paths", nargs="+", type=Path, help="logger files and/or folders")
    p.add_argument("--db", type=Path, default=None, help=f"database file (default {default_db_path()})")
    p.add_argument(
        "--backend", choices=("duckdb", "sqlite"), default=None, help="default: from the --db suffix"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per file on stdout, no progress bar")
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="parser processes (default: all cores when the files total 256 MiB or more, else 1)",
    )
    p.add_argument("--driver", default="", help="driver name stored with every imported session")
    p.add_argument(
        "--tracks-dir", type=Path, default=Settings().tracks_dir, help="track library for detection"
    )
    p.add_argument(
        "--server",
        default=None,
        metavar="URL",
        help="send the files to a running server (e.g. http://127.0.0.1:8765) instead of opening --db",
    )
    p.set_defaults(run=run)


def find_logger_files(paths: Iterable[Path]) -> tuple[list[Path], list[FileOutcome]]:
    """Files given directly plus every file under given folders whose content a reader recognises (hidden
    files skipped), sorted per folder and de-duplicated. Folder files no reader recognises come back as
    ``unsupported`` outcomes (with what they look like), paths that do not exist as ``failed`` ones; a file
    given directly always goes to its reader, which names the problem."""
    files: dict[Path, None] = {}
    others: list[FileOutcome] = []
    for path in paths:
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
                try:
                    with found.open("rb") as fh:
                        head = fh.read(HEAD_BYTES)
                except OSError as exc:
                    others.append(FileOutcome.failed(found, f"cannot read file: {exc.strerror or exc}"))
                    continue
                if detect_format(head) is None:
                    others.append(FileOutcome.unsupported(found, head))
                else:
                    files[found.resolve()] = None
        elif path.is_file():
            files[path.resolve()] = None
        else:
            others.append(FileOutcome.failed(path, "no such file or folder"))
    return list(files), others


def _parse_job(path: Path, legacy_hash: bool) -> ParsedImport | str:
    """Worker: the parsed file (with its legacy hash when asked, see :func:`parse_for_import`), or the reason
    it cannot be parsed (a string pickles safely)."""
    try:
        return parse_for_import(path, legacy_hash=legacy_hash)
    except Exception as exc:  # every per-file failure is reported, none stops the batch
        return str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"


def parsed_in_order(
    paths: list[Path], jobs: int, *, legacy_hash: bool = False
) -> Iterator[tuple[Path, ParsedImport | str]]:
    """``(path, parsed or error)`` in the order of ``paths``; parsed by ``jobs`` spawned processes with at most
    ``2 × jobs`` files in flight (bounded memory); ``legacy_hash`` as in :func:`parse_for_import`."""
    if jobs <= 1 or len(paths) <= 1:
        yield from ((path, _parse_job(path, legacy_hash)) for path in paths)
        return
    with ProcessPoolExecutor(max_workers=min(jobs, len(paths)), mp_context=get_context("spawn")) as pool:
        queue = iter(paths)
        window: deque[tuple[Path, Future[ParsedImport | str]]] = deque()
        for path in queue:
            window.append((path, pool.submit(_parse_job, path, legacy_hash)))
            if len(window) >= 2 * jobs:
                break
        while window:
            path, future = window.popleft()
            if (following := next(queue, None)) is not None:
                window.append((following, pool.submit(_parse_job, following, legacy_hash)))
            try:
                yield path, future.result()
            except Exception as exc:  # a crashed worker fails its file only
                yield path, f"parser process failed: {type(exc).__name__}: {exc}"


def import_into_store(
    store: Store,
    files: list[Path],
    *,
    library: TrackLibrary | None,
    driver: str,
    jobs: int,
    on_outcome: Callable[[FileOutcome], None],
) -> None:
    """Import ``files`` into ``store``: parsed in parallel, written here one by one (a recording already
    stored is ``skipped`` by its data hash)."""
    for path, parsed in parsed_in_order(files, jobs, legacy_hash=store.holds_legacy_hashes()):
        if isinstance(parsed, str):
            on_outcome(FileOutcome.failed(path, parsed))
            continue
        try:
            on_outcome(FileOutcome.of(import_vbo_file(store, parsed, library=library, driver=driver)))
        except Exception as exc:  # a failed write (rolled back by the store) fails this file only
            on_outcome(FileOutcome.failed(path, f"{type(exc).__name__}: {exc}"))


def import_via_server(
    server: str, files: list[Path], *, driver: str, on_outcome: Callable[[FileOutcome], None]
) -> None:
    """Hand each file to ``POST {server}/session/import`` (the server parses and writes)."""
    url = server.rstrip("/") + "/session/import"
    for path in files:
        body = json.dumps({"vbo_path": str(path), "driver": driver}).encode()
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                answer = json.load(response)
            on_outcome(
                FileOutcome(
                    str(path),
                    answer["session_id"],
                    "imported",
                    answer["n_frames"],
                    answer["duration_s"],
                    answer["distance_m"],
                    None,
                )
            )
        except urllib.error.HTTPError as exc:
            error = json.loads(exc.read() or b"{}")
            if exc.code == 409 and error.get("error") == "already imported":
                on_outcome(
                    FileOutcome(str(path), error["detail"]["session_id"], "skipped", None, None, None, None)
                )
            else:
                on_outcome(
                    FileOutcome.failed(path, f"HTTP {exc.code} {error.get('error')}: {error.get('detail')}")
                )
        except (urllib.error.URLError, OSError) as exc:
            on_outcome(FileOutcome.failed(path, f"cannot reach {url}: {exc}"))


def _jobs(requested: int | None, files: list[Path]) -> int:
    """``--jobs`` when given, else all cores for batches of :data:`AUTO_PARALLEL_BYTES` or more, else 1."""
    if requested is not None:
        return max(1, requested)
    total = sum(path.stat().st_size for path in files)
    return (os.cpu_count() or 1) if total >= AUTO_PARALLEL_BYTES else 1


def _summary(outcomes: list[FileOutcome]) -> Table:
    table = Table(title="Import")
    for column in ("file", "session_id", "rows", "duration", "distance", "status"):
        numeric = column in {"rows", "duration", "distance"}
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for o in outcomes:
        table.add_row(
            Path(o.file).name,
            o.session_id or "",
            "" if o.rows is None else f"{o.rows:,}",
            "" if o.duration_s is None else f"{o.duration_s:.1f} s",
            "" if o.distance_m is None else f"{o.distance_m / 1000:.2f} km",
            o.status if o.error is None else f"{o.status}: {o.error}",
        )
    return table


def run(args: argparse.Namespace) -> int:
    """Run the job; 0 when every file was imported or skipped, 1 when any failed, 2 when nothing could run."""
    files, outcomes = find_logger_files(args.paths)
    quiet = args.json or not sys.stderr.isatty()
    progress = Progress(console=Console(stderr=True), disable=quiet, transient=True)
    task = progress.add_task("importing", total=len(files))

    def report(outcome: FileOutcome) -> None:
        outcomes.append(outcome)
        progress.update(task, advance=1, description=Path(outcome.file).name)
        if args.json:
            print(json.dumps(asdict(outcome)), flush=True)

    if args.json:
        for outcome in outcomes:
            print(json.dumps(asdict(outcome)), flush=True)
    with progress:
        if args.server:
            import_via_server(args.server, files, driver=args.driver, on_outcome=report)
        else:
            db = args.db or default_db_path()
            try:
                store = open_store(db, backend=args.backend)
            except DatabaseLocked:
                print(
                    f"import: database {db} is in use by another process (a running pitwall server?).\n"
                    f"Stop it, or hand the files to that server instead:\n"
                    f"  python -m pipelines import {' '.join(str(p) for p in args.paths)} "
                    "--server http://127.0.0.1:8765",
                    file=sys.stderr,
                )
                return 2
            except (StoreError, OSError) as exc:
                print(f"import: cannot open database {db}: {exc}", file=sys.stderr)
                return 2
            user_tracks = user_tracks_dir_for(db)
            library = (
                TrackLibrary(args.tracks_dir, user_dir=user_tracks) if args.tracks_dir.is_dir() else None
            )
            try:
                import_into_store(
                    store,
                    files,
                    library=library,
                    driver=args.driver,
                    jobs=_jobs(args.jobs, files),
                    on_outcome=report,
                )
            finally:
                store.close()
    if not args.json:
        Console(width=None if sys.stdout.isatty() else 160).print(_summary(outcomes))
    if any(o.status == "failed" for o in outcomes):
        return 1
    if not any(o.status in ("imported", "skipped") for o in outcomes):
        print("import: nothing imported (no supported logger file found)", file=sys.stderr)
        return 1
    return 0
