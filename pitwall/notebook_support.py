"""The set-up the marimo notebooks share: which database to open (and a parquet lake beside it: ``--lake`` or
``$PITWALL_LAKE``), reading it, loading session views.

Each function runs inside a notebook cell; where it cannot go on it stops that cell (``mo.stop``) with a
callout saying why, so the cells that depend on it do not run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from contextlib import closing
from pathlib import Path

import marimo as mo
import polars as pl

from pitwall.formats.track import TrackLibrary
from pitwall.session_view import SessionView, SessionViewError
from pitwall.store import open_store
from pitwall.store.base import Store


def database_field(default: Path) -> mo.ui.text:
    """The "Database file" field: the notebook's ``--db`` argument, else ``$PITWALL_DB``, else ``default``."""
    return mo.ui.text(
        value=str(mo.cli_args().get("db") or os.environ.get("PITWALL_DB") or default),
        label="Database file",
        full_width=True,
    )


def lake_location() -> str | None:
    """A parquet lake to open read-only beside the database (:mod:`pitwall.store.layered`): the notebook's
    ``--lake`` argument, else ``$PITWALL_LAKE``, else none."""
    value = mo.cli_args().get("lake") or os.environ.get("PITWALL_LAKE")
    return str(value) if value else None


def read_database(
    value: str, read: Callable[[Store], pl.DataFrame], *, empty: str
) -> tuple[Path, pl.DataFrame]:
    """``read`` on the database file ``value`` (``~`` expanded): the file's path and the rows read.

    Stops the cell when there is no file there, when it cannot be opened or read (with the reason), or when
    ``read`` returns no row (the callout then says ``"`<path>` " + empty``).
    """
    db_path = Path(value).expanduser()
    mo.stop(
        not db_path.is_file(),
        mo.callout(
            mo.md(f"No database at `{db_path}`. Build the sample one with `python -m pipelines sample-db`."),
            kind="warn",
        ),
    )
    try:
        with closing(open_store(db_path, lake=lake_location())) as store:
            rows = read(store)
    except Exception as exc:  # any failure to open means "not a usable database": say why
        mo.stop(True, mo.callout(mo.md(f"Cannot open `{db_path}`: {exc}"), kind="danger"))
    mo.stop(rows.height == 0, mo.callout(mo.md(f"`{db_path}` {empty}"), kind="warn"))
    return db_path, rows


def load_views(db_path: Path, session_ids: Iterable[str]) -> dict[str, SessionView]:
    """The session view of each id (tracks from the bundled :class:`TrackLibrary`), keyed by id; stops the
    cell with the error and its detail when a session cannot be analysed."""
    library = TrackLibrary()
    views: dict[str, SessionView] = {}
    try:
        with closing(open_store(db_path, lake=lake_location())) as store:
            for sid in session_ids:
                views[sid] = SessionView.load(store, sid, library, None)
    except SessionViewError as exc:
        mo.stop(True, mo.callout(mo.md(f"**{exc.error}**: {exc.detail}"), kind="warn"))
    return views
