"""``python -m pitwall`` / ``pitwall``: run the HTTP server with the contract's flags.

Exit status 2 with a one-line reason when the server cannot start: a non-loopback ``--host`` without
``--allow-remote``, the port already taken, or the database held by another process.
"""

from __future__ import annotations

import argparse
import errno
import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn

from pitwall import DATA_DIR, __version__
from pitwall.api.app import create_app
from pitwall.api.security import RedactTokens, is_loopback_host, parse_networks
from pitwall.config import Settings, default_db_path
from pitwall.store import BACKENDS, open_store, server_lock
from pitwall.store.base import DatabaseLocked

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 1..65535, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The server's argument parser (defaults as in the contract; paths relative to the working directory)."""
    defaults = Settings()
    p = argparse.ArgumentParser(prog="pitwall", description="Pitwall telemetry and coaching server.")

    def setting(flag: str, help_text: str, **options: Any) -> None:
        """A flag defaulting to the :class:`Settings` field it names (``--can-bitrate``: ``can_bitrate``)."""
        default = getattr(defaults, flag.removeprefix("--").replace("-", "_"))
        p.add_argument(flag, default=default, help=help_text, **options)

    p.add_argument("--version", action="version", version=f"pitwall {__version__}")
    setting("--host", "bind address (default 127.0.0.1)")
    setting("--port", "bind port (default 8765)", type=_port)
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (remote viewers then need spectator tokens)",
    )
    p.add_argument("--db", type=Path, default=None, help=f"database file (default {default_db_path()})")
    setting(
        "--backend",
        "storage backend (default: from the --db suffix; .sqlite/.sqlite3/.db → sqlite)",
        choices=BACKENDS,
    )
    setting("--track", "active track JSON (default data/tracks/sonoma.json)", type=Path)
    p.add_argument(
        "--import-root",
        type=Path,
        action="append",
        default=None,
        dest="import_roots",
        help="folder /session/import may read from; repeatable (default: data/ and the working dir)",
    )
    p.add_argument(
        "--upload-dir",
        type=Path,
        default=None,
        help="folder the web app's uploads are written to; it must lie under an --import-root "
        "(default: uploads/ in the first import root)",
    )
    p.add_argument(
        "--user-tracks-dir",
        type=Path,
        default=None,
        help="folder of circuits learnt from recordings (default: tracks/ beside the database)",
    )
    p.add_argument(
        "--lake",
        default=None,
        help="a parquet lake (folder or fsspec URL, written by `python -m pipelines export-lake`) opened "
        "read-only beside the database: its sessions are listed, analysed and ranked with yours",
    )
    setting("--can-channel", "CAN channel, e.g. /dev/ttyACM0 for live SLCAN")
    setting("--can-interface", "python-can interface (default virtual)")
    setting("--can-bitrate", "CAN bitrate (default 500000; 1000000 for the AiM MXP SmartyCam port)", type=int)
    setting("--can-car-config", "car YAML, e.g. data/cars/bmw_e46_m3.yaml", type=Path)
    setting("--can-dbc", "DBC file(s) (default data/dbc/pitwall.dbc)", type=Path, nargs="+")
    setting("--simulate", "run the built-in AiM-MXP synthetic generator", action="store_true")
    setting("--simulate-speed", "replay speed multiplier (default 1.0)", type=_positive_float)
    setting("--simulate-lap-seconds", "one synthetic lap length, s (default 60)", type=_positive_float)
    setting("--log-level", "default info", choices=LOG_LEVELS)
    p.add_argument(
        "--cors-origin",
        action="append",
        default=None,
        dest="cors_origins",
        help="browser origin allowed to call the API (e.g. http://192.168.1.20:5173); repeatable; replaces the "
        "default list (the PWA's dev/preview ports 5173/4173 on localhost); the app's own origin is always allowed",
    )
    p.add_argument(
        "--trusted-proxy",
        action="append",
        default=None,
        dest="trusted_proxies",
        metavar="CIDR",
        help="reverse proxy whose Forwarded/X-Forwarded-For/X-Real-IP headers are believed (e.g. 127.0.0.1/32); "
        "repeatable; none by default: forwarded requests are then remote spectators (see SECURITY.md)",
    )
    return p


def _absolute(path: Path) -> Path:
    return path.expanduser().resolve()


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings for parsed arguments; every path made absolute against the working directory."""
    defaults = Settings()
    return Settings(
        host=args.host,
        port=args.port,
        db=_absolute(args.db) if args.db is not None else defaults.db,
        backend=args.backend,
        track=_absolute(args.track),
        import_roots=tuple(_absolute(p) for p in args.import_roots)
        if args.import_roots
        else (DATA_DIR, Path.cwd()),
        can_channel=args.can_channel,
        can_interface=args.can_interface,
        can_bitrate=args.can_bitrate,
        can_car_config=_absolute(args.can_car_config) if args.can_car_config is not None else None,
        can_dbc=tuple(_absolute(p) for p in args.can_dbc),
        simulate=args.simulate,
        simulate_speed=args.simulate_speed,
        simulate_lap_seconds=args.simulate_lap_seconds,
        log_level=args.log_level,
        cors_origins=tuple(args.cors_origins) if args.cors_origins else defaults.cors_origins,
        trusted_proxies=tuple(args.trusted_proxies or ()),
        upload_dir=_absolute(args.upload_dir) if args.upload_dir is not None else None,
        user_tracks_dir=_absolute(args.user_tracks_dir) if args.user_tracks_dir is not None else None,
        lake=args.lake,
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (raises ``OSError``, e.g. ``EADDRINUSE``)."""
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(info[4])
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _fail(message: str) -> int:
    print(f"pitwall: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags, check the address, port and database, then serve until interrupted."""
    args = build_parser().parse_args(argv)
    if is_loopback_host(args.host) is not True and not args.allow_remote:
        return _fail(
            f"refusing to listen on non-loopback host {args.host!r}; pass --allow-remote to expose the "
            "server (remote viewers need spectator tokens)"
        )
    settings = settings_from_args(args)
    try:
        parse_networks(settings.trusted_proxies)
    except ValueError as exc:
        return _fail(str(exc))
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    try:
        sock = bind_socket(settings.host, settings.port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return _fail(
                f"port {settings.port} on {settings.host} is already in use (another pitwall?); "
                "choose another with --port"
            )
        return _fail(f"cannot listen on {settings.host}:{settings.port}: {exc}")
    try:
        server_lock.hold(settings.db)  # held until the process exits (tools that replace files check it)
        open_store(settings.db, backend=settings.backend).close()
    except DatabaseLocked as exc:
        sock.close()
        return _fail(
            f"database {settings.db} is locked by another process ({exc}); stop it or choose another --db"
        )
    shown_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    print(
        f"pitwall {__version__}: open http://{shown_host}:{settings.port}/ (API docs: /schema) "
        f"· database {settings.db} ({settings.backend_name})",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        create_app(settings),
        log_level=settings.log_level,
        lifespan="on",
        timeout_graceful_shutdown=5,
        proxy_headers=False,  # the remote-access guard reads forwarding headers, from trusted proxies only
    )
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
    uvicorn.Server(config).run(sockets=[sock])
    return 0
