"""The emulated board's simulated hardware: power rail, CPU, UART, flash, radio, button line, LED and clock.

It knows nothing of Edgent: it runs whatever `Program` is loaded on it, the way an ESP32 runs its app
image. The chip runs one main task per power-up plus the timers and tasks that task starts; a power cut
or `ESP.restart()` stops all of them dead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

from provlab.emulator.clock import DeviceClock
from provlab.emulator.flash import Flash, WriteModel
from provlab.emulator.indicator import LedPattern, StatusLed
from provlab.emulator.rom_loader import POWERON_RESET, ROM_DOWNLOAD_BOOT, SW_CPU_RESET, RomLoader
from provlab.emulator.serial_port import BoardSerial
from provlab.protocol.ssid import format_mac
from provlab.wifi.backend import AccessPoint, BoardRadio, HostedAccessPoint

log = logging.getLogger("provlab.emulator.hardware")


class Program(Protocol):
    """What the chip calls in the app it runs: its entry point, the button interrupt and the teardown."""

    def main(self) -> Coroutine[Any, Any, None]:
        """`setup()` then `loop()` forever: the CPU's one main task per power-up."""
        ...

    def on_button(self, pressed: bool) -> None:
        """The button GPIO's interrupt: the line went down (`pressed`) or up."""
        ...

    def halted(self) -> None:
        """The CPU stopped (its tasks and timers are gone): forget what only lived in the running program."""
        ...

    async def discard(self) -> None:
        """After the radio left the air: drop the sockets and servers the program held."""
        ...


class BoardHardware:
    """One ESP32-class board without its firmware: what stays when the app image is swapped."""

    def __init__(
        self,
        mac: bytes,
        radio: BoardRadio,
        flash_path: str | Path,
        serial: BoardSerial,
        *,
        clock: DeviceClock,
        name: str = "board",
        flash_model: WriteModel = WriteModel.NVS_ATOMIC,
    ) -> None:
        self.mac = mac
        self.softap_mac = mac[:5] + bytes([(mac[5] + 1) & 0xFF])
        self.radio = radio
        self.station = radio.station
        self.flash = Flash(flash_path, flash_model)
        self.serial = serial
        self.clock = clock
        self.name = name
        self.led = StatusLed()
        self.powered = False
        self._program: Program | None = None
        self._main: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: list[asyncio.TimerHandle] = []
        self._rebooting = False
        self.io0_low = False
        """The boot strapping pin GPIO0, which is also the BOOT button Edgent uses: low while it is pressed."""
        self.rom: RomLoader | None = None
        """The ROM serial downloader while the chip came out of reset with IO0 low (download mode), else None."""
        self._app_receiver: Callable[[bytes], None] | None = None
        self.reset_cause = POWERON_RESET
        """What the ROM's `rst:` line says about the last reset: power-up/EN, or `ESP.restart()`."""

    def load(self, program: Program) -> None:
        """Flash the app the CPU runs from the next power-up on."""
        self._program = program

    def _loaded(self) -> Program:
        if self._program is None:
            raise RuntimeError(f"{self.name}: no program loaded; call BoardHardware.load() before power_on()")
        return self._program

    # --- identity, UART, LED, radio -----------------------------------------------------------------
    @property
    def mac_text(self) -> str:
        return format_mac(self.mac)

    @property
    def softap(self) -> HostedAccessPoint | None:
        return self.radio.ap

    def write_serial(self, text: str) -> None:
        self.serial.write(text.encode("utf-8"))

    def show_led(self, pattern: LedPattern) -> None:
        self.led.show(pattern, self.clock.millis(), time.time())

    async def scan(self) -> list[AccessPoint]:
        """What the station hears, without the board's own SoftAP (a radio does not hear its own beacon)."""
        own = self.radio.ap
        return [ap for ap in await self.station.scan() if own is None or ap.bssid != own.bssid]

    # --- button ---------------------------------------------------------------------------------------
    def press_button(self) -> None:
        """The BOOT button (GPIO0) goes low: the app sees it; held through a reset it starts the ROM downloader."""
        self.io0_low = True
        if self.powered and self.rom is None:
            self._loaded().on_button(True)

    def release_button(self) -> None:
        self.io0_low = False
        if self.powered and self.rom is None:
            self._loaded().on_button(False)

    async def hold_button(self, device_seconds: float) -> None:
        """Press, keep the button down for `device_seconds` of device time, release."""
        self.press_button()
        await self.clock.sleep(device_seconds)
        self.release_button()

    # --- power and CPU --------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Powered and not on the way into a restart: the program's loop goes on."""
        return self.powered and not self._rebooting

    def is_main_task(self) -> bool:
        """Whether the caller is this power-up's main task (False once the power went)."""
        return self._main is asyncio.current_task()

    @property
    def download_mode(self) -> bool:
        """The chip runs the ROM serial downloader (it left reset with IO0 low), not the app."""
        return self.rom is not None

    async def power_on(self, *, sample_strapping: bool = True) -> None:
        """Leave reset: GPIO0 high boots the app, GPIO0 low (BOOT held) the ROM serial downloader. A software
        restart (`ESP.restart()`) passes `sample_strapping=False`: only power-on and EN resets latch the boot mode
        here, so a restart while the config button is held boots the app again, as the firmware expects."""
        if self.powered:
            return
        program = self._loaded()
        self.powered = True
        self._rebooting = False
        self.reset_cause = POWERON_RESET if sample_strapping else SW_CPU_RESET
        if self.io0_low and sample_strapping:
            self._enter_download_mode()
            return
        self._main = asyncio.get_running_loop().create_task(program.main(), name=f"{self.name}-firmware")

    def _enter_download_mode(self) -> None:
        log.info("%s: IO0 low at reset: ROM serial downloader", self.name)
        self._app_receiver = self.serial.on_receive
        self.rom = RomLoader(self.mac, self.serial.write, self.flash.write_app, self.flash.erase)
        self.serial.on_receive = self.rom.receive
        self.serial.write(ROM_DOWNLOAD_BOOT)

    def _leave_download_mode(self) -> None:
        if self.rom is not None:
            self.rom = None
            self.serial.on_receive = self._app_receiver

    async def power_off(self) -> None:
        program = self._loaded()
        self.powered = False
        self._leave_download_mode()
        main, self._main = self._main, None
        if main is not None and main is not asyncio.current_task():
            main.cancel()
            # wait for it to end without taking on its outcome, but let our own cancellation through
            await asyncio.wait({main})
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        program.halted()
        # The chip stops dead: its radio leaves the air before any socket is closed, so the cloud
        # hears no FIN and must time the device out itself (C11), as with a real power cut or reboot.
        await self.radio.stop_ap()
        await self.station.leave()
        await program.discard()

    def restart(self) -> None:
        """`ESP.restart()`: from anywhere (HTTP handler, console, timer)."""
        if self._rebooting or not self.powered:
            return
        self._rebooting = True
        self.spawn(self._restart())

    async def _restart(self) -> None:
        await self.power_off()
        await self.power_on(sample_strapping=False)

    def cut_power(self) -> None:
        """The power went during a flash write: the chip stops dead, no further output."""
        log.info("%s: power cut during a flash write", self.name)
        self.spawn(self.power_off())

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def later(self, device_seconds: float, callback: Callable[[], None]) -> None:
        """A CPU timer: runs after `device_seconds` of device time unless the power goes first."""
        self._timers = [t for t in self._timers if not t.cancelled()]
        self._timers.append(self.clock.call_later(device_seconds, callback))
