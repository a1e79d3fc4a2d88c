"""``python -m pitwall`` / ``pitwall``: run the HTTP server with the contract's flags.

Exit status 2 with a one-line reason when the server cannot start: a non-loopback ``--host`` without
``--allow-remote``, the port already taken, or the database held by another process.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from pitwall import DATA_DIR, __version__
from pitwall.api.app import create_app
from pitwall.config import Settings, default_db_path
from pitwall.store import open_store
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
    p.add_argument("--version", action="version", version=f"pitwall {__version__}")
    p.add_argument("--host", default=defaults.host, help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=defaults.port, help="bind port (default 8765)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (remote viewers then need spectator tokens)",
    )
    p.add_argument("--db", type=Path, default=None, help=f"database file (default {default_db_path()})")
    p.add_argument(
        "--backend",
        choices=("duckdb", "sqlite"),
        default=None,
        help="storage backend (default: from the --db suffix; .sqlite/.sqlite3/.db → sqlite)",
    )
    p.add_argument(
        "--track",
        type=Path,
        default=defaults.track,
        help="active track JSON (default data/tracks/sonoma.json)",
    )
    p.add_argument(
        "--import-root",
        type=Path,
        action="append",
        default=None,
        dest="import_roots",
        help="folder /session/import may read from; repeatable (default: data/ and the working dir)",
    )
    p.add_argument("--can-channel", default=None, help="CAN channel, e.g. /dev/ttyACM0 for live SLCAN")
    p.add_argument(
        "--can-interface", default=defaults.can_interface, help="python-can interface (default virtual)"
    )
    p.add_argument(
        "--can-bitrate",
        type=int,
        default=defaults.can_bitrate,
        help="CAN bitrate (default 500000; 1000000 for the AiM MXP SmartyCam port)",
    )
    p.add_argument(
        "--can-car-config", type=Path, default=None, help="car YAML, e.g. data/cars/bmw_e46_m3.yaml"
    )
    p.add_argument(
        "--can-dbc",
        type=Path,
        nargs="+",
        default=list(defaults.can_dbc),
        help="DBC file(s) (default data/dbc/pitwall.dbc)",
    )
    p.add_argument("--simulate", action="store_true", help="run the built-in AiM-MXP synthetic generator")
    p.add_argument(
        "--simulate-speed",
        type=_positive_float,
        default=defaults.simulate_speed,
        help="replay speed multiplier (default 1.0)",
    )
    p.add_argument(
        "--simulate-lap-seconds",
        type=_positive_float,
        default=defaults.simulate_lap_seconds,
        help="one synthetic lap length, s (default 60)",
    )
    p.add_argument("--log-level", choices=LOG_LEVELS, default=defaults.log_level, help="default info")
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
    )


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    if not is_loopback(args.host) and not args.allow_remote:
        return _fail(
            f"refusing to listen on non-loopback host {args.host!r}; pass --allow-remote to expose the "
            "server (remote viewers need spectator tokens)"
        )
    settings = settings_from_args(args)
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
        open_store(settings.db, backend=settings.backend).close()
    except DatabaseLocked as exc:
        sock.close()
        return _fail(
            f"database {settings.db} is locked by another process ({exc}); stop it or choose another --db"
        )
    config = uvicorn.Config(
        create_app(settings), log_level=settings.log_level, lifespan="on", timeout_graceful_shutdown=5
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0
