"""The operator's screen: live tiles per slot on a terminal, plain lines without one (CI)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from provlab.lab.config import LabConfig
from provlab.lab.lab import Lab
from provlab.lab.lab_board import LabBoard
from provlab.station.operator_view import LiveView, PlainView, view_for
from provlab.station.plan import DEFAULT_PLAN, load_plan, parse_plan
from provlab.station.record import UnitOutcome
from provlab.station.runner import Station

ROOT = Path(__file__).resolve().parents[2]
PLAN_HEAD = "name: t\nversion: '1'\nfirmware: {version: 0.1.0}\n"


def test_live_tiles_show_each_slot_its_unit_and_verdict_and_the_yield(tmp_path: Path) -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=140, color_system="truecolor")
    view = LiveView(console)
    result = Station(load_plan(DEFAULT_PLAN), out=tmp_path, lab_config=LabConfig(boards=2), units=2, view=view).run()
    assert len(result.records) == 2
    final = Console(file=io.StringIO(), width=140, force_terminal=False)
    final.print(view)  # the last frame, as plain text
    frame = final.file.getvalue()  # type: ignore[attr-defined]
    assert "slot 1" in frame and "slot 2" in frame
    for record in result.records:
        assert record.dut_id in frame
    assert frame.count("PASS") == 2
    assert "first-pass yield 100.0%" in frame
    assert "\x1b[32m" in screen.getvalue()  # PASS drawn in green on the terminal
    assert "tested 2  pass 2  fail 0" in screen.getvalue()  # the closing summary


def test_a_failed_unit_shows_a_red_fail_tile_and_halves_the_first_pass_yield(tmp_path: Path) -> None:
    """Two units, slot 1's heard at -88 dBm (the plan wants -85): mid-run, slot 1's tile shows the phase it is in
    and its elapsed time; at the end it is a red FAIL tile, and one first test in two passed: 50.0 %."""
    screen = io.StringIO()
    view = LiveView(Console(file=screen, force_terminal=True, width=140, color_system="standard"))
    mid_run: list[str] = []

    def weak_ap_on_slot_1(slot: int, phase: str, board: LabBoard, lab: Lab) -> None:
        if slot == 1 and phase == "provision":
            lab.faults.set_rssi(board.ssid, -88)
            mid_run.append(_plain(view))

    plan = PLAN_HEAD + "retest: {max_attempts: 1}\nphases: [flash, boot, provision, cloud_login]\n"
    result = Station(parse_plan(plan, "view.yaml"), out=tmp_path, lab_config=LabConfig(boards=2), units=2,
                     view=view, before_phase=weak_ap_on_slot_1).run()  # fmt: skip
    failed = next(r for r in result.records if r.slot == 1)
    assert failed.outcome is UnitOutcome.FAIL
    (frame,) = mid_run
    # slot 1's tile (the leftmost): its unit, then the phase it is in and the wall seconds it has taken so far
    assert re.search(r"^╭─+ slot 1 ─+╮.*\n│ " + re.escape(failed.dut_id) + r" +│", frame, re.M), frame
    assert re.search(r"^│ provision +\d+\.\d s +│", frame, re.M), frame
    final = _plain(view)
    assert re.findall(r"^│ (PASS|FAIL) +│ │ (PASS|FAIL) +│$", final, re.M) == [("FAIL", "PASS")]  # slot 1, slot 2
    assert "tested 2  pass 1  fail 1  first-pass yield 50.0%" in final
    coloured = Console(file=io.StringIO(), force_terminal=True, width=140, color_system="standard")
    coloured.print(view)
    drawn = coloured.file.getvalue()  # type: ignore[attr-defined]
    assert re.search(r"\x1b\[(?:1;)?31mFAIL +\x1b\[0m", drawn), drawn  # FAIL in red
    assert re.search(r"^\x1b\[31m╭─.* slot 1 ", drawn, re.M), drawn  # in a red frame
    assert re.search(r"\x1b\[(?:1;)?32mPASS +\x1b\[0m", drawn), drawn  # PASS in green


def _plain(view: LiveView) -> str:
    """One frame of the live view as plain text."""
    console = Console(file=io.StringIO(), width=140, force_terminal=False)
    console.print(view)
    return console.file.getvalue()  # type: ignore[attr-defined, no-any-return]


def test_without_a_terminal_the_view_is_plain_lines() -> None:
    assert isinstance(view_for(io.StringIO()), PlainView)


def test_provlab_accept_in_ci_prints_plain_lines_and_exits_0(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "provlab", "accept", "--boards", "emu:2", "--units", "3", "--out", "line",
         "--station", "ci-1", "--operator", "bob"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "station ci-1: plan edgent-factory-acceptance 1.0 on 2 slot(s)"
    assert sum(" PASS in " in line for line in lines) == 3
    assert "\x1b[" not in done.stdout
    report = subprocess.run(
        [sys.executable, "-m", "provlab", "line", "report", "--db", "line/line.sqlite", "--html", "line.html"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert "first-pass yield 100.0%, final yield 100.0%" in report.stdout
    page = (tmp_path / "line.html").read_text()
    assert page.count("<svg") == 2 and "Failures (Pareto)</h2>\n<p>no data</p>" in page  # no failure, no bars
