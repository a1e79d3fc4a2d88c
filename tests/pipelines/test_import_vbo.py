"""``python -m pipelines import``: a folder of real samples, idempotency, failures, the locked-DB path."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pitwall import REPO_DIR
from pitwall.devserver import repo_env, running_server
from pitwall.store import open_store
from tests.api.conftest import RACECAPTURE, RACECHRONO_LAP9, RUN01, RUN04, RUN05, data_rows


def run_import(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines", "import", *args],
        cwd=REPO_DIR,
        env=repo_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def outcomes(proc: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    for row in rows:
        assert set(row) == {"file", "session_id", "status", "rows", "duration_s", "distance_m", "error"}
    return {Path(row["file"]).name: row for row in rows}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Run04 and Run05 at the top, Run01 as ``nested/RUN01.VBO``, a byte-identical copy of Run05, a bad file, a
    RaceChrono CSV and a RaceCapture log under names that hide their format, and a text file no reader knows."""
    root = tmp_path / "vbo"
    (root / "nested").mkdir(parents=True)
    shutil.copy(RUN04, root / RUN04.name)
    shutil.copy(RUN05, root / RUN05.name)
    shutil.copy(RUN05, root / "nested" / "copy-of-run05.vbo")
    shutil.copy(RUN01, root / "nested" / "RUN01.VBO")
    (root / "nested" / "broken.vbo").write_text("[header]\ntime\n[data]\n1 2 3 oops\n")
    (root / "notes.txt").write_text("not a vbo")
    shutil.copy(RACECHRONO_LAP9, root / "nested" / "phone-export.dat")
    shutil.copy(RACECAPTURE, root / "rc-session")
    return root


@pytest.mark.slow
def test_import_folder_json_then_reimport_skips(folder: Path, tmp_path: Path) -> None:
    db = tmp_path / "bulk.duckdb"
    first = run_import(str(folder), "--db", str(db), "--json", "--jobs", "2", "--driver", "Taha")
    assert first.returncode == 1, first.stderr
    got = outcomes(first)
    assert set(got) == {
        *(RUN04.name, RUN05.name, "RUN01.VBO", "copy-of-run05.vbo", "broken.vbo"),
        *("notes.txt", "phone-export.dat", "rc-session"),
    }
    assert got["broken.vbo"]["status"] == "failed" and "broken.vbo" in got["broken.vbo"]["error"]
    assert got["notes.txt"]["status"] == "unsupported"
    assert got["notes.txt"]["error"] == "unsupported format (looks like a text file starting 'not a vbo')"
    for name, sample in ((RUN04.name, RUN04), (RUN05.name, RUN05), ("RUN01.VBO", RUN01)):
        row = got[name]
        assert row["status"] == "imported", row
        assert 0 < row["rows"] <= data_rows(sample) and row["error"] is None
        assert row["duration_s"] > 60 and row["distance_m"] > 1_000
    assert got["phone-export.dat"]["status"] == "imported" and got["phone-export.dat"]["rows"] == 3850
    assert got["rc-session"]["status"] == "imported" and got["rc-session"]["rows"] == 24872
    copy = got["copy-of-run05.vbo"]
    assert copy["status"] == "skipped" and copy["session_id"] == got[RUN05.name]["session_id"]

    store = open_store(db)
    try:
        sessions = store.list_sessions(limit=10)
        assert sessions.height == 5 and set(sessions["driver"]) == {"Taha"}
        for name in (RUN04.name, RUN05.name, "RUN01.VBO"):
            assert store.count_telemetry(got[name]["session_id"]) == got[name]["rows"]
    finally:
        store.close()

    (folder / "nested" / "broken.vbo").unlink()
    again = run_import(str(folder), "--db", str(db), "--json")
    assert again.returncode == 0, again.stderr
    assert {n: r["status"] for n, r in outcomes(again).items() if n != "notes.txt"} == dict.fromkeys(
        set(got) - {"broken.vbo", "notes.txt"}, "skipped"
    )
    assert {n: r["session_id"] for n, r in outcomes(again).items() if n != "copy-of-run05.vbo"} == {
        n: r["session_id"] for n, r in got.items() if n not in {"broken.vbo", "copy-of-run05.vbo"}
    }


def test_a_folder_of_nothing_supported_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    (tmp_path / "in" / "laps.json").write_text('{"laps": []}')
    proc = run_import(str(tmp_path / "in"), "--db", str(tmp_path / "x.duckdb"), "--json")
    assert proc.returncode == 1
    got = outcomes(proc)
    assert got["photo.jpg"]["error"].startswith("unsupported format (looks like binary data")
    assert got["laps.json"]["error"] == "unsupported format (looks like JSON)"
    assert "nothing imported" in proc.stderr


def test_summary_table_and_missing_path(tmp_path: Path) -> None:
    db = tmp_path / "one.sqlite"
    proc = run_import(str(RUN05), str(tmp_path / "nope"), "--db", str(db), "--jobs", "1")
    assert proc.returncode == 1
    assert "Import" in proc.stdout and "session_id" in proc.stdout
    assert RUN05.name in proc.stdout and "imported" in proc.stdout
    assert "failed: no such file or folder" in proc.stdout


@pytest.mark.slow
def test_locked_database_names_it_and_server_mode_imports(tmp_path: Path) -> None:
    db = tmp_path / "served.duckdb"
    files = tmp_path / "files"
    files.mkdir()
    shutil.copy(RUN05, files / RUN05.name)
    with running_server(db, "--import-root", str(files)) as base:
        locked = run_import(str(files), "--db", str(db))
        assert locked.returncode == 2
        assert f"database {db} is in use by another process" in locked.stderr
        assert "--server http://127.0.0.1:8765" in locked.stderr

        served = run_import(str(files), "--server", base, "--json")
        assert served.returncode == 0, served.stdout + served.stderr
        row = outcomes(served)[RUN05.name]
        assert row["status"] == "imported" and row["rows"] > 0

        again = run_import(str(files), "--server", base, "--json")
        assert outcomes(again)[RUN05.name] == {**row, "status": "skipped", "rows": None, "duration_s": None,
                                               "distance_m": None}  # fmt: skip

        outside = run_import(str(RUN04), "--server", base, "--json")
        assert outside.returncode == 1
        assert "HTTP 403" in outcomes(outside)[RUN04.name]["error"]
