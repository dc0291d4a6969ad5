"""Control sidebands: the capability model, skipping, and each implementation for real (issue 7 §4)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from serialrig import EmulatedRig

from provlab.drivers.serial_board import SerialBoard
from provlab.drivers.sideband import (
    Capability,
    CapabilityMissing,
    CombinedSideband,
    NoSideband,
    required_capabilities,
    skip_reason,
)
from provlab.drivers.sideband.command import CommandSideband, SidebandCommandFailed
from provlab.drivers.sideband.config import build_sideband
from provlab.drivers.sideband.esp_lines import DtrRtsSideband, EspWiring, SysfsGpio, auto_reset_levels
from provlab.drivers.sideband.operator import OperatorDeclined, OperatorSideband
from provlab.emulator.sideband import EmulatedSideband
from provlab.protocol.led import LedPattern
from provlab.protocol.serial_log import ButtonHoldHint, ResettingConfig

PY = sys.executable


class RecordedLines:
    """ModemLines that remember every change, in order."""

    def __init__(self) -> None:
        self.changes: list[tuple[str, bool]] = []
        self.dtr = True
        self.rts = True  # what a freshly opened port has

    def set_dtr(self, active: bool) -> None:
        self.changes.append(("dtr", active))
        self.dtr = active

    def set_rts(self, active: bool) -> None:
        self.changes.append(("rts", active))
        self.rts = active


# --- capability model --------------------------------------------------------------------------------


def test_a_missing_capability_is_a_specific_error_naming_the_sideband() -> None:
    assert NoSideband().capability(Capability.POWER) is None
    with pytest.raises(CapabilityMissing) as failure:
        NoSideband().require(Capability.POWER, "switch the board off")
    assert failure.value.capability is Capability.POWER
    assert "cannot switch the board off" in str(failure.value) and "none: serial data only" in str(failure.value)


def test_skip_reason_names_board_wiring_and_markers() -> None:
    lines = DtrRtsSideband(RecordedLines(), EspWiring())  # reset only, no button
    assert required_capabilities(["needs_button", "parametrize", "needs_power"]) == {
        Capability.BUTTON,
        Capability.POWER,
    }
    assert skip_reason("bench-a", lines, ["needs_reset"]) is None
    reason = skip_reason("bench-a", lines, ["needs_button", "needs_power"])
    assert reason == (
        "bench-a has no button, power control (DTR/RTS auto-reset circuit, no button); "
        "the scenario is marked needs_power, needs_button"
    )
    assert skip_reason("bench-b", None, ["needs_reset"]) == (
        "bench-b has no reset control (no control sideband); the scenario is marked needs_reset"
    )


def test_the_plugin_can_skip_scenarios_with_the_reason(pytester: pytest.Pytester) -> None:
    """What the pytest plugin will do with `skip_reason`, shown with a conftest standing in for it."""
    pytester.makeconftest(
        textwrap.dedent(
            """
            import pytest
            from provlab.drivers.sideband import NoSideband, skip_reason

            def pytest_runtest_setup(item):
                reason = skip_reason("board-1", NoSideband(), [m.name for m in item.iter_markers()])
                if reason:
                    pytest.skip(reason)
            """
        )
    )
    pytester.makepyfile(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.needs_button
            def test_button_reset():
                raise AssertionError("must not run")

            def test_console_only():
                pass
            """
        )
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rs", "-p", "no:provlab")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*board-1 has no button control (none: serial data only)*needs_button*"])


# --- combined, command, operator ---------------------------------------------------------------------


def test_external_commands_run_for_real_with_placeholders(tmp_path: Path) -> None:
    journal = tmp_path / "relay.txt"
    write = f"import sys; open({str(journal)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')"
    sideband = CommandSideband(
        {"power_on": [PY, "-c", write, "{name}", "on"], "power_off": [PY, "-c", write, "{name}", "off"]},
        name="bench-a",
        port="/dev/ttyUSB0",
    )
    assert sideband.capabilities == {Capability.POWER, Capability.RESET}
    sideband.power_cycle(off_seconds=0)
    sideband.reset()  # no reset command: a power cycle does it
    assert journal.read_text().splitlines() == ["bench-a off", "bench-a on", "bench-a off", "bench-a on"]
    with pytest.raises(CapabilityMissing):
        sideband.press_button()


