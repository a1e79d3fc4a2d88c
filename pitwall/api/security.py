"""Remote-access guard: the owner is on loopback; anyone else is a read-only spectator with a token.

Policy, applied app-wide by :class:`RemoteAccessGuard` (a Litestar middleware, so it runs for every route;
the threat model is in ``SECURITY.md``):

* a **loopback** client (``127.0.0.0/8``, ``::1``, IPv4-mapped loopback) is the owner and needs nothing;
* any **other** client may only ``GET``/``HEAD`` (the SSE streams and read routes), and only with a valid
  spectator token, sent as ``Authorization: Bearer <token>`` or ``?token=<token>``. Missing, unknown,
  expired or revoked token → 401; any other method → 403; tokens cannot be checked without a database → 503.
  A token issued for one session (``POST /spectator/token {session_id}``) reads only that session: another
  session's routes → 403, and the streams are narrowed to it.
* the web app's static files (``/``, ``/sw.js``, ``/manifest.webmanifest``, ``/app/…``) are readable by anyone.
  Every refusal uses the one error shape ``{"error", "detail"}``.

**Who the client is.** The address is the TCP peer (uvicorn runs without its own proxy-header handling).
Forwarding headers (``Forwarded``, ``X-Forwarded-For``, ``X-Real-IP``) are believed only when the peer is a
configured trusted proxy (``--trusted-proxy CIDR``, none by default): the client is then the right-most
address of the chain that is not itself a trusted proxy, and a value that is not an IP address
(``unknown``, an obfuscated ``_name``, garbage, empty) makes the client remote. A request that carries any
forwarding header through a peer that is *not* trusted is remote too (a local reverse proxy that was not
declared must not turn the world into the owner). A client that carries no IP address (a Unix-socket peer or
an in-process test transport) is the owner when the server listens on loopback only, and a spectator
otherwise (fail closed once the server is reachable from the network).

Tokens are ``secrets.token_urlsafe(32)`` strings; only their SHA-256 (:func:`hash_token`) is stored, and
:class:`RedactTokens` keeps them out of the access log.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

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


FORWARDING_HEADERS: Final = (b"forwarded", b"x-forwarded-for", b"x-real-ip")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Sequence[str]) -> tuple[Network, ...]:
    """CIDR blocks (or single addresses) of trusted proxies; ``ValueError`` naming a bad one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"trusted proxy {value!r} is not an IP address or CIDR block: {exc}") from None
    return tuple(networks)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address from a forwarding-header element (``1.2.3.4``, ``1.2.3.4:80``, ``"[::1]:80"``), else None."""
    value = text.strip().strip('"')
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def forwarded_chain(headers: Iterable[tuple[bytes, bytes]]) -> list[str] | None:
    """The client chain of the forwarding headers, client first (``Forwarded`` ``for=`` values, else
    ``X-Forwarded-For``, else ``X-Real-IP``); ``None`` when the request carries none of them."""
    found: dict[bytes, list[str]] = {}
    for name, value in headers:
        if name.lower() in FORWARDING_HEADERS:
            found.setdefault(name.lower(), []).append(value.decode("latin-1"))
    if not found:
        return None
    if b"forwarded" in found:
        chain = []
        for element in ",".join(found[b"forwarded"]).split(","):
            pairs = dict(p.strip().partition("=")[::2] for p in element.split(";") if "=" in p)
            chain.append(pairs.get("for", pairs.get("For", "")))
        return chain
    if b"x-forwarded-for" in found:
        return [part for value in found[b"x-forwarded-for"] for part in value.split(",")]
    return found[b"x-real-ip"][-1:]


def is_owner(scope: Scope, *, listens_beyond_loopback: bool, trusted: Sequence[Network] = ()) -> bool:
    """Whether the request of ``scope`` comes from the owner (see the module policy on forwarding headers)."""
    client = scope.get("client")
    chain = forwarded_chain(scope.get("headers") or ())
    if chain is None:
        return client_is_owner(client, listens_beyond_loopback=listens_beyond_loopback)
    peer = _ip(client[0]) if client else None
    if peer is None or not any(peer in net for net in trusted):
        return False  # forwarded through a proxy nobody declared: never the owner
    for element in reversed(chain):
        address = _ip(element)
        if address is None:
            return False  # unknown / obfuscated / garbage: remote
        if not any(address in net for net in trusted):
            return is_loopback_host(str(address)) is True
    return True  # every hop is a trusted proxy on this side: the request started at the proxy itself


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

    def __init__(self, *, listens_beyond_loopback: bool, trusted_proxies: Sequence[Network] = ()) -> None:
        self.listens_beyond_loopback = listens_beyond_loopback
        self.trusted_proxies = tuple(trusted_proxies)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if is_owner(
            scope, listens_beyond_loopback=self.listens_beyond_loopback, trusted=self.trusted_proxies
        ):
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
        token_hash = hash_token(token)
        valid, scoped = await anyio.to_thread.run_sync(lambda: _token_state(store, token_hash))
        if not valid:
            return 401, "invalid token", "the token is unknown, expired or revoked"
        scope.setdefault("state", {})[SPECTATOR_STATE] = Spectator(token_hash, scoped)
        return None if scoped is None else _scope_refusal(scope, scoped)


SPECTATOR_STATE: Final = "pitwall_spectator"
"""Key of :class:`Spectator` in the request state of an admitted spectator (read by the SSE streams)."""

_SESSION_PATH: Final = re.compile(r"^/(?:session|conversations)/([^/]+)")


@dataclass(frozen=True)
class Spectator:
    """An admitted spectator: the stored hash of its token and the session it is limited to (or ``None``)."""

    token_hash: str
    session_id: str | None


def _token_state(store: Any, token_hash: str) -> tuple[bool, str | None]:
    return (
        bool(store.spectator_token_valid(token_hash, now=datetime.now(UTC))),
        store.spectator_token_session(token_hash),
    )


def token_still_valid(store: Any, spectator: Spectator) -> bool:
    """Whether an admitted spectator's token is still valid (not revoked, not expired): open streams ask."""
    return bool(store.spectator_token_valid(spectator.token_hash, now=datetime.now(UTC)))


