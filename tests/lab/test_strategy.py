"""Known state before a test: the strategy drives a board to off, booted, wait_config or provisioned with what
it has, records how in the step journal, and a test whose board cannot get there is skipped with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provlab.lab.config import LabConfig
from provlab.lab.lab import Lab
from provlab.lab.strategy import BoardState, BoardStrategy, StateUnreachable
from provlab.protocol.states import EdgentState


def _board_state_steps(folder: Path) -> list[dict[str, object]]:
    steps = [json.loads(line) for line in (folder / "steps.jsonl").read_text(encoding="utf-8").splitlines()]
    return [s for s in steps if s["name"] == "board_state"]


def test_a_provisioned_board_is_driven_back_to_wait_config_through_its_console(tmp_path: Path) -> None:
    with Lab(LabConfig(boards=1), artifacts=tmp_path) as lab:
        board = lab.boards[0]
        strategy = BoardStrategy(board, lab.phone)
        strategy.transition("provisioned")
        assert board.state is EdgentState.RUNNING and strategy.state() is BoardState.PROVISIONED
        mark = board.mark()
        strategy.transition(BoardState.WAIT_CONFIG)
        assert board.state is EdgentState.WAIT_CONFIG
        printed = [item.line.text for item in board.lines(mark)]
        assert "Resetting configuration!" in printed
        strategy.transition("off")
        assert strategy.state() is BoardState.OFF and board.emulated is not None and not board.emulated.powered
        strategy.transition("wait_config")  # from off: power on, and a fresh board boots into config mode
        assert board.state is EdgentState.WAIT_CONFIG
    steps = _board_state_steps(tmp_path)
    assert [(s["args"]["start"], s["args"]["target"], s["outcome"]) for s in steps] == [  # type: ignore[index]
        ("wait_config", "provisioned", "ok"),
        ("provisioned", "wait_config", "ok"),
        ("wait_config", "off", "ok"),
        ("off", "wait_config", "ok"),
    ]
    hows = [s["args"]["how"] for s in steps]  # type: ignore[index]
    assert hows[0] == "provisioned by the lab's phone" and hows[1] == "console: config erase"
    assert hows[2] == "power off" and hows[3] == "power on"


def test_a_board_without_a_console_or_button_cannot_leave_running_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Lab(LabConfig(boards=1), artifacts=tmp_path) as lab:
        board = lab.boards[0]
        strategy = BoardStrategy(board, lab.phone)
        strategy.transition("provisioned")
        monkeypatch.setattr(board, "implementation", lambda capability: None)  # a board that offers nothing
        with pytest.raises(StateUnreachable, match="has neither a console nor a wired button"):
            strategy.transition("wait_config")
        with pytest.raises(StateUnreachable, match="has no power control"):
            strategy.transition("off")


SCENARIOS = """
import pytest

@pytest.mark.board_state("provisioned")
def test_starts_online(board):
    assert board.state.value == "RUNNING"

@pytest.mark.board_state("wait_config")
def test_starts_in_config_mode(board):
    assert board.state.value == "WAIT_CONFIG"

def test_phone_tests_start_in_config_mode(board, phone):
    assert board.state.value == "WAIT_CONFIG"

@pytest.mark.board_state("off")
def test_starts_off(board):
    assert not board.emulated.powered
"""


def test_a_test_declares_the_state_its_board_starts_in(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_states=SCENARIOS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_an_unknown_state_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="""
import pytest

@pytest.mark.board_state("asleep")
def test_x(board):
    pass
"""
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert "board state 'asleep' is not one of off, booted, wait_config, provisioned" in result.stdout.str() + (
        result.stderr.str()
    )
    assert result.ret != 0
