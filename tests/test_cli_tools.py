"""The commands work together: `cloud serve` + `emulate --cloud-url` + `provision --target`, each its own
process over loopback; option help and one-line errors agree between commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from click.testing import CliRunner

from provlab.cli import main
from provlab.cloud.stub import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD

START_TIMEOUT_S = 60


def _first_json_lines(stream: IO[str], count: int) -> list[dict[str, Any]]:
    lines = []
    while len(lines) < count:
        line = stream.readline()
        assert line, "the process ended before printing what it serves"
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


class Processes:
    """Background provlab commands of one test; all are stopped (and reaped) at the end."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd
        self.running: list[subprocess.Popen[str]] = []

    def start(self, *args: str, lines: int = 1) -> list[dict[str, Any]]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "provlab", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=self.env,
            cwd=self.cwd,
        )
        self.running.append(proc)
        assert proc.stdout is not None
        return _first_json_lines(proc.stdout, lines)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "provlab", *args],
            capture_output=True,
            text=True,
            env={**self.env, "COLUMNS": "160"},
            cwd=self.cwd,
            timeout=120,
        )

    def stop(self) -> None:
        for proc in self.running:
            proc.terminate()
        for proc in self.running:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path / "run"), "PYTHONPATH": str(Path(__file__).parent.parent)}
    group = Processes(env, tmp_path)
    try:
        yield group
    finally:
        group.stop()


def test_emulated_boards_log_in_over_tls_to_a_separate_stub_and_provision_targets_them(
    processes: Processes, tmp_path: Path
) -> None:
    (cloud,) = processes.start(
        "cloud", "serve", "--db", str(tmp_path / "cloud" / "c.db"), "--binary-port", "0", "--http-port", "0",
        "--tls-port", "0", "--mqtt-port", "-1", "--mqtts-port", "-1", "--json",
    )  # fmt: skip
    url = cloud["http_url"]
    first, second = processes.start("emulate", "--count", "2", "--cloud-url", url, "--json", lines=2)
    (other_run,) = processes.start("emulate", "--json")
    assert len({first["ssid"], second["ssid"], other_run["ssid"]}) == 3  # boards started separately differ

    by_ssid = processes.run("provision", "--target", first["ssid"], "--cloud-url", url)
    assert by_ssid.returncode == 0, by_ssid.stdout + by_ssid.stderr
    assert f"{first['ssid']}: online" in by_ssid.stdout
    port = first_port = second["softap_http"].rsplit(":", 1)[1]
    by_port = processes.run("provision", "--target", port, "--cloud-url", url)
    assert by_port.returncode == 0, by_port.stdout + by_port.stderr
    assert f"{second['ssid']}: online" in by_port.stdout and first_port

    with httpx.Client(base_url=url, timeout=10) as api:
        login = api.post("/api/v1/auth/login", json={"email": DEFAULT_ADMIN_EMAIL, "password": DEFAULT_ADMIN_PASSWORD})
        api.headers["Authorization"] = f"Bearer {login.json()['accessToken']}"
        events = api.get("/api/v1/lab/events", params={"kind": "device_online"}).json()["events"]
    assert [event.get("transport") for event in events] == ["tls", "tls"]  # boards trust the stub's CA

    unknown = processes.run("provision", "--target", "Blynk Nope-0000", "--cloud-url", url)
    assert unknown.returncode == 2 and first["ssid"] in unknown.stderr  # names the boards that do run


@pytest.mark.parametrize("command", [["run"], ["emulate"], ["provision"]])
def test_a_bad_defect_is_a_one_line_error_with_a_suggestion(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--defect", "accepts-31-char-tokn"])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert errors == [
        "Error: Invalid value for --defect: unknown firmware defect 'accepts-31-char-tokn'; "
        "did you mean 'accepts-31-char-token'?"
    ]


def test_emulate_and_provision_agree_on_the_home_network() -> None:
    emulate = CliRunner().invoke(main, ["emulate", "--help"], terminal_width=200).output
    provision = CliRunner().invoke(main, ["provision", "--help"], terminal_width=200).output
    assert "ProvlabHome:correct-horse-battery" in emulate and "default: the lab's" in provision
