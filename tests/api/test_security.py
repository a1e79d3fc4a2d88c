"""The remote-access guard: loopback is the owner; anyone else reads with a spectator token or is refused.

Remote clients are produced without sending traffic off the machine: through uvicorn's proxy-header handling
(a loopback connection carrying ``X-Forwarded-For`` from a TEST-NET address, which uvicorn trusts from
127.0.0.1 only), and through ASGI scope client tuples.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from pitwall.api.app import create_app
from pitwall.api.security import client_is_owner, hash_token, is_loopback_host
from tests.api.conftest import make_settings
from tests.sse_client import SseClient

Serve = Callable[[Litestar], AbstractContextManager[str]]
REMOTE = {"X-Forwarded-For": "203.0.113.7"}  # RFC 5737 documentation address: never contacted


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("203.0.113.7", False),
        ("192.168.1.20", False),
        ("::ffff:10.0.0.1", False),
        ("0.0.0.0", False),
        ("2001:db8::1", False),
        ("testclient", None),
        (None, None),
    ],
)
def test_is_loopback_host(host: str | None, expected: bool | None) -> None:
    assert is_loopback_host(host) is expected


def test_clients_without_an_ip_are_owners_only_on_a_loopback_server() -> None:
    assert client_is_owner(("127.0.0.1", 1), listens_beyond_loopback=True)
    assert not client_is_owner(("203.0.113.7", 1), listens_beyond_loopback=False)
    assert client_is_owner(("testclient", 50000), listens_beyond_loopback=False)
    assert not client_is_owner(("testclient", 50000), listens_beyond_loopback=True)
    assert client_is_owner(None, listens_beyond_loopback=False)
    assert not client_is_owner(None, listens_beyond_loopback=True)


def _assert_refused(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error and set(response.json()) == {"error", "detail"}


def test_remote_viewer_through_a_real_server(tmp_path: Path, serve: Serve) -> None:
    app = create_app(make_settings(tmp_path, "duckdb"))
    app.state.sse_heartbeat_s = 0.2
    with serve(app) as url, httpx.Client(base_url=url) as http:
        token = http.post("/spectator/token", json={"label": "remote pit wall"}).json()[
            "token"
        ]  # owner: loopback
        bearer = {**REMOTE, "Authorization": f"Bearer {token}"}

        missing = http.get("/health", headers=REMOTE)
        _assert_refused(missing, 401, "token required")
        assert missing.headers["www-authenticate"].startswith("Bearer")
        _assert_refused(
            http.get("/health", headers={**REMOTE, "Authorization": "Bearer nope"}), 401, "invalid token"
        )
        assert http.get("/health", headers=bearer).status_code == 200
        assert http.get(f"/health?token={token}", headers=REMOTE).status_code == 200
        assert http.get("/sessions", headers=bearer).status_code == 200
        _assert_refused(http.post("/spectator/token", headers=bearer, json={}), 403, "forbidden")
        _assert_refused(http.post("/session/start", headers=bearer, json={}), 403, "forbidden")
        _assert_refused(http.delete(f"/spectator/token/{token}", headers=bearer), 403, "forbidden")

        refused = SseClient(f"{url}/telemetry/stream", headers=REMOTE)
        refused.ended.wait(10)
        assert refused.status_code == 401
        viewer = SseClient(f"{url}/telemetry/stream?token={token}", headers=REMOTE)
        viewer.wait_connected()
        viewer.close()

        assert http.delete(f"/spectator/token/{token}").status_code == 200  # the owner revokes it
        _assert_refused(http.get("/health", headers=bearer), 401, "invalid token")

        expired = "expired-token-value"
        app.state.store.add_spectator_token(
            hash_token(expired), datetime.now(UTC) - timedelta(seconds=1), "old"
        )
        _assert_refused(
            http.get("/health", headers={**REMOTE, "Authorization": f"Bearer {expired}"}),
            401,
            "invalid token",
        )


def test_server_listening_beyond_loopback_treats_unknown_peers_as_remote(tmp_path: Path) -> None:
    settings = replace(make_settings(tmp_path, "duckdb"), host="0.0.0.0")
    with TestClient(create_app(settings)) as client:  # TestClient's peer is "testclient", not an IP
        _assert_refused(client.get("/health"), 401, "token required")
        _assert_refused(client.post("/spectator/token", json={}), 403, "forbidden")
        app = client.app

        async def as_peer(host: str) -> tuple[int, int, int]:
            transport = httpx.ASGITransport(app=app, client=(host, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://pitwall") as peer:
                minted = await peer.post("/spectator/token", json={})
                token = minted.json().get("token", "")
                health = await peer.get("/health", headers={"Authorization": f"Bearer {token}"})
                return minted.status_code, health.status_code, (await peer.get("/health")).status_code

        assert asyncio.run(as_peer("127.0.0.1")) == (201, 200, 200)
        assert asyncio.run(as_peer("::1")) == (201, 200, 200)
        assert asyncio.run(as_peer("198.51.100.4")) == (403, 401, 401)


def test_loopback_only_server_keeps_in_process_clients_as_owner(client: TestClient[Litestar]) -> None:
    assert client.post("/spectator/token", json={}).status_code == 201
    assert client.get("/health").status_code == 200
