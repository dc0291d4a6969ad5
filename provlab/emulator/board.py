"""The emulated Edgent board: a legacy Edgent sketch's firmware (`firmware.py`, ESP32 or another family by
its profile) loaded on simulated hardware (`hardware.py`).

`EmulatedBoard` is the face the rest of provlab uses: power, button, what the firmware shows (state,
config, history) and the parts a test may reach (flash, serial, LED, cloud client). The hardware knows
nothing of Edgent; the firmware drives the hardware; the console and the SoftAP pages ask the firmware
through narrow commands (`ConsoleFirmware`, `PortalFirmware`).
"""

from __future__ import annotations

import ssl
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from provlab.emulator.button import ResetButton
from provlab.emulator.clock import DeviceClock
from provlab.emulator.console import EdgentConsole
from provlab.emulator.defects import Behaviour, Defect, behaviour_for
from provlab.emulator.firmware import EdgentFirmware, TransitionRecord
from provlab.emulator.flash import Flash, WriteModel
from provlab.emulator.hardware import BoardHardware
from provlab.emulator.indicator import StatusLed
from provlab.emulator.mqtt_client import CloudClient
from provlab.emulator.portal import ConfigPortal
from provlab.emulator.profile import FirmwareProfile
from provlab.emulator.serial_port import BoardSerial
from provlab.emulator.tls import client_context
from provlab.protocol import edgent_http as api
from provlab.protocol.config_blob import ConfigBlob
from provlab.protocol.states import EdgentState
from provlab.wifi.backend import BoardRadio, HostedAccessPoint, Link, WifiBackend

__all__ = ["EmulatedBoard", "TransitionRecord"]


class EmulatedBoard:
    """One board: flash, serial, radio, button and LED (`hardware`) with the Edgent firmware on them."""

    def __init__(
        self,
        profile: FirmwareProfile,
        mac: bytes,
        radio: BoardRadio,
        flash_path: str | Path,
        serial: BoardSerial,
        *,
        clock: DeviceClock,
        name: str = "board",
        defects: Iterable[Defect | str] = (),
        tls_ca: str | Path | ssl.SSLContext | None = None,
        flash_model: WriteModel | None = None,
    ) -> None:
        """`flash_model`: how config writes reach the flash (default: the profile's family's)."""
        model = flash_model or profile.family.flash_model
        self.hardware = BoardHardware(mac, radio, flash_path, serial, clock=clock, name=name, flash_model=model)
        tls = client_context(tls_ca) if isinstance(tls_ca, (str, Path)) else tls_ca
        behaviour = behaviour_for(defects)
        family = getattr(profile, "make_firmware", None)  # a family's own firmware (families/), else the sketch
        self.firmware: EdgentFirmware = (
            family(self.hardware, behaviour=behaviour, tls=tls)
            if family is not None
            else EdgentFirmware(self.hardware, profile, behaviour=behaviour, tls=tls)
        )
        self.hardware.load(self.firmware)

    # --- the hardware -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.hardware.name

    @property
    def mac(self) -> bytes:
        return self.hardware.mac

    @property
    def mac_text(self) -> str:
        return self.hardware.mac_text

    @property
    def softap_mac(self) -> bytes:
        return self.hardware.softap_mac

    @property
    def clock(self) -> DeviceClock:
        return self.hardware.clock

    @property
    def flash(self) -> Flash:
        return self.hardware.flash

    @property
    def serial(self) -> BoardSerial:
        return self.hardware.serial

    @property
    def radio(self) -> BoardRadio:
        return self.hardware.radio

    @property
    def station(self) -> WifiBackend:
        return self.hardware.station

    @property
    def softap(self) -> HostedAccessPoint | None:
        return self.hardware.softap

    @property
    def led(self) -> StatusLed:
        return self.hardware.led

    @property
    def powered(self) -> bool:
        return self.hardware.powered

    @property
    def download_mode(self) -> bool:
        """The chip runs the ROM serial downloader (IO0 was low at reset): esptool can write its flash."""
        return self.hardware.download_mode

    async def power_on(self) -> None:
        await self.hardware.power_on()

    async def power_off(self) -> None:
        await self.hardware.power_off()

    def restart(self) -> None:
        """`ESP.restart()`."""
        self.hardware.restart()

    def press_button(self) -> None:
        self.hardware.press_button()

    def release_button(self) -> None:
        self.hardware.release_button()

    async def hold_button(self, device_seconds: float) -> None:
        """Press, keep the button down for `device_seconds` of device time, release."""
        await self.hardware.hold_button(device_seconds)

    # --- the firmware -------------------------------------------------------------------------------
    @property
    def factory_profile(self) -> FirmwareProfile:
        return self.firmware.factory_profile

    @property
    def profile(self) -> FirmwareProfile:
        """The running image's profile (an installed update brings its own version and build)."""
        return self.firmware.profile

    @property
    def behaviour(self) -> Behaviour:
        return self.firmware.behaviour

    @property
    def ssid(self) -> str:
        return self.firmware.ssid

    @property
    def state(self) -> EdgentState:
        return self.firmware.state

    @property
    def config(self) -> ConfigBlob:
        """The config the firmware runs with (read it; change it through the console or the portal)."""
        return self.firmware.config

    @property
    def history(self) -> deque[TransitionRecord]:
        return self.firmware.history

    @property
    def listeners(self) -> list[Callable[[EdgentState, EdgentState], None]]:
        """Called with (old, new) on every state change; append and remove freely."""
        return self.firmware.listeners

    @property
    def boots(self) -> int:
        return self.firmware.boots

    @property
    def net_retries(self) -> int:
        return self.firmware.net_retries

    @property
    def cloud_retries(self) -> int:
        return self.firmware.cloud_retries

    @property
    def client(self) -> CloudClient:
        return self.firmware.client

    @property
    def console(self) -> EdgentConsole:
        return self.firmware.console

    @property
    def portal(self) -> ConfigPortal:
        return self.firmware.portal

    @property
    def button(self) -> ResetButton:
        """The firmware's view of the button (pressed, hold time)."""
        return self.firmware.button

    @property
    def button_pressed(self) -> bool:
        return self.firmware.button.pressed

    @property
    def sta_link(self) -> Link | None:
        return self.firmware.sta_link

    @property
    def web_server_up(self) -> bool:
        """Whether config mode has its SoftAP web server listening."""
        return self.firmware.http is not None

    def set_state(self, new: EdgentState) -> None:
        """`BlynkState::set`, unchecked: for tests and tools."""
        self.firmware.set_state(new)

    def board_info(self) -> api.BoardInfo:
        """What `/board_info.json` would answer now."""
        return self.firmware.portal.board_info()
