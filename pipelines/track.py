"""``python -m pipelines track list|rename|move-start``: the user's own tracks (circuits learnt from
recordings, saved beside the database): list every track, rename a user track, move its start/finish line.

Bundled library tracks are not edited here (their hand-authored fields live in ``data/tracks/overrides``).
A running server picks the change up at its next start; ``PATCH /track/<id>`` edits through the server.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from pitwall.config import Settings, default_db_path, user_tracks_dir_for
from pitwall.formats.track import TrackLibrary

NAME = "track"


def add_parser(subparsers: Any) -> None:
    """Register the ``track`` job on the ``python -m pipelines`` dispatcher."""
    p = subparsers.add_parser(NAME, help="list tracks; rename a learnt track or move its start line")
    p.add_argument(
        "--db", type=Path, default=None, help=f"database whose user tracks to edit ({default_db_path()})"
    )
    p.add_argument("--tracks-dir", type=Path, default=Settings().tracks_dir, help="bundled track library")
    actions = p.add_subparsers(dest="action", required=True, metavar="<action>")
    actions.add_parser("list", help="every track: id, name, length, where it comes from")
    rename = actions.add_parser("rename", help="give a learnt track its name")
    rename.add_argument("track_id")
    rename.add_argument("name")
    move = actions.add_parser(
        "move-start", help="move a learnt track's start/finish line to a point (degrees)"
    )
    move.add_argument("track_id")
    move.add_argument("lat", type=float)
    move.add_argument("lon", type=float)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the action; 0 on success, 1 for an unknown or bundled track or a point off the track."""
    from pitwall.learned_tracks import with_start_at

    user_dir = user_tracks_dir_for(args.db or default_db_path())
    library = TrackLibrary(args.tracks_dir, user_dir=user_dir)
    if args.action == "list":
        for track in library.tracks:
            where = "user" if (user_dir / f"{track.id}.json").exists() else "library"
            print(f"{track.id:32} {track.name:40} {track.length_m:8.0f} m  {where}")
        return 0
    try:
        track = library.user_track(args.track_id)
        changed = (
            replace(track, name=args.name.strip())
            if args.action == "rename"
            else with_start_at(track, args.lat, args.lon)
        )
    except (KeyError, PermissionError, ValueError) as exc:
        print(f"track: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 1
    saved = library.add_user_track(changed)
    print(f"track: saved {saved}")
    return 0
