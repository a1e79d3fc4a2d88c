"""The browser door over the real app: static files (gzip on disk), chart specs, upload, track outline."""

from __future__ import annotations

import gzip
from pathlib import Path

from litestar import Litestar
from litestar.testing import TestClient

from pitwall.api.app import create_app
from pitwall.api.web import WEB_DIR
from tests.api.conftest import RUN04, make_settings

Client = TestClient[Litestar]


def test_index_and_shell_are_served(client: Client) -> None:
    index = client.get("/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/app/app.js">' in index.text
    assert client.get("/sw.js").headers["content-type"].startswith("text/javascript")
    manifest = client.get("/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    assert manifest.json()["start_url"] == "/#/live"


def test_compressed_asset_is_sent_encoded_or_decoded(client: Client) -> None:
    packed = (WEB_DIR / "vendor" / "vega" / "vega.min.js.gz").read_bytes()
    encoded = client.get("/app/vendor/vega/vega.min.js", headers={"accept-encoding": "gzip"})
    assert encoded.headers["content-encoding"] == "gzip"
    assert encoded.headers["content-length"] == str(len(packed))
    assert encoded.content == gzip.decompress(packed)  # httpx decodes it
    plain = client.get("/app/vendor/vega/vega.min.js", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == gzip.decompress(packed)
    wasm = client.get("/app/vendor/duckdb/duckdb-eh.wasm", headers={"accept-encoding": "identity"})
    assert wasm.headers["content-type"] == "application/wasm"
    assert wasm.content[:4] == b"\0asm"


def test_missing_and_escaping_assets_are_404(client: Client) -> None:
    for path in ("/app/nope.js", "/app/../api/web.py", "/app/%2e%2e/api/web.py"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"].lower() == "not found"


def test_schema_page_loads_nothing_from_the_internet(client: Client) -> None:
    page = client.get("/schema")
    assert page.status_code == 200
    assert "/app/vendor/redoc/redoc.standalone.js" in page.text
    assert "https://" not in page.text and "http://" not in page.text
    assert client.get("/app/vendor/redoc/redoc.standalone.js").status_code == 200


def test_chart_specs_are_the_notebook_charts(imported: tuple[Client, str]) -> None:
    client, sid = imported
    table = client.get(f"/session/{sid}/lap_time_table").json()
    track_map = client.get(f"/session/{sid}/charts/track_map")
    assert track_map.status_code == 200, track_map.text
    spec = track_map.json()
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/v6")
    assert spec["projection"]["type"] == "mercator"
    traces = client.get(f"/session/{sid}/charts/traces", params={"lap_a": table["best_lap"]}).json()
    titles = [p["layer"][0]["encoding"]["y"]["title"] for p in traces["vconcat"]]
    assert titles[0] == "speed (km/h)"
    assert "throttle (%)" in titles


def test_chart_errors_are_4xx(imported: tuple[Client, str]) -> None:
    client, sid = imported
    unknown = client.get(f"/session/{sid}/charts/nope")
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown chart"
    out_lap = client.get(f"/session/{sid}/charts/traces", params={"lap_a": 1})
    assert out_lap.status_code == 400 and out_lap.json()["error"] == "invalid lap"
    channel = client.get(f"/session/{sid}/charts/track_map", params={"channel": "nope_kph"})
    assert channel.status_code == 400 and channel.json()["error"] == "invalid channel"
    assert client.get("/session/no-such/charts/track_map").status_code == 404


def test_track_outline_starts_at_the_line(client: Client) -> None:
    outline = client.get("/track/outline").json()
    assert outline["track"] == "Sonoma Raceway"
    assert outline["points"][0]["s_m"] == 0.0
    assert 100 < len(outline["points"]) <= 1000


def test_upload_imports_like_session_import(tmp_path: Path, backend: str) -> None:
    settings = make_settings(tmp_path, backend, upload_dir=tmp_path / "roots" / "uploads")
    with TestClient(create_app(settings)) as client:
        files = {"file": (RUN04.name, RUN04.read_bytes(), "application/octet-stream")}
        first = client.post("/session/upload", files=files, data={"driver": "Taha Bakir"})
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["status"] == "imported" and body["n_frames"] == 10401
        stored = list((tmp_path / "roots" / "uploads").iterdir())
        assert [p.name.split("-", 1)[1] for p in stored] == [RUN04.name]
        session = client.get(f"/session/{body['session_id']}").json()["session"]
        assert session["driver"] == "Taha Bakir"
        again = client.post("/session/upload", files=files)
        assert again.status_code == 409 and again.json()["detail"]["session_id"] == body["session_id"]
        empty = client.post("/session/upload", files={"file": ("x.vbo", b"", "application/octet-stream")})
        assert empty.status_code == 400
        junk = client.post("/session/upload", files={"file": ("x.vbo", b"not a vbo\n", "text/plain")})
        assert junk.status_code == 400 and junk.json()["error"] == "unreadable VBO"


def test_upload_outside_import_roots_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "duckdb", upload_dir=tmp_path / "elsewhere")
    with TestClient(create_app(settings)) as client:
        files = {"file": (RUN04.name, RUN04.read_bytes(), "application/octet-stream")}
        response = client.post("/session/upload", files=files)
        assert response.status_code == 403
        assert response.json()["error"] == "path outside import roots"


def test_spectator_loads_the_app_but_not_data(tmp_path: Path) -> None:
    """On a server bound beyond loopback the test client is a remote spectator: it reads the static app
    without a token, but not the data, and may not upload."""
    with TestClient(create_app(make_settings(tmp_path, "duckdb", host="0.0.0.0"))) as client:
        assert client.get("/").status_code == 200
        assert client.get("/app/app.js").status_code == 200
        assert client.get("/sessions").status_code == 401
        assert client.post("/session/upload").status_code == 403
