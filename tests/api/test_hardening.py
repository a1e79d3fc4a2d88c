"""Hardening (issue 9): who is the owner behind forwarding headers, session-scoped spectator tokens, revoked
tokens ending open streams, tokens kept out of the access log, and concurrent imports of one file."""

from __future__ import annotations

import io
import logging
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from pitwall.api.app import create_app
from pitwall.api.security import RedactTokens, is_owner, parse_networks, redact
from tests.api.conftest import RUN04, make_settings
from tests.sse_client import SseClient

Serve = Callable[[Litestar], AbstractContextManager[str]]
LOCAL_PROXY = parse_networks(["127.0.0.1/32"])


def scope(peer: str | None, **headers: str) -> dict[str, Any]:
    return {
        "type": "http",
        "client": None if peer is None else (peer, 5000),
        "headers": [(k.replace("_", "-").lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
    }


@pytest.mark.parametrize(
    ("peer", "headers", "owner"),
    [
        ("127.0.0.1", {}, True),
        ("127.0.0.1", {"X_Forwarded_For": "unknown"}, False),
        ("127.0.0.1", {"X_Forwarded_For": ""}, False),
        ("127.0.0.1", {"X_Forwarded_For": "%%garbage%%"}, False),
        ("127.0.0.1", {"X_Forwarded_For": "127.0.0.1"}, False),  # a proxy nobody declared
        ("127.0.0.1", {"Forwarded": "for=203.0.113.7"}, False),
        ("127.0.0.1", {"X_Real_IP": "127.0.0.1"}, False),
        ("203.0.113.7", {}, False),
        (None, {}, True),  # in-process transport on a loopback-only server
    ],
)
def test_forwarding_headers_are_not_believed_without_a_trusted_proxy(
    peer: str | None, headers: dict[str, str], owner: bool
) -> None:
    assert is_owner(scope(peer, **headers), listens_beyond_loopback=False) is owner


@pytest.mark.parametrize(
    ("peer", "headers", "owner"),
    [
        ("127.0.0.1", {"X_Forwarded_For": "127.0.0.1"}, True),
        ("127.0.0.1", {"X_Forwarded_For": "203.0.113.7"}, False),
        ("127.0.0.1", {"X_Forwarded_For": "unknown"}, False),
        ("127.0.0.1", {"X_Forwarded_For": ""}, False),
        ("127.0.0.1", {"X_Forwarded_For": "127.0.0.1, 198.51.100.4"}, False),  # right-most untrusted hop wins
        ("127.0.0.1", {"X_Forwarded_For": "203.0.113.7, 127.0.0.1"}, False),
        ("127.0.0.1", {"Forwarded": 'for="[::1]:4711";proto=http'}, True),
        ("127.0.0.1", {"Forwarded": "for=_hidden"}, False),
        ("127.0.0.1", {"Forwarded": "for=203.0.113.7, for=127.0.0.1"}, False),
        ("127.0.0.1", {"X_Real_IP": "::1"}, True),
        ("127.0.0.1", {"X_Real_IP": "203.0.113.7"}, False),
        ("198.51.100.4", {"X_Forwarded_For": "127.0.0.1"}, False),  # not the trusted proxy
    ],
)
def test_a_trusted_proxy_names_the_client(peer: str, headers: dict[str, str], owner: bool) -> None:
    assert is_owner(scope(peer, **headers), listens_beyond_loopback=False, trusted=LOCAL_PROXY) is owner


def test_bad_trusted_proxy_is_refused_at_startup(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        parse_networks(["10.0.0.0/33"])
    from pitwall.cli import main

    assert main(["--trusted-proxy", "nonsense", "--db", str(tmp_path / "x.duckdb"), "--port", "1"]) == 2


def test_forged_headers_through_a_real_server_get_no_owner_rights(tmp_path: Path, serve: Serve) -> None:
    app = create_app(make_settings(tmp_path, "duckdb"))
    with serve(app) as url, httpx.Client(base_url=url, trust_env=False) as http:
        for forged in ({"X-Forwarded-For": "unknown"}, {"X-Forwarded-For": ""}, {"X-Real-IP": "127.0.0.1"}):
            assert http.get("/sessions", headers=forged).status_code == 401, forged
            assert http.post("/session/start", headers=forged, json={}).status_code == 403, forged
        assert http.post("/session/start", json={"session_id": "mine"}).status_code == 200  # the owner


def test_session_scoped_tokens_and_revocation_ends_open_streams(tmp_path: Path, serve: Serve) -> None:
    app = create_app(make_settings(tmp_path, "sqlite"))
    app.state.sse_heartbeat_s = 0.2
    remote = {"X-Forwarded-For": "203.0.113.7"}  # RFC 5737: never contacted
    with serve(app) as url, httpx.Client(base_url=url, trust_env=False) as http:
        for sid in ("watched", "private"):
            assert http.post("/session/start", json={"session_id": sid}).status_code == 200
        issued = http.post("/spectator/token", json={"label": "pit", "session_id": "watched"})
        assert issued.status_code == 201, issued.text
        token = issued.json()["token"]
        bearer = {**remote, "Authorization": f"Bearer {token}"}
        assert http.get("/session/watched", headers=bearer).status_code == 200
        refused = http.get("/session/private", headers=bearer)
        assert refused.status_code == 403 and "watched" in refused.json()["detail"]
        assert http.get("/telemetry/stream?session_id=private", headers=bearer).status_code == 403

        viewer = SseClient(f"{url}/telemetry/stream", headers=bearer)  # narrowed to its session
        viewer.wait_connected()
        assert viewer.hello is not None and viewer.hello.data["session_id"] == "watched"
        assert (
            http.post(
                "/session/watched/frames", json={"frames": [{"t_s": 0.0, "speed_kph": 12.0}]}
            ).status_code
            == 200
        )
        assert (
            http.post(
                "/session/private/frames", json={"frames": [{"t_s": 0.0, "speed_kph": 99.0}]}
            ).status_code
            == 200
        )
        viewer.wait_for(1, timeout=10)

        assert http.delete(f"/spectator/token/{token}").status_code == 200  # the owner revokes it
        assert viewer.ended.wait(10), "a revoked token's open stream ends"
        assert viewer.events[-1].event == "revoked"
        seen = [e.data for e in viewer.events if e.event == "telemetry"]
        assert seen and all(frame["session_id"] == "watched" for frame in seen)


def test_tokens_are_redacted_from_the_access_log() -> None:
    assert redact("GET /telemetry/stream?token=abc-DEF_123&session_id=x") == (
        "GET /telemetry/stream?token=***&session_id=x"
    )
    out = io.StringIO()
    logger = logging.getLogger("test.access")
    logger.propagate = False
    handler = logging.StreamHandler(out)
    logger.addHandler(handler)
    logger.addFilter(RedactTokens())
    logger.setLevel(logging.INFO)
    try:
        logger.info('%s - "%s %s HTTP/%s" %d', "203.0.113.7:1", "GET", "/health?token=s3cret", "1.1", 200)
    finally:
        logger.removeHandler(handler)
    assert "s3cret" not in out.getvalue() and "token=***" in out.getvalue()


@pytest.mark.parametrize("backend", ["duckdb", "sqlite"])
def test_concurrent_imports_of_one_file_make_one_session(tmp_path: Path, serve: Serve, backend: str) -> None:
    shutil.copy(RUN04, tmp_path / "run04.vbo")
    app = create_app(make_settings(tmp_path, backend, import_roots=(tmp_path,)))
    with serve(app) as url:

        def post(_: int) -> httpx.Response:
            with httpx.Client(base_url=url, trust_env=False, timeout=120) as http:
                return http.post("/session/import", json={"vbo_path": str(tmp_path / "run04.vbo")})

        with ThreadPoolExecutor(5) as pool:
            answers = list(pool.map(post, range(5)))
        sessions = httpx.get(f"{url}/sessions", trust_env=False).json()["sessions"]
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409, 409, 409, 409], [a.text for a in answers]
    winner = next(a.json()["session_id"] for a in answers if a.status_code == 200)
    assert all(a.json()["detail"]["session_id"] == winner for a in answers if a.status_code == 409)
    assert [s["session_id"] for s in sessions] == [winner]


def mutate(source: Path, target: Path, *, row: int, column: int, value: str) -> int:
    """Write ``source`` with the ``column``-th field of data row ``row`` replaced by ``value``; returns the
    1-based line changed."""
    lines = source.read_text().split("\n")
    first = lines.index("[data]") + 1
    fields = lines[first + row].split(" ")
    fields[column] = value
    lines[first + row] = " ".join(fields)
    target.write_text("\n".join(lines))
    return first + row + 1


LAT, VELOCITY, HEIGHT = 2, 4, 6  # fields of the Road America sample's [column names]


@pytest.mark.parametrize("backend", ["duckdb", "sqlite"])
@pytest.mark.parametrize(
    ("column", "value", "field"),
    [
        (LAT, "nan", "lat_deg"),
        (LAT, "+inf", "lat_deg"),
        (LAT, "+1e308", "lat_deg"),
        (LAT, "+5700.00000000", "lat_deg"),  # 95° N (VBO latitude is in minutes)
        (VELOCITY, "-inf", "speed_kph"),
        (HEIGHT, "nan", "alt_m"),
    ],
)
def test_mutated_real_files_are_refused_with_file_and_line(
    tmp_path: Path, backend: str, column: int, value: str, field: str
) -> None:
    bad = tmp_path / "mutated.vbo"
    line = mutate(RUN04, bad, row=5000, column=column, value=value)
    from litestar.testing import TestClient

    with TestClient(create_app(make_settings(tmp_path, backend, import_roots=(tmp_path,)))) as client:
        answer = client.post("/session/import", json={"vbo_path": str(bad)})
        sessions = client.get("/sessions").json()["sessions"]
    assert answer.status_code == 400, answer.text
    detail = answer.json()["detail"]
    assert detail["line"] == line and detail["file"] == str(bad) and field in detail["reason"]
    assert sessions == []  # nothing half-written


def test_bad_numbers_in_frames_are_a_400_naming_frame_and_field(client: Any) -> None:
    frames = [{"t_s": 0.0, "speed_kph": 10.0}, {"t_s": 0.1, "lat_deg": 1e308}]
    answer = client.post("/session/new-one/frames", json={"frames": frames})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid value"
    assert answer.json()["detail"]["frame"] == 1 and answer.json()["detail"]["field"] == "lat_deg"
    assert client.get("/session/new-one").status_code == 404  # the implicit session was not created
    epoch = [{"timestamp": 1e300, "speed": 3.0}]
    assert client.post("/session/other/frames", json={"frames": epoch}).status_code == 400
    assert client.get("/session/other").status_code == 404


def test_delete_session_removes_every_row(client: Any, backend: str) -> None:
    assert client.post("/session/start", json={"session_id": "gone"}).status_code == 200
    assert (
        client.post(
            "/session/gone/frames", json={"frames": [{"t_s": 0.0, "speed_kph": 5.0, "oil_temp": 90.0}]}
        ).status_code
        == 200
    )
    assert client.post("/analyze", json={"session_id": "gone", "avg_speed_kmh": 120}).status_code == 200
    store = client.app.state.store
    assert store.count_telemetry("gone") == 1 and store.list_coaching_notes("gone").height == 1
    answer = client.delete("/session/gone")
    assert answer.status_code == 200 and answer.json() == {"deleted": True, "session_id": "gone"}
    assert (
        client.get("/session/gone").status_code == 404 and client.delete("/session/gone").status_code == 404
    )
    assert store.count_telemetry("gone") == 0 and store.read_signals("gone").height == 0
    assert store.list_coaching_notes("gone").height == 0


@pytest.mark.parametrize(
    "query", ["t_from=nan", "t_from=inf", "t_to=-inf", "t_from=1e308", "t_from=-1e308", "rate_hz=1e-320"]
)
def test_signal_parameters_out_of_bounds_are_400(client: Any, query: str) -> None:
    client.post("/session/start", json={"session_id": "sig"})
    answer = client.get(f"/session/sig/signals?names=speed_kph&{query}")
    assert answer.status_code == 400 and set(answer.json()) == {"error", "detail"}


@pytest.mark.parametrize("path", ["/session/start", "/session/x/frames", "/coach/ask", "/analyze", "/lap"])
def test_json_nested_a_thousand_deep_is_400(client: Any, path: str) -> None:
    answer = client.post(path, content="[" * 1000 + "]" * 1000, headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.json()["detail"] == "the JSON body is nested too deeply"


@pytest.mark.parametrize("suffix", [".sqlite", ".duckdb"])
def test_sample_db_refuses_to_replace_a_database_a_server_holds(tmp_path: Path, suffix: str) -> None:
    import subprocess
    import sys

    from pitwall import REPO_DIR
    from pitwall.devserver import repo_env, server_process

    db = tmp_path / f"served{suffix}"
    with server_process(db) as (_, url):
        assert (
            httpx.post(f"{url}/session/start", json={"session_id": "kept"}, trust_env=False).status_code
            == 200
        )
        before = db.stat().st_ino
        job = subprocess.run(
            [sys.executable, "-m", "pipelines", "sample-db", "--db", str(db)],
            capture_output=True,
            text=True,
            cwd=REPO_DIR,
            env=repo_env(),
            timeout=120,
        )
        assert job.returncode == 1 and "stop it first" in job.stderr, job.stderr
        assert db.stat().st_ino == before  # the file the server writes into was not replaced
        assert httpx.get(f"{url}/session/kept", trust_env=False).status_code == 200
    assert not (tmp_path / f"served{suffix}.building").exists()


@pytest.mark.parametrize("backend", ["duckdb", "sqlite"])
def test_concurrent_ingest_over_http_loses_nothing(tmp_path: Path, serve: Serve, backend: str) -> None:
    app = create_app(make_settings(tmp_path, backend))
    with serve(app) as url:

        def post(writer: int) -> list[int]:
            done = []
            with httpx.Client(base_url=url, trust_env=False, timeout=60) as http:
                for batch in range(5):
                    frames = [
                        {"t_s": writer * 1000 + batch * 10 + k * 0.1, "speed_kph": 50.0} for k in range(40)
                    ]
                    answer = http.post("/session/shared/frames", json={"frames": frames})
                    assert answer.status_code == 200, answer.text
                    done.append(answer.json()["n_appended"])
            return done

        with ThreadPoolExecutor(8) as pool:
            appended = [n for counts in pool.map(post, range(8)) for n in counts]
        store = app.state.store
        stored = store.read_telemetry("shared", columns=["frame_idx", "t_s"])
    assert sum(appended) == 8 * 5 * 40 == stored.height
    assert stored["frame_idx"].sort().to_list() == list(range(stored.height))
    assert stored["t_s"].n_unique() == stored.height
