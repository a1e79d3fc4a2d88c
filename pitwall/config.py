"""Runtime settings: one frozen dataclass built from CLI flags and ``PITWALL_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from pitwall import DATA_DIR

SQLITE_SUFFIXES: Final = frozenset({".sqlite", ".sqlite3", ".db"})


def backend_for(path: str | Path) -> str:
    """The storage backend a database file gets by default: ``sqlite`` for a ``.sqlite``/``.sqlite3``/``.db``
    file, else ``duckdb``."""
    return "sqlite" if Path(path).suffix.lower() in SQLITE_SUFFIXES else "duckdb"


def default_db_path() -> Path:
    """``$PITWALL_DB`` or ``$XDG_DATA_HOME/pitwall/pitwall.duckdb`` (``~/.local/share/…``)."""
    if env := os.environ.get("PITWALL_DB"):
        return Path(env)
    base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "pitwall" / "pitwall.duckdb"


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to start. Paths are absolute after :meth:`resolved`."""

    host: str = "127.0.0.1"
    port: int = 8765
    db: Path = field(default_factory=default_db_path)
    backend: str | None = None  # "duckdb" | "sqlite"; None = from the db suffix
    track: Path = DATA_DIR / "tracks" / "sonoma.json"
    tracks_dir: Path = DATA_DIR / "tracks"
    cars_dir: Path = DATA_DIR / "cars"
    import_roots: tuple[Path, ...] = (DATA_DIR, Path.cwd())
    can_channel: str | None = None
    can_interface: str = "virtual"
    can_bitrate: int = 500_000
    can_car_config: Path | None = None
    can_dbc: tuple[Path, ...] = (DATA_DIR / "dbc" / "pitwall.dbc",)
    simulate: bool = False
    simulate_speed: float = 1.0
    simulate_lap_seconds: float = 60.0
    log_level: str = "info"
    upload_dir: Path | None = None  # browser uploads; None = uploads/ in the first import root

    @property
    def backend_name(self) -> str:
        """The storage backend: explicit ``backend`` or inferred from the db file suffix."""
        return self.backend or backend_for(self.db)
