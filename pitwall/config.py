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


def user_tracks_dir_for(db: Path) -> Path:
    """The default folder of user tracks (circuits learnt from recordings) for database ``db``."""
    return db.parent / "tracks"


def default_db_path() -> Path:
    """``$PITWALL_DB`` or ``$XDG_DATA_HOME/pitwall/pitwall.duckdb`` (``~/.local/share/…``)."""
    if env := os.environ.get("PITWALL_DB"):
        return Path(env)
    base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "pitwall" / "pitwall.duckdb"


PWA_ORIGINS: Final = tuple(
    f"http://{host}:{port}" for port in (5173, 4173) for host in ("localhost", "127.0.0.1")
)
"""Default CORS allow-list: the PWA's Vite dev (5173) and preview (4173) servers on this machine."""


@dataclass(frozen=True)
class LlmConfig:
    """The optional language model (:mod:`pitwall.coach.llm`): ``url`` (base URL of an OpenAI-compatible API,
    ``None`` = no model), ``model`` (sent as is; many local servers ignore it) and ``timeout_s`` (seconds for
    the whole reply)."""

    url: str | None = None
    model: str = "local"
    timeout_s: float = 20.0

    @property
    def enabled(self) -> bool:
        return bool(self.url)


def llm_config_from_env() -> LlmConfig:
    """The optional language model from ``PITWALL_LLM_URL`` (base URL of an OpenAI-compatible API; unset = none),
    ``PITWALL_LLM_MODEL`` (default ``local``) and ``PITWALL_LLM_TIMEOUT_S`` (default 20)."""
    default = LlmConfig()
    return LlmConfig(
        url=os.environ.get("PITWALL_LLM_URL") or None,
        model=os.environ.get("PITWALL_LLM_MODEL") or default.model,
        timeout_s=float(os.environ.get("PITWALL_LLM_TIMEOUT_S") or default.timeout_s),
    )


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
    cors_origins: tuple[str, ...] = PWA_ORIGINS  # browser origins allowed besides the app's own
    trusted_proxies: tuple[
        str, ...
    ] = ()  # CIDR blocks whose forwarding headers are believed (none by default)
    llm: LlmConfig = field(
        default_factory=lambda: llm_config_from_env()
    )  # optional model (pitwall.coach.llm)
    upload_dir: Path | None = None  # browser uploads; None = uploads/ in the first import root
    user_tracks_dir: Path | None = None  # circuits learnt from recordings; None = tracks/ beside the database
    lake: str | None = None  # a parquet lake opened read-only beside the database (pitwall.store.layered)

    @property
    def user_tracks_path(self) -> Path:
        """Where learnt circuits are saved and read: :attr:`user_tracks_dir`, else ``tracks/`` beside the db."""
        return self.user_tracks_dir or user_tracks_dir_for(self.db)

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        """The CORS allow-list: :attr:`cors_origins` plus the app's own origin (``localhost`` too when the
        server listens on 127.0.0.1)."""
        hosts = [self.host, "localhost"] if self.host == "127.0.0.1" else [self.host]
        own = [f"http://{host}:{self.port}" for host in hosts]
        return tuple(dict.fromkeys([*self.cors_origins, *own]))

    @property
    def backend_name(self) -> str:
        """The storage backend: explicit ``backend`` or inferred from the db file suffix."""
        return self.backend or backend_for(self.db)