def _scope_refusal(scope: Scope, session_id: str) -> tuple[int, str, str] | None:
    """A session-scoped token: another session's routes are refused; the streams' ``session_id`` is set."""
    path = scope.get("path", "")
    other = _SESSION_PATH.match(path)
    if other is not None and other.group(1) not in (session_id, "replay"):
        return 403, "forbidden", f"this spectator token is for session {session_id} only"
    if path in ("/telemetry/stream", "/cues/stream"):
        query = [
            (k, v)
            for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"))
            if k != "session_id"
        ]
        asked = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))).get("session_id")
        if asked not in (None, session_id):
            return 403, "forbidden", f"this spectator token is for session {session_id} only"
        scope["query_string"] = urlencode([*query, ("session_id", session_id)]).encode("latin-1")
    return None


_TOKEN_IN_QUERY: Final = re.compile(r"(?i)([?&]token=)[^&\s\"]+")


def redact(text: str) -> str:
    """``text`` with every ``token=…`` query value replaced by ``***``."""
    return _TOKEN_IN_QUERY.sub(r"\1***", text)


class RedactTokens(logging.Filter):
    """Keep spectator tokens out of logs: redact ``token=…`` in a record's message and arguments (installed
    on uvicorn's access logger by the CLI)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


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
    reachable from the network; forwarding headers are believed from ``settings.trusted_proxies`` only)."""
    return RemoteAccessGuard(
        listens_beyond_loopback=is_loopback_host(settings.host) is not True,
        trusted_proxies=parse_networks(settings.trusted_proxies),
    )
