"""The `provlab` command: its help, its not-built commands, and `provlab run` end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from provlab.cli import main

COMMANDS = ("run", "emulate", "cloud", "provision", "boards", "doctor")


def test_help_lists_the_design_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert f"  {command} " in result.output


def test_cloud_group_lists_serve_and_token() -> None:
    result = CliRunner().invoke(main, ["cloud", "--help"])
    assert result.exit_code == 0
    assert "serve" in result.output and "token" in result.output


def test_provlab_run_runs_the_built_in_suite(tmp_path: Path) -> None:
    """`provlab run` in a fresh process: built-in scenarios pass, summary printed, JUnit written, exit 0."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "provlab",
            "run",
            "--artifacts",
            str(tmp_path / "ev"),
            "--report",
            str(tmp_path / "r"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "provlab scenarios" in proc.stdout and "test_happy_path" in proc.stdout
    assert "passed" in proc.stdout
    assert (tmp_path / "r" / "junit.xml").is_file()
    assert (tmp_path / "ev" / "test_happy_path" / "board-1.log").is_file()


def test_provlab_run_exit_code_is_pytests(tmp_path: Path) -> None:
    scenario = tmp_path / "test_bad.py"
    scenario.write_text("def test_bad(board):\n    board.expect_state('OTA_UPGRADE', timeout=1)\n")
    proc = subprocess.run(
        [sys.executable, "-m", "provlab", "run", str(scenario), "--artifacts", str(tmp_path / "ev")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "failed" in proc.stdout


def test_provlab_run_passes_pytest_options_through(tmp_path: Path) -> None:
    """`-k EXPR` (an option with a value) reaches pytest intact and selects from the built-in suites."""
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "provlab", "run"),
            *("-k", "test_happy_path or factory_reset_by_button", "--artifacts", str(tmp_path / "ev")),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout
    assert {p.name for p in (tmp_path / "ev").iterdir()} == {"test_happy_path", "factory_reset_by_button"}