def test_a_failing_command_says_what_it_ran_and_what_it_printed(tmp_path: Path) -> None:
    fail = f"{PY} -c \"import sys; sys.stderr.write('relay 1 not found'); sys.exit(3)\""
    sideband = CommandSideband({"reset": fail}, name="bench-a")
    with pytest.raises(SidebandCommandFailed) as failure:
        sideband.reset()
    assert "reset for bench-a" in str(failure.value) and "exited with status 3: relay 1 not found" in str(failure.value)
    with pytest.raises(SidebandCommandFailed, match="not found"):
        CommandSideband({"reset": "provlab-no-such-relay-tool --r1"}).reset()
    with pytest.raises(SidebandCommandFailed, match=r"did not finish within 0\.2 s"):
        CommandSideband({"reset": [PY, "-c", "import time; time.sleep(5)"]}, timeout=0.2).reset()
    with pytest.raises(ValueError, match="both power_on and power_off"):
        CommandSideband({"power_on": "relay on"})


def test_an_led_sensor_command_says_what_the_led_shows(tmp_path: Path) -> None:
    """`led` runs the sensor's program and reads the pattern off its last line; a reading that is no pattern is
    an error that shows the command and the expected form."""
    sensor = CommandSideband({"led": [PY, "-c", "print('sampling 2 s...'); print('beat #0D36FF {52,497}')"]})
    assert sensor.capabilities == {Capability.LED}
    assert sensor.led() == LedPattern.parse("beat BLUE {52,497}")
    built = build_sideband([{"kind": "command", "led": [PY, "-c", "print('wave BLYNK {5000}')"]}])
    assert built.capability(Capability.LED) is not None
    assert built.require(Capability.LED, "see the LED").led() == LedPattern.parse("wave BLYNK {5000}")
    garbled = CommandSideband({"led": [PY, "-c", "print('green-ish')"]}, name="bench-a")
    with pytest.raises(SidebandCommandFailed) as failure:
        garbled.led()
    assert "led for bench-a:" in str(failure.value) and "printed no LED pattern" in str(failure.value)
    assert "expected `off`, `beat COLOR" in str(failure.value)
    with pytest.raises(CapabilityMissing, match="no LED capability"):
        CommandSideband({"reset": "true"}).led()


def test_the_operator_is_asked_and_can_decline() -> None:
    asked: list[str] = []
    answers = iter(["", "", "skip"])

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return next(answers)

    operator = OperatorSideband([Capability.BUTTON, Capability.RESET], name="station-3", ask=ask)
    operator.hold_button(10)
    operator.reset()
    with pytest.raises(OperatorDeclined, match="declined: press and release the RESET"):
        operator.reset()
    assert asked[0] == (
        "[provlab] station-3: hold the config button for 10 s, then release it, then press Enter (or type skip): "
    )
    with pytest.raises(CapabilityMissing):
        operator.power_off()


def test_a_combined_sideband_routes_each_action_to_a_part_that_can(tmp_path: Path) -> None:
    lines = RecordedLines()
    journal = tmp_path / "plug.txt"
    write = f"open({str(journal)!r}, 'a').write('{{}}\\n')"
    plug = CommandSideband({"power_on": [PY, "-c", write.format("on")], "power_off": [PY, "-c", write.format("off")]})
    combined = CombinedSideband([DtrRtsSideband(lines, EspWiring(reset_pulse_s=0)), plug])
    assert combined.capabilities == {Capability.RESET, Capability.POWER}
    assert combined.capability(Capability.POWER) is plug and combined.capability(Capability.BUTTON) is None
    combined.require(Capability.RESET, "reset the board").reset()  # the DTR/RTS part resets, not the plug
    combined.require(Capability.POWER, "switch the board off").power_off()
    assert journal.read_text() == "off\n" and ("rts", True) in lines.changes
    assert "DTR/RTS auto-reset circuit" in combined.describe() and "external commands" in combined.describe()


