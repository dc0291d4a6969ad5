"""The DTR/RTS sideband: an ESP board's auto-reset circuit driven through the USB bridge's modem lines.

ESP32/ESP8266 dev boards wire the bridge's RTS and DTR through two transistors (esptool's classic circuit):
EN (reset) is low while RTS is asserted and DTR is not; IO0 (boot mode, and on many boards the BOOT button
that Edgent uses as its config button) is low while DTR is asserted and RTS is not. Both asserted or both
released leave the chip running. A reset pulse keeps DTR released so IO0 stays high when EN rises: the chip
boots the application, not the ROM downloader (boot-mode avoidance). Line changes are ordered so they never
pass through the EN-low combination by accident.

Boards without the circuit can have a line wired straight to EN or to the button (`EspWiring(auto_reset=False,
reset_line="rts", button="dtr")`), or the button on a host GPIO (a Raspberry Pi station, `SysfsGpio`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from provlab.drivers.capabilities import Capability
from provlab.drivers.sideband.base import ButtonPress, SidebandError

DOWNLOAD_MODE_PATTERNS = (r"boot:0x[0-9a-fA-F]+ \(DOWNLOAD", r"waiting for download")
"""ROM lines of a chip that came out of reset with IO0 low (the serial downloader, not the app): pass them as
`not_matching=` when waiting for a boot after a reset."""
LINES = ("dtr", "rts")
BUTTONS = ("io0", "dtr", "rts", "gpio")


def auto_reset_levels(dtr: bool, rts: bool) -> tuple[bool, bool]:
    """(EN high, IO0 high) behind the auto-reset circuit for asserted (`True`) DTR and RTS."""
    return not (rts and not dtr), not (dtr and not rts)


def _disturbance(dtr: bool, rts: bool) -> int:
    """How bad passing through these levels is: EN low (a reset) 2, IO0 low (a button blip) 1, else 0."""
    en_high, io0_high = auto_reset_levels(dtr, rts)
    return (0 if en_high else 2) + (0 if io0_high else 1)


class ModemLines(Protocol):
    """Where DTR and RTS are set: a `SerialBoard`, or `PySerialLines` around a pyserial port."""

    def set_dtr(self, active: bool) -> None: ...

    def set_rts(self, active: bool) -> None: ...


class PySerialLines:
    """`ModemLines` of a pyserial port (a local tty, or `rfc2217://`, which forwards them to the server)."""

    def __init__(self, port: object) -> None:
        self.port = port

    def set_dtr(self, active: bool) -> None:
        self.port.dtr = active  # type: ignore[attr-defined]

    def set_rts(self, active: bool) -> None:
        self.port.rts = active  # type: ignore[attr-defined]


class GpioLine(Protocol):
    """A host output line wired to the board's button."""

    def set_active(self, active: bool) -> None: ...


class SysfsGpio:
    """A GPIO through Linux sysfs (`/sys/class/gpio/gpioN/value`); active-low by default (button to GND)."""

    def __init__(self, number: int, *, active_low: bool = True, root: Path | str = "/sys/class/gpio") -> None:
        self.number = number
        self.active_low = active_low
        self.root = Path(root)
        self.path = self.root / f"gpio{number}"
        try:
            if not self.path.exists():
                (self.root / "export").write_text(str(number))
            (self.path / "direction").write_text("high" if active_low else "low")
        except OSError as exc:
            raise SidebandError(f"cannot set up GPIO {number} at {self.path}: {exc}") from exc

    def set_active(self, active: bool) -> None:
        level = (not active) if self.active_low else active
        try:
            (self.path / "value").write_text("1" if level else "0")
        except OSError as exc:
            raise SidebandError(f"cannot drive GPIO {self.number} ({self.path}): {exc}") from exc


@dataclass(frozen=True)
class EspWiring:
    """How the host's modem lines (and maybe a GPIO) reach the board."""

    auto_reset: bool = True
    """The two-transistor circuit: RTS→EN, DTR→IO0."""
    reset_line: str | None = None
    """Without the circuit: the line (`dtr`/`rts`) that, asserted, holds EN low."""
    button: str | None = None
    """`io0` (the config button is GPIO0, reached through the circuit), `dtr`/`rts` (the line, asserted,
    presses the button), `gpio` (a host GPIO line), or None (no button wired)."""
    reset_pulse_s: float = 0.1
    """How long EN is held low, in wall seconds (hardware, not device time)."""

    def __post_init__(self) -> None:
        if self.button is not None and self.button not in BUTTONS:
            raise ValueError(f"button={self.button!r}: expected one of {', '.join(BUTTONS)} or None")
        if self.reset_line is not None and self.reset_line not in LINES:
            raise ValueError(f"reset_line={self.reset_line!r}: expected dtr or rts")
        if self.auto_reset and (self.reset_line is not None or self.button in LINES):
            raise ValueError(
                "with the auto-reset circuit DTR and RTS drive IO0 and EN: use button='io0' (or 'gpio') "
                "and no reset_line, or set auto_reset=False"
            )
        if not self.auto_reset and self.button == "io0":
            raise ValueError("button='io0' is reached through the auto-reset circuit: set auto_reset=True")
        if self.reset_line is not None and self.reset_line == self.button:
            raise ValueError(f"one line ({self.reset_line}) cannot be both reset and button")


