"""Known state before a test: the strategy drives a board to off, booted, wait_config or provisioned with what
it has, records how in the step journal, and a test whose board cannot get there is skipped with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provlab.drivers.capabilities import Capability
from provlab.drivers.serial_board import SerialBoard
from provlab.emulator.sideband import EmulatedSideband
from provlab.lab.config import LabConfig
from provlab.lab.lab import Lab
from provlab.lab.lab_board import LabBoard
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
        with pytest.raises(StateUnreachable, match=r"has neither a console nor a wired button.*nor a way into its ROM"):
            strategy.transition("wait_config")
        with pytest.raises(StateUnreachable, match="has no power control"):
            strategy.transition("off")


def _reset_line_only(lab: Lab, board: LabBoard) -> EmulatedSideband:
    """The emulated board's wiring narrowed to a reset line (an EN pulse): no power control, no button."""
    assert board.emulated is not None
    return EmulatedSideband(
        board.emulated, lambda coro: lab.loop.run(coro, 30), capabilities=frozenset({Capability.RESET})
    )


def test_a_board_with_only_a_reset_line_is_booted_afresh_by_reset(tmp_path: Path) -> None:
    """Reset wiring, no power control: a board found off (its supply cut behind the lab's back) and one silent since
    its port was opened (it booted long before) are both booted afresh by an EN pulse; the journal says reset."""
    with Lab(LabConfig(boards=1), artifacts=tmp_path) as lab:
        board = lab.boards[0]
        assert board.emulated is not None
        board.serial.attach_sideband(_reset_line_only(lab, board))
        assert board.capability(Capability.POWER) is None and board.capability(Capability.BUTTON) is None
        strategy = BoardStrategy(board, lab.phone)
        board.expect_state("WAIT_CONFIG", timeout=30)
        lab.loop.run(board.emulated.power_off(), 30)
        assert strategy.state() is BoardState.OFF
        boots = board.boots
        strategy.transition("booted")
        assert board.emulated.powered and board.boots == boots + 1 and strategy.state() is BoardState.WAIT_CONFIG

        before = board.serial  # the lab opens the port again: what the board printed before is not seen
        before.close()
        board.serial = SerialBoard(
            before.url,
            name=board.name,
            log_path=tmp_path / "board-1.again.log",
            clock=lab.clock,
            rx_channel=before._rx_channel,  # the pty's channels, so the virtual clock still sees bytes in flight
            tx_channel=before._tx_channel,
            sideband=_reset_line_only(lab, board),
        )
        assert strategy.state() is BoardState.UNKNOWN
        strategy.transition("wait_config")
        assert board.boots == 1 and board.state is EdgentState.WAIT_CONFIG
        with pytest.raises(ValueError, match="'unknown' is where a board may be, not a state to drive it to"):
            strategy.transition(BoardState.UNKNOWN)
    steps = _board_state_steps(tmp_path)
    assert [(s["args"]["start"], s["args"]["target"], s["args"]["how"]) for s in steps] == [  # type: ignore[index]
        ("off", "booted", "reset"),
        ("unknown", "wait_config", "reset"),
    ]


def test_without_a_console_the_button_hold_erases_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No console (`config erase`), a wired button: the strategy holds it past the firmware's 10 s."""
    with Lab(LabConfig(boards=1), artifacts=tmp_path) as lab:
        board = lab.boards[0]
        strategy = BoardStrategy(board, lab.phone)
        strategy.transition("provisioned")
        wired = board.implementation
        monkeypatch.setattr(board, "implementation", lambda c: None if c is Capability.CONSOLE else wired(c))
        assert board.capability(Capability.CONSOLE) is None and board.capability(Capability.BUTTON) is not None
        mark = board.mark()
        strategy.transition("wait_config")
        assert board.state is EdgentState.WAIT_CONFIG
        assert "Resetting configuration!" in [item.line.text for item in board.lines(mark)]
    steps = _board_state_steps(tmp_path)
    assert [(s["args"]["start"], s["args"]["how"]) for s in steps][-1] == ("provisioned", "button held 11 s")  # type: ignore[index]
    journal = [json.loads(line) for line in (tmp_path / "steps.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [s["args"]["seconds"] for s in journal if s["name"] == "hold_button"] == [11.0]
    assert not [s for s in journal if s["name"] == "console"]


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


PROVISIONED_FIRST = """
import pytest

@pytest.fixture(autouse=True)
def provisioned_first(lab):
    # runs before the `board` fixture drives the board: it is configured and online when the lab decides
    board = lab.boards[0]
    board.expect_state("WAIT_CONFIG", timeout=30)
    assert lab.phone().provision(board).ok
    board.expect_state("RUNNING", timeout=120)
"""


def test_a_provisioned_board_is_driven_back_to_config_mode_for_a_phone_test_and_a_provision_step(
    pytester: pytest.Pytester,
) -> None:
    """The default start state of a test that uses the phone (Python: the `phone` fixture; YAML: a `provision`
    step) is wait_config: a board found online is driven back there, and the journal says from where and how."""
    pytester.makeconftest(PROVISIONED_FIRST)
    pytester.makepyfile(
        test_phone="""
def test_provisions_again(board, phone):
    assert board.state.value == "WAIT_CONFIG"
    assert phone.provision(board).ok
"""
    )
    pytester.makefile(
        ".yaml",
        scenario_again="name: yaml_provisions_again\nsteps:\n  - assert_state: WAIT_CONFIG\n  - provision: {}\n",
    )
    evidence = pytester.path / "evidence"
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--artifacts", str(evidence))
    result.assert_outcomes(passed=2)
    for test in ("test_provisions_again", "yaml_provisions_again"):
        steps = _board_state_steps(evidence / test)
        assert [(s["args"]["start"], s["args"]["target"], s["args"]["how"], s["outcome"]) for s in steps] == [  # type: ignore[index]
            ("provisioned", "wait_config", "console: config erase", "ok")
        ], test
