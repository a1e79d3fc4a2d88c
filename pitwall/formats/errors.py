"""The one exception type every reader raises for input it cannot read."""

from __future__ import annotations

from pathlib import Path


class ReadError(ValueError):
    """A file (or payload) that cannot be read: names the file, the 1-based line (when known) and the reason."""

    def __init__(self, path: str | Path, reason: str, *, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")

    def __reduce__(self) -> tuple[object, tuple[str, str, int | None]]:
        # Picklable across worker processes (the bulk importer parses in a process pool).
        return (_rebuild, (self.path, self.reason, self.line))


def _rebuild(path: str, reason: str, line: int | None) -> ReadError:
    return ReadError(path, reason, line=line)
