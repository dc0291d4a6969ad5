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
