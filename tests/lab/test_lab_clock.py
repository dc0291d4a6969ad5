"""Which clock a lab runs on, and that its scenarios' device time is the lab's own, not the host's."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from provlab.clock.base import ClockKind
from provlab.lab.board_specs import parse_boards
from provlab.lab.config import LabConfig, LabConfigError
from provlab.lab.lab import Lab, lab_clock_for


def test_an_all_emulated_lab_gets_the_virtual_clock_and_anything_outside_gets_the_wall_clock() -> None:
    assert lab_clock_for(LabConfig()).kind is ClockKind.VIRTUAL
    assert lab_clock_for(LabConfig(wifi="netns")).kind is ClockKind.VIRTUAL  # namespaces: still this process
    _, attached = parse_boards("/dev/ttyUSB0")
    wall = lab_clock_for(LabConfig(attached=attached, time_scale=0.05))  # one emulated board next to the real one
    assert wall.kind is ClockKind.WALL and wall.scale == 0.05
    real_only = lab_clock_for(LabConfig(boards=0, attached=attached, time_scale=0.05))
    assert real_only.kind is ClockKind.WALL and real_only.scale == 1.0  # nothing emulated: nothing to speed up
    remote = lab_clock_for(LabConfig(cloud_url="http://127.0.0.1:8000"))
    assert remote.kind is ClockKind.WALL
    assert lab_clock_for(LabConfig(clock="wall")).kind is ClockKind.WALL


def test_a_virtual_clock_with_something_outside_the_process_is_refused() -> None:
    with pytest.raises(LabConfigError, match="clock: 'virtual' needs everything in this process"):
        LabConfig(clock="virtual", cloud_url="http://127.0.0.1:8000")
    with pytest.raises(LabConfigError, match="clock: 'sundial' is not one of auto, virtual, wall"):
        LabConfig(clock="sundial")


def test_a_nine_second_hold_is_nine_seconds_however_slow_the_driver_is(tmp_path: Path) -> None:
    """The firmware resets on a release after >= 10 s (spec §4.1). A 9 s hold must erase nothing, even when the
    driver thread is slow between its steps: the clock does not move while the driver runs."""
    with Lab(LabConfig(boards=1), artifacts=tmp_path) as lab:
        board = lab.boards[0]
        board.expect_state("WAIT_CONFIG", timeout=30)
        start = lab.clock.now()
        mark = board.mark()
        board.press_button()
        time.sleep(0.3)  # the host is busy: wall time passes, lab time must not
        assert lab.clock.now() == start
        lab.wait(9.0)
        board.release_button()
        assert lab.clock.now() == start + 9.0
        lab.wait(2.0)
        assert not [line for line in board.lines(mark) if "Resetting configuration!" in line.line.raw]
        assert board.state is not None and board.state.value == "WAIT_CONFIG"


def test_an_expect_that_times_out_says_which_clock_it_counted_on(tmp_path: Path) -> None:
    with Lab(LabConfig(boards=1), artifacts=tmp_path) as lab:
        board = lab.boards[0]
        with pytest.raises(AssertionError, match=r"within 5 s \(device time, virtual lab clock\)"):
            board.expect_state("RUNNING", timeout=5)
        assert lab.clock.kind is ClockKind.VIRTUAL
