"""The `provlab` command: its help, its not-built commands, and `provlab run` end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
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
    evidence = {p.name for p in (tmp_path / "ev").iterdir()}
    assert evidence == {"test_happy_path", "factory_reset_by_button", "report.html", "junit.xml"}


def _provlab_run(cwd: Path, *args: str) -> tuple[int, str]:
    """`provlab run ARGS` in a child process: its exit code and its output with line wrapping undone."""
    proc = subprocess.run(
        [sys.executable, "-m", "provlab", "run", *args, "--artifacts", str(cwd / "ev")],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


def test_a_run_where_every_scenario_is_deselected_exits_5_and_says_so(tmp_path: Path) -> None:
    code, output = _provlab_run(tmp_path, "-k", "no_such_scenario")
    assert code == 5, output
    assert "nothing was tested: every scenario was deselected" in output


def test_a_run_where_every_scenario_skips_exits_5_with_the_reasons(tmp_path: Path) -> None:
    scenario = tmp_path / "test_bench.py"
    scenario.write_text(
        "import pytest\n\n"
        "def test_relay():\n    pytest.skip('no relay on this bench')\n\n"
        "@pytest.mark.skip(reason='needs a second board')\ndef test_pair():\n    pass\n"
    )
    code, output = _provlab_run(tmp_path, str(scenario))
    assert code == 5, output
    assert "nothing was tested: every scenario was skipped:" in output
    assert "no relay on this bench (1×)" in output and "needs a second board (1×)" in output


def test_a_run_with_one_scenario_passing_among_skips_is_green(tmp_path: Path) -> None:
    scenario = tmp_path / "test_bench.py"
    scenario.write_text(
        "import pytest\n\ndef test_relay():\n    pytest.skip('no relay on this bench')\n\n"
        "def test_sum():\n    assert 1 + 1 == 2\n"
    )
    code, output = _provlab_run(tmp_path, str(scenario))
    assert code == 0, output
    assert "1 passed, 1 skipped" in output and "nothing was tested" not in output


def test_a_run_with_no_board_exits_5_before_building_a_lab(tmp_path: Path) -> None:
    code, output = _provlab_run(tmp_path, "--boards", "emu:0")
    assert code == 5, output
    assert "nothing to test: --boards 'emu:0' names no board" in output
    assert not (tmp_path / "ev").exists()


def test_collect_only_goes_through_provlab_run_and_counts_the_scenarios(tmp_path: Path) -> None:
    """What CI compares between the source tree and an installed wheel."""
    code, output = _provlab_run(tmp_path, "--collect-only")
    assert code == 0, output
    assert "scenario_wrong_wifi_password" in output  # the YAML scenarios are collected too
    count = int(output.split(" scenarios collected")[0].rsplit(" ", 1)[-1])
    assert f"{count} tests collected" in output


def test_provlab_run_offers_the_airs_and_the_real_adapters_and_says_what_a_real_adapter_needs(tmp_path: Path) -> None:
    """Issue 14 §7: `--wifi wpa:IFACE` / `nm:IFACE` are offered; a malformed one is refused before anything runs,
    and a well-formed one with emulated boards is refused by the lab config with the reason."""
    help_text = " ".join(CliRunner().invoke(main, ["run", "--help"]).output.split())
    assert "the lab's air: sim | netns" in help_text and "wpa:IFACE | nm:IFACE" in help_text
    result = CliRunner().invoke(main, ["run", "--wifi", "nm"])
    assert result.exit_code == 2
    assert "'nm': name the adapter's interface, e.g. nm:wlan0" in " ".join(result.output.split())
    result = CliRunner().invoke(
        main, ["run", "--wifi", "nm:wlan0", "--boards", "emu:1", "--artifacts", str(tmp_path / "a")]
    )
    assert result.exit_code == 4  # pytest's usage error: the lab config refuses it
    output = " ".join(result.output.split())
    assert "with wifi = 'nm:wlan0' the air is the real one around this host" in output, output


def test_provlab_boards_shows_port_kind_mac_firmware_state_capabilities_and_holder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14 §8, with a board emulated by `provlab emulate` in another process, named by an inventory entry
    through its pty: probed, it shows its MAC, firmware and state; its sideband's capabilities; and who holds it."""
    import json

    from child_process import provlab_child

    from provlab import cli
    from provlab.drivers.port_lock import PortLock

    monkeypatch.setattr(cli.console, "width", 400)  # the table is not folded to the runner's 80 columns
    state = tmp_path / "emulate"
    with provlab_child("emulate", "--count", "1", "--json", "--time-scale", "0.01", "--state-dir", str(state)) as board:
        pty = str(board["pty"])
        inventory = tmp_path / "station.toml"
        inventory.write_text(
            f'[boards.bench-pty]\nport = "{pty}"\n'
            'sideband = [{ kind = "command", power_on = "true", power_off = "true" }, '
            '{ kind = "operator", can = ["button"] }]\n'
        )
        runner = CliRunner()
        probed = runner.invoke(main, ["boards", "--inventory", str(inventory), "--probe", "--json", "--timeout", "10"])
        assert probed.exit_code == 0, probed.output
        (row,) = [json.loads(line) for line in probed.output.splitlines() if pty in line]
        assert row["port"] == pty and row["kind"] == "pty" and row["name"] == "bench-pty"
        assert row["mac"] == board["mac"] and row["devinfo_name"] == board["ssid"]
        assert row["firmware"] is not None and row["firmware"].endswith(" 0.1.0")
        assert row["state"] and row["probe_error"] is None
        assert row["capabilities"] == ["reset", "power", "button", "console", "serial log"]
        assert row["holder"] is None

        with PortLock(pty):  # another run drives the board now
            held = runner.invoke(main, ["boards", "--inventory", str(inventory), "--probe", "--json"])
            table = runner.invoke(main, ["boards", "--inventory", str(inventory)])
        assert held.exit_code == 0 and table.exit_code == 0, held.output + table.output
        (row,) = [json.loads(line) for line in held.output.splitlines() if pty in line]
        assert row["holder"].startswith(f"pid {os.getpid()} on ") and row["mac"] is None  # not probed: in use
        for column in ("Port", "Kind", "Capabilities", "Holder"):
            assert column in table.output
        assert f"pid {os.getpid()}" in table.output and "pty" in table.output
