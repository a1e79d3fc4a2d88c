"""``python -m pitwall``: flags, settings, refusals (remote host, busy port, locked DB), README ↔ CI."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest

from pitwall import DATA_DIR, REPO_DIR
from pitwall.api.security import is_loopback_host
from pitwall.cli import build_parser, main, settings_from_args
from pitwall.devserver import free_port, pitwall_command, repo_env, running_server


def test_defaults_follow_the_contract() -> None:
    settings = settings_from_args(build_parser().parse_args([]))
    assert (settings.host, settings.port) == ("127.0.0.1", 8765)
    assert settings.track == DATA_DIR / "tracks" / "sonoma.json"
    assert (
        settings.can_interface == "virtual"
        and settings.can_bitrate == 500_000
        and settings.can_channel is None
    )
    assert settings.can_dbc == (DATA_DIR / "dbc" / "pitwall.dbc",)
    assert (
        settings.simulate is False
        and settings.simulate_speed == 1.0
        and settings.simulate_lap_seconds == 60.0
    )
    assert settings.import_roots[0] == DATA_DIR and settings.backend is None


def test_flags_become_absolute_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(
        [
            "--port", "9000", "--db", "x.sqlite", "--backend", "sqlite", "--track", "t.json",
            "--import-root", "a", "--import-root", "/srv/b", "--can-channel", "/dev/ttyACM0",
            "--can-interface", "slcan", "--can-bitrate", "1000000", "--can-car-config", "car.yaml",
            "--can-dbc", "one.dbc", "two.dbc", "--simulate", "--simulate-speed", "5",
            "--simulate-lap-seconds", "90", "--log-level", "debug",
        ]
    )  # fmt: skip
    s = settings_from_args(args)
    assert s.port == 9000 and s.db == tmp_path / "x.sqlite" and s.backend_name == "sqlite"
    assert s.track == tmp_path / "t.json"
    assert s.import_roots == (tmp_path / "a", Path("/srv/b"))
    assert (s.can_channel, s.can_interface, s.can_bitrate) == ("/dev/ttyACM0", "slcan", 1_000_000)
    assert s.can_car_config == tmp_path / "car.yaml"
    assert s.can_dbc == (tmp_path / "one.dbc", tmp_path / "two.dbc")
    assert (s.simulate, s.simulate_speed, s.simulate_lap_seconds, s.log_level) == (True, 5.0, 90.0, "debug")


@pytest.mark.parametrize(
    "bad", [["--port", "0"], ["--port", "70000"], ["--simulate-speed", "0"], ["--backend", "mysql"]]
)
def test_bad_flags_exit_2(bad: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(bad)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False),
     ("192.168.1.10", False), ("::", False), ("example.org", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert (is_loopback_host(host) is True) is loopback  # what the CLI accepts without --allow-remote


def test_non_loopback_host_needs_allow_remote(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--host", "0.0.0.0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_busy_port_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        assert main(["--port", str(port), "--db", str(tmp_path / "x.duckdb")]) == 2
    err = capsys.readouterr().err
    assert f"port {port}" in err and "already in use" in err
    assert not (tmp_path / "x.duckdb").exists(), "the database is not touched when the port is busy"


@pytest.mark.slow
def test_locked_database_exits_2(tmp_path: Path) -> None:
    db = tmp_path / "held.duckdb"
    with running_server(db):
        second = subprocess.run(
            pitwall_command("--port", str(free_port()), "--db", str(db)),
            cwd=REPO_DIR,
            env=repo_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert second.returncode == 2
    assert f"database {db} is locked by another process" in second.stderr


def test_module_help_lists_the_contract_flags() -> None:
    out = subprocess.run(
        pitwall_command("--help"), cwd=REPO_DIR, env=repo_env(), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0
    for flag in (
        "--port", "--host", "--track", "--can-channel", "--can-interface", "--can-bitrate", "--can-car-config",
        "--can-dbc", "--simulate", "--simulate-speed", "--simulate-lap-seconds", "--db", "--backend",
        "--import-root", "--log-level", "--allow-remote",
    ):  # fmt: skip
        assert flag in out.stdout, flag


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    readme = (REPO_DIR / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.+?)\n```", quickstart, flags=re.S)
    assert len(commands) == 2, "the quickstart is exactly two commands"
    install_and_serve, install_and_test = commands
    assert "pip install -e ." in install_and_serve and "-m pitwall" in install_and_serve
    assert "pytest" in install_and_test and "'.[dev]'" in install_and_test
    marked = readme.split("<!-- test-command -->", 1)[1].split("```bash\n", 1)[1].split("\n```", 1)[0]
    assert marked == install_and_test
    printed = subprocess.run(
        ["bash", str(REPO_DIR / ".ci" / "run"), "--print"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert printed.stdout.strip() == install_and_test
