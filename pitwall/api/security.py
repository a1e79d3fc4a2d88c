"""Remote-access guard: the owner is on loopback; anyone else is a read-only spectator with a token.

Policy, applied app-wide by :class:`RemoteAccessGuard` (a Litestar middleware, so it runs for every route):

* a **loopback** client (``127.0.0.0/8``, ``::1``, IPv4-mapped loopback) is the owner and needs nothing;
* any **other** client may only ``GET``/``HEAD`` (the SSE streams and read routes), and only with a valid
  spectator token, sent as ``Authorization: Bearer <token>`` or ``?token=<token>``. Missing, unknown,
  expired or revoked token → 401; any other method → 403; tokens cannot be checked without a database → 503;
* the web app's static files (``/``, ``/sw.js``, ``/manifest.webmanifest``, ``/app/…``) are readable by anyone.
  Every refusal uses the one error shape ``{"error", "detail"}``.

The client address is the ASGI ``scope["client"]`` host — behind a reverse proxy on the same machine this
is the forwarded client that uvicorn's proxy-header handling puts there (trusted only from 127.0.0.1), so a
proxied remote viewer is still a spectator. A client that carries no IP address (a Unix-socket peer or an
in-process test transport) is the owner when the server listens on loopback only, and a spectator
otherwise (fail closed once the server is reachable from the network).

Tokens are ``secrets.token_urlsafe(32)`` strings; only their SHA-256 (:func:`hash_token`) is stored.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import UTC, datetime
from typing import Any, Final

import anyio.to_thread
import msgspec
from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from pitwall.config import Settings

READ_METHODS: Final = frozenset({"GET", "HEAD"})
PUBLIC_PATHS: Final = frozenset({"/", "/sw.js", "/manifest.webmanifest"})
PUBLIC_PREFIX: Final = "/app/"
"""The web app's static files (no data): any client may read them, so a spectator's browser can load the
page its token link opens."""


def hash_token(token: str) -> str:
    """The stored form of a spectator token: SHA-256, lowercase hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_loopback_host(host: str | None) -> bool | None:
    """True/False for an IP address (or ``localhost``) on/off loopback; ``None`` when ``host`` is not an IP."""
    if host is None:
        return None
    if host.lower() == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def client_is_owner(client: Any, *, listens_beyond_loopback: bool) -> bool:
    """Whether an ASGI ``scope["client"]`` value is the local owner (see the module policy)."""
    host = client[0] if client else None
    loopback = is_loopback_host(host)
    return (not listens_beyond_loopback) if loopback is None else loopback


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The token from ``Authorization: Bearer …`` or the ``token`` query parameter (header wins)."""
    scheme, _, value = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return connection.query_params.get("token") or None


class RemoteAccessGuard(ASGIMiddleware):
    """Refuse what a non-owner client may not do; pass everything else through unchanged.

    ``listens_beyond_loopback``: the server's bind address is not loopback (``--host 0.0.0.0`` with
    ``--allow-remote``), so clients without an IP address are treated as remote.
    """

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    def __init__(self, *, listens_beyond_loopback: bool) -> None:
        self.listens_beyond_loopback = listens_beyond_loopback

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if client_is_owner(scope.get("client"), listens_beyond_loopback=self.listens_beyond_loopback):
            await next_app(scope, receive, send)
            return
        refusal = await self._refusal(scope)
        if refusal is None:
            await next_app(scope, receive, send)
        elif scope["type"] == ScopeType.WEBSOCKET:
            await send({"type": "websocket.close", "code": 1008, "reason": refusal[1]})
        else:
            await _send_error(send, *refusal)

    async def _refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        """``(status, error, detail)`` when a remote client must be refused, else ``None``."""
        method = scope.get("method", "GET")
        path = scope.get("path", "")
        if method in READ_METHODS and (path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIX)):
            return None
        if scope["type"] == ScopeType.HTTP and method not in READ_METHODS:
            return 403, "forbidden", f"remote clients may only read (GET); {method} is reserved to the owner"
        token = bearer_token(ASGIConnection(scope))
        if token is None:
            return 401, "token required", "send a spectator token as 'Authorization: Bearer …' or '?token='"
        store = Litestar.from_scope(scope).state.get("store")
        if store is None:
            return 503, "no database", "spectator tokens cannot be checked without the database"
        valid = await anyio.to_thread.run_sync(
            lambda: bool(store.spectator_token_valid(hash_token(token), now=datetime.now(UTC)))
        )
        return None if valid else (401, "invalid token", "the token is unknown, expired or revoked")


async def _send_error(send: Send, status: int, error: str, detail: str) -> None:
    body = msgspec.json.encode({"error": error, "detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *([(b"www-authenticate", b'Bearer realm="pitwall"')] if status == 401 else []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def remote_access_guard(settings: Settings) -> RemoteAccessGuard:
    """The guard for an app served per ``settings`` (a bind host that is not plainly loopback counts as
    reachable from the network)."""
    return RemoteAccessGuard(listens_beyond_loopback=is_loopback_host(settings.host) is not True)
