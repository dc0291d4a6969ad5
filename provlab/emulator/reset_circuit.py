"""The ESP dev board's auto-reset circuit: two transistors between the USB bridge's DTR/RTS and the chip's EN/IO0.

EN is low while RTS is asserted and DTR is not (the chip is held in reset); IO0 is low while DTR is asserted and
RTS is not. EN has an RC delay: the chip leaves reset `settle_s` after EN rises and samples IO0 then (high: the
app boots; low: the ROM serial downloader). That delay is why esptool's reset sequence (RTS alone, then DTR
alone a moment later) enters download mode. Wire it to whatever reports the host's DTR/RTS (an RFC 2217
server's port, a test's pty bridge): `circuit(dtr, rts)` from any thread.
"""

from __future__ import annotations

import asyncio

from provlab.drivers.sideband.esp_lines import auto_reset_levels
from provlab.emulator.board import EmulatedBoard

SETTLE_S = 0.1
"""Wall seconds from EN rising to the chip leaving reset and sampling IO0 (the EN pin's RC delay). Longer than
a real board's ~10 ms: over RFC 2217 each line change is a round trip that pyserial's client waits for in 50 ms
polls, so esptool's "DTR then RTS" step reaches the chip ~50 ms apart, and IO0 is released ~100 ms later."""


class AutoResetCircuit:
    """Drives an `EmulatedBoard` on `loop` from the host's modem lines; `events` says what happened, in order."""

    def __init__(self, board: EmulatedBoard, loop: asyncio.AbstractEventLoop, settle_s: float = SETTLE_S) -> None:
        self.board = board
        self.loop = loop
        self.settle_s = settle_s
        self.en_high = True
        self.events: list[str] = []
        self._boot: asyncio.TimerHandle | None = None

    def __call__(self, dtr: bool, rts: bool) -> None:
        self.loop.call_soon_threadsafe(self._lines, dtr, rts)

    def _lines(self, dtr: bool, rts: bool) -> None:
        en_high, io0_high = auto_reset_levels(dtr, rts)
        hardware = self.board.hardware
        if io0_high == hardware.io0_low:  # the IO0 level changed: the BOOT button as the chip sees it
            if io0_high:
                self.board.release_button()
            else:
                self.board.press_button()
            if hardware.running and self.en_high and en_high:
                self.events.append("IO0 " + ("high" if io0_high else "low"))
        if self.en_high and not en_high:
            self.events.append("EN low")
            if self._boot is not None:
                self._boot.cancel()
                self._boot = None
            self.loop.create_task(self.board.power_off())
        elif en_high and not self.en_high:
            self._boot = self.loop.call_later(self.settle_s, self._leave_reset)
        self.en_high = en_high

    def _leave_reset(self) -> None:
        self._boot = None
        self.events.append("boot: ROM download mode" if self.board.hardware.io0_low else "boot: app")
        self.loop.create_task(self.board.power_on())
