"""Blynk.NCP boards: Arduino Nano 33 IoT and MKR WiFi 1010, a SAMD21 host running the `Edgent_NCP` example over
a u-blox NINA-W102 (ESP32) flashed with Blynk.NCP.

The facts of the two builds. The host's code is public (`blynkkk/blynk-library:src/BlynkEdgentNCP.h`,
`examples/Blynk.Edgent/Edgent_NCP/Edgent_NCP.ino`); the NCP firmware is proprietary ("The NCP source code is
proprietary", maintainer in Blynk-Technologies/Blynk-NCP-Example-Arduino#7), so what it does is chosen and
recorded in `provlab.protocol.choices` (the `NCP_*` block). The emulation is `ncp_firmware.NcpFirmware`.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

from provlab.drivers.capabilities import Capability
from provlab.emulator.profile import FirmwareProfile
from provlab.protocol import choices
from provlab.protocol.ncp import SAMD_NINA_BAUD
from provlab.protocol.ssid import Chip

if TYPE_CHECKING:
    from provlab.emulator.defects import Behaviour
    from provlab.emulator.firmware import EdgentFirmware
    from provlab.emulator.hardware import BoardHardware


@dataclass(frozen=True)
class NcpProfile(FirmwareProfile):
    """A host MCU + Blynk.NCP build. The inherited `device` is the host's `BLYNK_INFO_DEVICE` (its banner)."""

    ncp_version: str = choices.NCP_FIRMWARE_VERSION
    """What `rpc_blynk_getNcpVersion()` answers (the host logs `Blynk.NCP firmware: <it>`)."""
    ncp_device: str = "ESP32"
    """`BLYNK_INFO_DEVICE` of the NCP's own build (NINA-W102 is an ESP32): `dev` of its info message."""
    ncp_present: bool = True
    """False: the module does not answer (not flashed with Blynk.NCP, or absent): the host gives up after 10 s."""
    ncp_initial_baud: int = choices.NCP_INITIAL_BAUD
    ncp_target_baud: int = SAMD_NINA_BAUD
    rgb_led: tuple[int, int, int, bool] | None = None
    """`ncpConfigure()`'s `rpc_hw_initRGB(r, g, b, common_anode)`; None: the build configures no LED."""
    provisioning_public: bool = False
    """The NCP's provisioning firmware is Blynk's and unpublished (`choices.NCP_*`)."""
    wired: frozenset[Capability] = frozenset({Capability.RESET, Capability.POWER})
    """What the lab can do to the board: no button (neither the sketch nor `ncpConfigure()` sets one up)."""
    serial_lacks: frozenset[Capability] = frozenset({Capability.CONSOLE, Capability.EDGENT_LOG})
    """What the board's USB serial does not show: `Edgent_NCP.ino` reads no console, and the provisioning
    firmware's log goes to the NINA's UART0, which these boards do not route to USB."""

    def make_firmware(
        self, hardware: BoardHardware, *, behaviour: Behaviour, tls: ssl.SSLContext | None
    ) -> EdgentFirmware:
        from provlab.emulator.families.ncp_firmware import NcpFirmware  # the firmware imports this module

        return NcpFirmware(hardware, self, behaviour=behaviour, tls=tls)


def _ncp_board(
    name: str, device: str, template_id: str, template_name: str, overrides: dict[str, object]
) -> NcpProfile:
    fields: dict[str, object] = {"device": device, "platform": f"{device} + NINA-W102", **overrides}
    return NcpProfile(name=name, chip=Chip.ESP32, template_id=template_id, template_name=template_name, **fields)  # type: ignore[arg-type]


def nano33iot(template_id: str = "TMPL0PROVLAB", template_name: str = "Device", **overrides: object) -> NcpProfile:
    """Arduino Nano 33 IoT: `ARDUINO_SAMD_NANO_33_IOT`, `ncpConfigure()` empty (BlynkEdgentNCP.h:173-175)."""
    return _ncp_board("edgent-ncp-nano33iot", "Nano 33 IoT", template_id, template_name, overrides)


def mkr1010(template_id: str = "TMPL0PROVLAB", template_name: str = "Device", **overrides: object) -> NcpProfile:
    """Arduino MKR WiFi 1010: `ARDUINO_SAMD_MKRWIFI1010`, RGB LED on NCP pins 26/25/27 (BlynkEdgentNCP.h:176-180)."""
    fields: dict[str, object] = {"rgb_led": (26, 25, 27, False), **overrides}
    return _ncp_board("edgent-ncp-mkr1010", "MKR WiFi 1010", template_id, template_name, fields)
