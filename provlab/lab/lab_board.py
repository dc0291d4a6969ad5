"""One board as a scenario sees it: its serial port, its wiring (reset, power, button) and its place on the air."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from provlab.drivers.capabilities import Capability, ProvidesCapabilities
from provlab.drivers.device_info import DeviceInfo
from provlab.drivers.expecting import NotMatching, Pattern
from provlab.drivers.line_stream import ReceivedLine
from provlab.drivers.serial_board import SerialBoard
from provlab.drivers.serial_errors import ExpectTimeout
from provlab.emulator.board import EmulatedBoard
from provlab.lab.board_specs import AttachedBoard, BoardSource
from provlab.lab.capabilities import BoardOutOfReach
from provlab.lab.steps import StepJournal, step
from provlab.protocol.console import DevInfo
from provlab.protocol.led import TIMING_TOLERANCE, LedPattern
from provlab.protocol.serial_log import LogEvent, LogLine
from provlab.protocol.states import EdgentState

__tracebackhide__ = True  # pytest shows a scenario's failure without provlab's own frames (--fulltrace shows them)

if TYPE_CHECKING:
    from provlab.lab.lab import Lab

E = TypeVar("E", bound=LogEvent)
AP_URL_LINE = "AP URL:  blynk.setup"
AP_POLL_S = 0.05  # device seconds between looks at an emulated board's web server (no log line says it is up)
LED_POLL_S = 0.1  # device seconds between looks at the LED (a sensor's command takes its own time on top)


class LabBoard(ProvidesCapabilities):
    """One board as a scenario sees it: its serial port plus a control sideband.

    Everything a scenario needs is a method here, named as in pytest-embedded's `dut` where one fits:
    `mark()`, `lines()`, `expect()`, `expect_exact()`, `expect_event()`, `expect_state()`, `console()`,
    `devinfo()`, and the wiring's `power_*`, `reset`, `*_button`. Waits take device seconds; a wait that
    runs out raises `ExpectTimeout` with the board's last lines, the device-time budget and the log path.
    `serial` (the driver underneath) is for the lab itself, not for scenarios.
    """

    def __init__(
        self,
        lab: Lab,
        index: int,
        serial: SerialBoard,
        emulated: EmulatedBoard | None,
        *,
        attached: AttachedBoard | None = None,
        profile: str | None = None,
    ) -> None:
        self.lab = lab
        self.index = index
        self.serial = serial
        self.emulated = emulated
        self.attached = attached
        """Where a board that this lab does not emulate comes from (port, inventory entry, replay)."""
        self._profile = profile

    @property
    def replayed(self) -> bool:
        """Whether this board is a replayed recording (`replay:FILE`): it prints, and does nothing else."""
        return self.attached is not None and self.attached.source is BoardSource.REPLAY

    @property
    def on_air(self) -> bool:
        """Whether the lab's phones can reach this board's access point: an emulated board's is on the air the lab
        builds; a real board's is on the real air, which a lab reaches when its phone is a real adapter
        (`wifi = wpa:IFACE`); a replayed recording has none."""
        return self.emulated is not None or (self.lab.on_real_air and not self.replayed)

    def out_of_reach(self, step: str) -> str:
        """Why the phone cannot `step` on this board (for a skip reason)."""
        if self.replayed:
            return (
                f"{self.name} ({self.attached}) is a replayed recording: it has no access point, so the phone cannot "
                f"{step}. Phone steps need a live board (emulated, or real with --wifi wpa:IFACE or nm:IFACE)."
            )
        return (
            f"{self.name} ({self.attached or self.serial.url}) is attached by serial; its access point is not "
            f"on this lab's {self.lab.config.wifi!r} air, so the phone cannot {step}. Phone steps on real boards "
            "need a real adapter as the phone's radio: --wifi wpa:IFACE or nm:IFACE (see provlab doctor)."
        )

    def require_on_air(self, step: str) -> None:
        if not self.on_air:
            raise BoardOutOfReach(self.out_of_reach(step))

    @property
    def name(self) -> str:
        return self.serial.name

    @property
    def step_journal(self) -> StepJournal:
        """Where this board's actions are recorded (the lab's step journal)."""
        return self.lab.steps

    def implementation(self, capability: Capability) -> object | None:
        """What the board's driver has: its console and serial log, and what its wiring allows (reset, power,
        button); `capability(Capability.BUTTON)` is None on a board without a wired button."""
        if capability in self._not_on_serial:
            return None
        return self.serial.capability(capability)

    @property
    def _not_on_serial(self) -> frozenset[Capability]:
        """What this board's firmware does not show on its serial port (an emulated NCP board: no console, no
        Edgent log; the profile's `serial_lacks`)."""
        profile = self.emulated.profile if self.emulated is not None else None
        lacks: object = getattr(profile, "serial_lacks", None)
        return frozenset(c for c in lacks if isinstance(c, Capability)) if isinstance(lacks, frozenset) else frozenset()

    def describe_wiring(self) -> str:
        wiring = self.serial.describe_wiring()
        if self._not_on_serial:
            lacking = ", ".join(sorted(c.value for c in self._not_on_serial))
            return f"{wiring}; {self.profile_name} shows no {lacking} on its serial port"
        return wiring

    @property
    def profile_name(self) -> str:
        """The firmware profile: the emulated board's, or an inventory entry's `profile` tag."""
        if self.emulated is not None:
            return self.emulated.profile.name
        return self._profile or "unknown"

    @property
    def ssid(self) -> str:
        """The board's SoftAP SSID: the emulated firmware's, or what a real board says in `devinfo`; a board without
        a console (a replayed recording) says it only in its log (banner `Device:`, `AP SSID:`, ESP-IDF Edgent's
        `initialized (device: …)`), and raises `CapabilityMissing` when it has not."""
        if self.emulated is not None:
            return self.emulated.ssid
        if self.capability(Capability.CONSOLE) is None and self.info.name is not None:
            return self.info.name
        return self.devinfo(timeout=5.0).name

    # --- what the board printed -----------------------------------------------------------------------
    @property
    def state(self) -> EdgentState | None:
        """The state of the last `X => Y` line (INIT right after a boot), None before any."""
        return self.serial.state

    @property
    def last_error(self) -> int | None:
        """The code of the last `Last error code: 70x` line, None before any."""
        return self.serial.last_error

    @property
    def info(self) -> DeviceInfo:
        """Identity from the boot banner and the `devinfo` replies seen so far."""
        return self.serial.info

    @property
    def boots(self) -> int:
        """Boots seen since the lab opened the board's port."""
        return self.serial.boots

    def mark(self) -> int:
        """A position in what the board printed; `expect_*(since=mark)` and `lines(mark)` look only after it."""
        return self.serial.mark()

    def lines(self, since: int = 0) -> list[ReceivedLine]:
        """The lines the board printed from position `since` (a `mark()`) on, each with its parsed event."""
        return self.serial.stream.lines(since)

    # --- waiting for it -----------------------------------------------------------------------------------
    @step("expect_state")
    def expect_state(
        self,
        state: str | EdgentState,
        timeout: float = 60.0,
        since: int | None = None,
        *,
        not_matching: NotMatching = None,
    ) -> None:
        """Wait until the board enters `state` (a new entry after `since`, or being in it now without `since`)."""
        self.serial.expect_state(state, timeout, since, not_matching=not_matching)

    @step("expect")
    def expect(
        self, pattern: Pattern, timeout: float = 60.0, since: int | None = None, *, not_matching: NotMatching = None
    ) -> re.Match[str]:
        """The first line (from `since`) that the regular expression `pattern` finds a match in."""
        return self.serial.expect(pattern, timeout, since, not_matching=not_matching)

    @step("expect_exact")
    def expect_exact(
        self, text: str, timeout: float = 60.0, since: int | None = None, *, not_matching: NotMatching = None
    ) -> LogLine:
        """The first line (from `since`) containing `text` as it is (no regular expression)."""
        return self.serial.expect_exact(text, timeout, since, not_matching=not_matching)

    @step("expect_ap")
    def expect_ap(self, timeout: float = 30.0) -> None:
        """Wait until the board's access point and its web server are up: its `AP URL:  blynk.setup` line where
        the board shows the Edgent log, else (a Blynk.NCP board, whose host prints no such line) the emulated
        board's SoftAP web server listening."""
        if self.capability(Capability.EDGENT_LOG) is not None:
            self.expect(AP_URL_LINE, timeout)
            return
        emulated = self.emulated
        if emulated is None:
            raise BoardOutOfReach(
                f"{self.name} shows no Edgent log on its serial port, so the lab cannot see its access point start"
            )
        clock = self.lab.clock
        deadline = clock.now() + timeout
        while not emulated.web_server_up:
            if clock.now() >= deadline:
                raise AssertionError(
                    f"{self.name}: its access point's web server did not come up within {timeout} s (device time)"
                )
            clock.sleep(AP_POLL_S)

    @step("expect_event")
    def expect_event(
        self,
        kind: type[E] | E,
        timeout: float = 60.0,
        since: int | None = None,
        *,
        where: Callable[[E], bool] | None = None,
        not_matching: NotMatching = None,
    ) -> E:
        """The first serial-log event of type `kind` (or equal to the event `kind`, e.g. `LastError(701)`)."""
        return self.serial.expect_event(kind, timeout, since, where=where, not_matching=not_matching)

    # --- the wiring: the same calls for emulated and real boards; the driver asks its capabilities for each
    # (`WiredActions`), `CapabilityMissing` when the board has none ------------------------------------------
    @step("power_on")
    def power_on(self) -> None:
        self.serial.power_on()

    @step("power_off")
    def power_off(self) -> None:
        self.serial.power_off()

    @step("power_cycle")
    def power_cycle(self, off_seconds: float = 1.0) -> None:
        """Off, `off_seconds` of device time, on."""
        self.serial.power_cycle(off_seconds)

    @step("reset")
    def reset(self) -> None:
        self.serial.reset()

    @step("press_button")
    def press_button(self) -> None:
        self.serial.press_button()

    @step("release_button")
    def release_button(self) -> None:
        self.serial.release_button()

    @step("hold_button")
    def hold_button(self, seconds: float) -> None:
        """Press, hold for `seconds` of device time, release."""
        self.serial.hold_button(seconds)

    def led(self) -> LedPattern:
        """What the status LED shows now (the emulator's indicator, or the LED sensor in the board's sideband);
        `CapabilityMissing` on a board without one (`needs_led` skips such boards)."""
        return self.require(Capability.LED, "see the status LED").led()

    @step("expect_led")
    def expect_led(
        self, pattern: str | LedPattern, timeout: float = 5.0, *, tolerance: float = TIMING_TOLERANCE
    ) -> LedPattern:
        """Wait until the LED shows `pattern` (`beat BLUE {50,500}`, `wave BLYNK {5000}`, `off`; spec §4.2), each
        phase within `tolerance` of the spec's; what it showed. On timeout, `ExpectTimeout` names the last
        pattern seen."""
        wanted = LedPattern.parse(pattern) if isinstance(pattern, str) else pattern
        sensor = self.require(Capability.LED, "see the status LED")
        clock = self.serial.clock
        deadline = clock.now() + timeout
        while True:
            seen = sensor.led()
            if wanted.matches(seen, tolerance):
                return seen
            if clock.now() >= deadline:
                tail = [received.line.raw for received in self.lines()[-10:]]
                state = self.state.name if self.state is not None else "unknown"
                what = f"the LED to show {wanted} (it shows {seen}; board state {state})"
                raise ExpectTimeout(what, timeout, tail, self.serial.log_path, budget=clock.budget(timeout))
            clock.sleep(LED_POLL_S)

    @step("console")
    def console(self, line: str, timeout: float = 10.0) -> list[str]:
        """Type `line` on the serial console; the lines it printed before the next prompt."""
        return list(self.serial.command(line, timeout).lines)

    @step("devinfo")
    def devinfo(self, timeout: float = 10.0) -> DevInfo:
        """The board's `devinfo` console reply, parsed (name, board, template, firmware, ...)."""
        return self.serial.command("devinfo", timeout).devinfo()

    @step("mac")
    def mac(self, timeout: float = 10.0) -> str:
        """The board's station MAC (`24:6F:28:AA:00:04`): the emulated board's, or what a real board's console
        says in `wifi show`."""
        if self.emulated is not None:
            return self.emulated.mac_text
        return self.serial.command("wifi show", timeout).wifi_show().mac

    def __repr__(self) -> str:
        return f"<LabBoard {self.name} {self.serial.url}>"
