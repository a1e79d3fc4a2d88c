"""Load one or several DBC files (``--can-dbc`` accepts several) into one cantools database.

cantools parses the files; Pitwall decodes with its own vectorised decoder (``pitwall.live.decode``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import cantools
import cantools.database
from cantools.database.can import Database, Message, Node

from pitwall.formats.errors import ReadError

_LINE_RE = re.compile(r"line (\d+)")


def _frame_key(message: Message) -> tuple[int, bool]:
    return int(message.frame_id), bool(message.is_extended_frame)


def _load_one(path: Path) -> Database:
    if not path.is_file():
        raise ReadError(path, "DBC file not found")
    try:
        db = cantools.database.load_file(path, database_format="dbc", strict=True)
    except (cantools.database.Error, UnicodeDecodeError, ValueError) as exc:
        text = str(exc)
        match = _LINE_RE.search(text)
        raise ReadError(
            path, f"not a valid DBC file: {text}", line=int(match.group(1)) if match else None
        ) from exc
    if not isinstance(db, Database):  # pragma: no cover - database_format="dbc" always gives a CAN database
        raise ReadError(path, "not a CAN database")
    if not db.messages:
        raise ReadError(path, "DBC file defines no messages")
    return db


def load_dbc(paths: Sequence[Path]) -> Database:
    """Load and merge DBC files into one database.

    The same frame (id and id width) may appear in several files only if defined identically (same name,
    length and signals); a conflicting redefinition is a :class:`ReadError` naming both files, as is any
    file cantools cannot parse, an empty file, or no path at all.
    """
    if not paths:
        raise ReadError("<none>", "no DBC file given")
    messages: dict[tuple[int, bool], tuple[Message, Path]] = {}
    nodes: dict[str, Node] = {}
    for raw_path in paths:
        path = Path(raw_path)
        db = _load_one(path)
        for node in db.nodes:
            nodes.setdefault(node.name, node)
        for message in db.messages:
            key = _frame_key(message)
            if key in messages:
                previous, previous_path = messages[key]
                if _same_layout(previous, message):
                    continue
                raise ReadError(
                    path,
                    f"frame 0x{key[0]:X} ({message.name}) conflicts with {previous.name} in {previous_path}",
                )
            messages[key] = (message, path)
    merged = Database(messages=[m for m, _ in messages.values()], nodes=list(nodes.values()), strict=True)
    merged.refresh()
    return merged


def _same_layout(a: Message, b: Message) -> bool:
    def layout(m: Message) -> tuple[object, ...]:
        return (
            m.name,
            m.length,
            tuple(
                (s.name, s.start, s.length, s.byte_order, s.is_signed, s.scale, s.offset, s.is_float)
                for s in m.signals
            ),
        )

    return layout(a) == layout(b)
