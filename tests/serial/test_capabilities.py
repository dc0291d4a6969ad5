"""Capabilities as small protocols: each kind of board implements the ones it has, and nothing else decides.

An emulated board has power, reset, button, console and serial log; a board on a serial port has the console
and the log, plus what its sideband wiring gives (DTR/RTS: reset and the button; a relay: power, and a reset
by power cycle); a replayed recording has no wiring at all. The skip reason and the actions both come from
the same question, `capability()`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from serialrig import EmulatedRig
from test_sideband import RecordedLines

from provlab.drivers.capabilities import (
    WIRED,
    ButtonProtocol,
    Capability,
    CapabilityMissing,
    ConsoleProtocol,
    PowerProtocol,
    ResetProtocol,
    SerialLogProtocol,
    skip_reason,
)
from provlab.drivers.recording import Recording
from provlab.drivers.replay import ReplayBoard
from provlab.drivers.serial_board import SerialBoard
from provlab.drivers.sideband.base import NoSideband
from provlab.drivers.sideband.esp_lines import DtrRtsSideband, EspWiring
from provlab.drivers.sideband.operator import OperatorSideband
from provlab.drivers.wired_actions import WiredActions
from provlab.emulator.direct import DirectBoard
from provlab.lab.lab_board import LabBoard

RECORDED = "[10] INIT => WAIT_CONFIG\r\n[20] AP URL:  blynk.setup\r\n"
ACTIONS = ("reset", "power_on", "power_off", "power_cycle", "press_button", "release_button", "hold_button")


def test_an_emulated_board_implements_every_protocol(rig: EmulatedRig) -> None:
    with SerialBoard(rig.path, name="board-1", time_scale=rig.scale, sideband=rig.sideband()) as board:
        assert board.capabilities == frozenset(Capability)
        assert isinstance(board.capability(Capability.POWER), PowerProtocol)
        assert isinstance(board.capability(Capability.RESET), ResetProtocol)
        assert isinstance(board.capability(Capability.BUTTON), ButtonProtocol)
        assert board.capability(Capability.CONSOLE) is board and isinstance(board, ConsoleProtocol)
        assert board.capability(Capability.SERIAL_LOG) is board and isinstance(board, SerialLogProtocol)
        assert skip_reason(board.name, board, ["needs_power", "needs_reset", "needs_button"]) is None


def test_a_replayed_recording_has_its_log_and_nothing_else(tmp_path: Path) -> None:
    """A recording prints; it answers no console command (nothing would type the reply) and has no wiring."""
    with ReplayBoard(Recording.from_text(RECORDED, name="bench"), time_scale=0) as board:
        board.expect_state("WAIT_CONFIG", timeout=60)
        assert board.capabilities == {Capability.SERIAL_LOG, Capability.EDGENT_LOG}
        assert all(board.capability(c) is None for c in WIRED)
        wiring = r"\(none: a replayed recording, its serial log only\)"
        with pytest.raises(CapabilityMissing, match=rf"cannot hold the button: .*{wiring}"):
            board.hold_button(11)
        with pytest.raises(CapabilityMissing, match="cannot reset the board"):
            board.reset()
        with pytest.raises(CapabilityMissing, match=r"cannot type 'help' on the console: .* replayed recording"):
            board.console("help")
        with pytest.raises(CapabilityMissing, match="cannot ask devinfo on the console"):
            board.devinfo()
        assert skip_reason("replay-1", board, ["needs_button", "needs_reset"]) == (
            "replay-1 has no button, reset control (none: a replayed recording, its serial log only); "
            "the scenario is marked needs_reset, needs_button"
        )
        assert skip_reason("replay-1", board, ["needs_console"]) == (
            "replay-1 has no console (none: a replayed recording, its serial log only); "
            "the scenario is marked needs_console"
        )


def test_dtr_rts_wiring_gives_reset_and_button_and_no_power() -> None:
    sideband = DtrRtsSideband(RecordedLines(), EspWiring(button="io0", reset_pulse_s=0))
    assert isinstance(sideband.capability(Capability.RESET), ResetProtocol)
    assert isinstance(sideband.capability(Capability.BUTTON), ButtonProtocol)
    assert sideband.capability(Capability.POWER) is None
    assert not isinstance(sideband, PowerProtocol)  # not even the methods: a DTR/RTS circuit switches no power
    assert not any(isinstance(NoSideband(), c.protocol) for c in Capability)
    assert skip_reason("bench-a", sideband, ["needs_power"]) == (
        "bench-a has no power control (DTR/RTS auto-reset circuit, button on IO0); the scenario is marked needs_power"
    )


def test_a_board_with_power_and_no_reset_line_is_reset_by_a_power_cycle(tmp_path: Path) -> None:
    """The reset capability of such a board is a power cycle, so `needs_reset` scenarios run on it."""
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return ""

    with ReplayBoard(Recording.from_text(RECORDED, name="bench"), time_scale=0) as board:
        board.attach_sideband(OperatorSideband([Capability.POWER], name="bench-b", ask=ask, time_scale=0.001))
        assert board.capabilities & WIRED == {Capability.POWER, Capability.RESET}
        assert skip_reason("bench-b", board, ["needs_reset"]) is None
        board.reset()
        assert [prompt.split(": ", 1)[1].split(",")[0] for prompt in asked] == [
            "unplug the board's power (USB)",
            "plug the board's power (USB) back in",
        ]
        with pytest.raises(CapabilityMissing, match="cannot press the button"):
            board.press_button()


def test_reset_power_and_button_are_forwarded_in_one_place() -> None:
    """Both drivers take the actions from `WiredActions`; `LabBoard` hands them to its driver."""
    for driver in (SerialBoard, ReplayBoard, DirectBoard):
        assert issubclass(driver, WiredActions)
        for action in ACTIONS:
            assert getattr(driver, action) is getattr(WiredActions, action), f"{driver.__name__}.{action}"
    assert {"capability", "require", "capabilities"} <= set(dir(LabBoard))


def test_an_implementation_that_lacks_its_protocol_is_a_bug_said_plainly() -> None:
    class HalfWired(WiredActions):
        def implementation(self, capability: Capability) -> object | None:
            return "a relay" if capability is Capability.POWER else None

        def describe_wiring(self) -> str:
            return "half"

    with pytest.raises(TypeError, match=r"given as the power of .* but does not implement PowerProtocol"):
        HalfWired().power_on()


def test_an_operator_does_wiring_not_the_console() -> None:
    with pytest.raises(ValueError, match="an operator can reset, power and press, not console"):
        OperatorSideband([Capability.BUTTON, Capability.CONSOLE])
