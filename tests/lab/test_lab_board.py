"""`LabBoard`, the board as a scenario sees it: what it printed, waiting for it, its console, on a real lab."""

from __future__ import annotations

from pathlib import Path

import pytest

from provlab.drivers.serial_errors import ExpectTimeout
from provlab.lab.config import LabConfig
from provlab.lab.lab import Lab
from provlab.protocol.serial_log import ApUrl, StateChange
from provlab.protocol.states import EdgentState


def test_a_scenario_reads_waits_and_asks_through_the_lab_board(tmp_path: Path) -> None:
    with Lab(LabConfig(boards=1, time_scale=0.01), artifacts=tmp_path) as lab:
        board = lab.boards[0]
        board.expect_state("WAIT_CONFIG", timeout=60)
        url = board.expect_event(ApUrl, timeout=30)
        assert url.url == "blynk.setup" and "AP URL:" in url.line.raw
        assert board.expect_exact("AP URL:  blynk.setup", timeout=30).text.endswith("blynk.setup")
        assert board.boots == 1 and board.state is EdgentState.WAIT_CONFIG

        mark = board.mark()
        assert board.lines(mark) == []
        info = board.devinfo()
        assert info.name == board.ssid and board.info.name == board.ssid
        printed = board.lines(mark)
        assert any('"name":' in item.line.raw for item in printed)
        assert board.lines(0)[mark:] == printed

        board.reset()
        board.expect_state("WAIT_CONFIG", timeout=60, since=mark)
        change = board.expect_event(StateChange, timeout=30, since=mark, where=lambda e: e.old is EdgentState.INIT)
        assert change.new is EdgentState.WAIT_CONFIG and board.boots == 2


def test_an_expect_that_runs_out_shows_the_tail_the_budget_and_the_log(tmp_path: Path) -> None:
    with Lab(LabConfig(boards=1, time_scale=0.01), artifacts=tmp_path) as lab:
        board = lab.boards[0]
        board.expect_exact("AP URL:  blynk.setup", timeout=60)
        with pytest.raises(ExpectTimeout) as failure:
            board.expect_exact("Update successfully completed", timeout=1, since=board.mark())
    message = str(failure.value)
    assert "expected a line containing 'Update successfully completed' within 1 s (device time" in message
    assert "AP URL:  blynk.setup" in message  # the board's last lines
    assert f"full log: {tmp_path / 'board-1.log'}" in message
