"""A station slot with a board the lab does not emulate: the board's own console names the unit by its MAC.

The "real" board is an emulated one run by `provlab emulate` in another process: to the station it is only a
serial port, exactly as a board on a USB cable is.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from child_process import provlab_child

from provlab.lab.board_specs import AttachedBoard, BoardSource
from provlab.lab.config import LabConfig
from provlab.station.line_db import SqliteLineDatabase
from provlab.station.line_report import report_for
from provlab.station.operator_view import PlainView
from provlab.station.plan import parse_plan
from provlab.station.record import UnitOutcome
from provlab.station.runner import Station

MAC = re.compile(r"(?:[0-9A-F]{2}:){5}[0-9A-F]{2}")


def test_an_attached_boards_unit_is_named_by_the_mac_its_console_tells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVLAB_LOCK_DIR", str(tmp_path / "locks"))  # the port's lock file, in this test's folder
    state = tmp_path / "emulate"
    plan = parse_plan("name: a\nversion: '1'\nretest: {max_attempts: 1}\nphases: [factory_reset]\n", "a.yaml")
    shown = io.StringIO()
    with provlab_child("emulate", "--count", "1", "--json", "--time-scale", "0.01", "--state-dir", str(state)) as board:
        config = LabConfig(boards=0, attached=(AttachedBoard(BoardSource.PORT, str(board["pty"])),))
        result = Station(plan, out=tmp_path / "line", lab_config=config, view=PlainView(shown)).run()
    (record,) = result.records
    assert MAC.fullmatch(record.dut_id), record.dut_id
    assert record.dut_id == record.mac == board["mac"]  # `wifi show` on its console, not its port or its SSID
    assert record.slot == 1 and record.outcome is UnitOutcome.PASS, record.failure_detail
    assert f"slot 1: {board['mac']} PASS" in shown.getvalue()


def test_an_attached_boards_tests_carry_over_between_runs_on_the_same_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real board is named by its MAC, so the line database knows it from one run to the next, as it knows a
    scanned serial. Run 1: the plan allows one test and the unit fails it (the plan wants it NOT back in config
    mode): a reject. Run 2, same plan: the unit is still out of retests; it is not tested again (before, it started
    over at test #1). Run 3, a plan allowing two tests that the unit passes: its one FAIL counts, so this is test #2,
    not a first test, and the line report keeps the unit's first-pass at its first test."""
    monkeypatch.setenv("PROVLAB_LOCK_DIR", str(tmp_path / "locks"))
    out = tmp_path / "line"
    failing = "retest: {max_attempts: 1}\nphases: [factory_reset: {back_in_config_mode: {equals: false}}]\n"
    passing = "retest: {max_attempts: 2}\nphases: [factory_reset]\n"

    def run(plan_text: str, config: LabConfig) -> tuple[list[tuple[str, int, UnitOutcome | None]], list[str], str]:
        plan = parse_plan("name: a\nversion: '1'\n" + plan_text, "a.yaml")
        shown = io.StringIO()
        result = Station(plan, out=out, lab_config=config, view=PlainView(shown)).run()
        assert result.ok is (result.out_of_retests == [])  # a reject, tested in this run or not, fails the run
        return [(r.dut_id, r.attempt, r.outcome) for r in result.records], result.out_of_retests, shown.getvalue()

    state = tmp_path / "emulate"
    with provlab_child("emulate", "--count", "1", "--json", "--time-scale", "0.01", "--state-dir", str(state)) as board:
        config = LabConfig(boards=0, attached=(AttachedBoard(BoardSource.PORT, str(board["pty"])),))
        mac = str(board["mac"])
        tested, rejects, _ = run(failing, config)
        assert tested == [(mac, 1, UnitOutcome.FAIL)] and rejects == [mac]
        tested, rejects, said = run(failing, config)
        assert tested == [] and rejects == [mac]
        assert f"slot 1: {mac} out of retests: it failed 1 test(s) in earlier runs, the plan allows 1" in said
        tested, rejects, said = run(passing, config)
        assert tested == [(mac, 2, UnitOutcome.PASS)] and rejects == []
        assert f"slot 1: {mac} test #2 started" in said
    db = SqliteLineDatabase(out / "line.sqlite")
    try:
        assert [(t.attempt, t.outcome) for t in db.tests_of(mac)] == [(1, "FAIL"), (2, "PASS")]
        report = report_for(db)
    finally:
        db.close()
    assert (report.units, report.tests, report.first_pass_yield, report.final_yield) == (1, 2, 0.0, 1.0)