class DtrRtsSideband(ButtonPress):
    """Reset (and the button, when wired) through DTR/RTS; the lines start released (chip runs)."""

    def __init__(
        self,
        lines: ModemLines,
        wiring: EspWiring | None = None,
        *,
        gpio: GpioLine | None = None,
        time_scale: float = 1.0,
    ) -> None:
        super().__init__(time_scale=time_scale)
        self.lines = lines
        self.wiring = wiring or EspWiring()
        if self.wiring.button == "gpio" and gpio is None:
            raise ValueError("button='gpio' needs a GpioLine (e.g. SysfsGpio(17))")
        self.gpio = gpio
        self._dtr: bool | None = None
        self._rts: bool | None = None
        self._set(dtr=False, rts=False)

    @property
    def capabilities(self) -> frozenset[Capability]:
        caps = set()
        if self.wiring.auto_reset or self.wiring.reset_line:
            caps.add(Capability.RESET)
        if self.wiring.button is not None:
            caps.add(Capability.BUTTON)
        return frozenset(caps)

    def describe(self) -> str:
        if self.wiring.auto_reset:
            wired = "DTR/RTS auto-reset circuit"
        else:
            wired = f"reset on {self.wiring.reset_line.upper()}" if self.wiring.reset_line else "no reset line"
        button = f", button on {self.wiring.button.upper()}" if self.wiring.button else ", no button"
        return wired + button

    @property
    def levels(self) -> tuple[bool | None, bool | None]:
        """(DTR, RTS) as last set."""
        return self._dtr, self._rts

    def _set(self, *, dtr: bool, rts: bool) -> None:
        """Move both lines; of the two orders, take the one whose in-between state disturbs the chip least
        (never EN low on the way unless EN low is the target). Unknown levels count as asserted, as a
        freshly opened port has them."""
        now_dtr = True if self._dtr is None else self._dtr
        now_rts = True if self._rts is None else self._rts
        dtr_first = True
        if self.wiring.auto_reset:
            dtr_first = _disturbance(dtr, now_rts) <= _disturbance(now_dtr, rts)
        for line in ("dtr", "rts") if dtr_first else ("rts", "dtr"):
            if line == "dtr" and self._dtr is not dtr:
                self.lines.set_dtr(dtr)
                self._dtr = dtr
            elif line == "rts" and self._rts is not rts:
                self.lines.set_rts(rts)
                self._rts = rts

    def _line(self, name: str, active: bool) -> None:
        if name == "dtr":
            self._set(dtr=active, rts=bool(self._rts))
        else:
            self._set(dtr=bool(self._dtr), rts=active)

    def reset(self) -> None:
        self.require(Capability.RESET, "reset the board")
        if self.wiring.auto_reset:
            self._set(dtr=False, rts=False)  # IO0 high before, during and after the pulse: boot the app
            self._set(dtr=False, rts=True)  # EN low
            time.sleep(self.wiring.reset_pulse_s)
            self._set(dtr=False, rts=False)  # EN high, IO0 high
            return
        assert self.wiring.reset_line is not None
        self._line(self.wiring.reset_line, True)
        time.sleep(self.wiring.reset_pulse_s)
        self._line(self.wiring.reset_line, False)

    def press_button(self) -> None:
        self.require(Capability.BUTTON, "press the button")
        self._button(True)

    def release_button(self) -> None:
        self.require(Capability.BUTTON, "release the button")
        self._button(False)

    def _button(self, active: bool) -> None:
        button = self.wiring.button
        if button == "io0":
            self._set(dtr=active, rts=False)
        elif button == "gpio":
            assert self.gpio is not None
            self.gpio.set_active(active)
        elif button is not None:
            self._line(button, active)

    def close(self) -> None:
        if self.wiring.button == "gpio" and self.gpio is not None:
            self.gpio.set_active(False)