# --- DTR/RTS -------------------------------------------------------------------------------------------


def test_reset_pulses_en_with_io0_high_and_button_on_io0_never_resets() -> None:
    lines = RecordedLines()
    sideband = DtrRtsSideband(lines, EspWiring(button="io0", reset_pulse_s=0))
    # From the open port's (asserted, asserted): RTS is released before DTR, never RTS alone (EN low).
    assert lines.changes == [("rts", False), ("dtr", False)]

    lines.changes.clear()
    sideband.reset()
    assert lines.changes == [("rts", True), ("rts", False)]  # EN low, EN high; DTR (IO0) stays released

    lines.changes.clear()
    sideband.press_button()
    assert auto_reset_levels(lines.dtr, lines.rts) == (True, False)  # EN high, IO0 low: pressed, running
    sideband.release_button()
    assert lines.changes == [("dtr", True), ("dtr", False)]


def test_direct_wiring_and_gpio_button(tmp_path: Path) -> None:
    lines = RecordedLines()
    direct = DtrRtsSideband(lines, EspWiring(auto_reset=False, reset_line="dtr", button="rts", reset_pulse_s=0))
    lines.changes.clear()
    direct.reset()
    direct.press_button()
    assert lines.changes == [("dtr", True), ("dtr", False), ("rts", True)]
    assert direct.describe() == "reset on DTR, button on RTS"

    gpio_root = tmp_path / "gpio"
    (gpio_root / "gpio17").mkdir(parents=True)
    gpio = SysfsGpio(17, root=gpio_root)
    board = DtrRtsSideband(RecordedLines(), EspWiring(button="gpio"), gpio=gpio)
    assert (gpio_root / "gpio17" / "direction").read_text() == "high"  # released: the line idles high
    board.press_button()
    assert (gpio_root / "gpio17" / "value").read_text() == "0"  # active low: pressed pulls it to GND
    board.close()
    assert (gpio_root / "gpio17" / "value").read_text() == "1"


@pytest.mark.parametrize(
    ("wiring", "error"),
    [
        ({"reset_line": "rts"}, "auto-reset circuit"),
        ({"button": "dtr"}, "auto-reset circuit"),
        ({"auto_reset": False, "button": "io0"}, "set auto_reset=True"),
        ({"auto_reset": False, "reset_line": "dtr", "button": "dtr"}, "both reset and button"),
        ({"button": "gpio9"}, "expected one of"),
    ],
)
def test_impossible_wiring_is_refused(wiring: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        EspWiring(**wiring)  # type: ignore[arg-type]


# --- emulated ------------------------------------------------------------------------------------------


def test_emulated_sideband_presses_resets_and_powers_through_the_board_api(rig: EmulatedRig, tmp_path: Path) -> None:
    with SerialBoard(rig.path, name="board-1", time_scale=rig.scale, sideband=rig.sideband()) as board:
        rig.power_on()
        board.expect_state("WAIT_CONFIG", timeout=60)
        assert board.capabilities == frozenset(Capability)
        assert board.led() == LedPattern.parse("beat BLUE {50,500}")  # WAIT_CONFIG's, on the emulator's indicator

        mark = board.mark()
        board.hold_button(10.5)
        board.expect_event(ButtonHoldHint, timeout=400, since=mark)
        board.expect_state("RESET_CONFIG", timeout=400, since=mark)
        board.expect_event(ResettingConfig, timeout=400, since=mark)
        board.expect_state("WAIT_CONFIG", timeout=400, since=mark)

        mark = board.mark()
        board.power_cycle(off_seconds=1)
        board.expect_state("WAIT_CONFIG", timeout=400, since=mark)
        mark = board.mark()
        board.reset()
        board.expect_state("WAIT_CONFIG", timeout=400, since=mark)
        assert rig.board.boots == 3 and board.boots == 3

    narrowed = EmulatedSideband(rig.board, rig.run, capabilities=frozenset({Capability.RESET}))
    with pytest.raises(CapabilityMissing, match="emulated board-1: API calls"):
        narrowed.hold_button(10)
