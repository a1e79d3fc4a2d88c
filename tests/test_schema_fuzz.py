"""A bounded schemathesis run against a real server's ``/schema``: no 5xx, and every response conforms to the
document (status codes, content types, bodies) — the document describes what the server does.

Bounded: 5 examples per operation, deterministic generation, the SSE streams and the replay start (which takes
over the live path) excluded; about 10 s on 2 cores."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from pitwall.devserver import server_process
from tests.api.conftest import RUN04

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_schemathesis_finds_no_server_error_and_no_undocumented_response(tmp_path: Path) -> None:
    with server_process(tmp_path / "fuzz.duckdb") as (_, url):
        imported = httpx.post(
            f"{url}/session/import", json={"vbo_path": str(RUN04)}, trust_env=False, timeout=60
        )
        assert imported.status_code == 200, imported.text
        run = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                f"{url}/schema/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                "5",
                "--generation-deterministic",
                "--request-timeout",
                "30",
                "--exclude-path-regex",
                "stream|/notifications|replay/start",
                "--workers",
                "2",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
