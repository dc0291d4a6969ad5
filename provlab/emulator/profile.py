"""Firmware profiles: what differs between Edgent builds (chip, template, versions, banner facts).

`PROFILES` is the registry the lab config, `provlab emulate --profile` and the lab read: a new build is a
factory (in a module of its own, or here) plus one `PROFILES.register(name, factory)`. A build of another
board family names its `Family` (`provlab/emulator/families/<family>.py`, the sketch's differences) and that
family's profile values: `PROFILES.register(name, family_profile(name, FAMILY, **PROFILE_FIELDS))`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from provlab.emulator.families import esp32, esp8266, wio_terminal
from provlab.emulator.family import Family
from provlab.protocol.registry import Registry
from provlab.protocol.ssid import Chip


@dataclass(frozen=True)
class FirmwareProfile:
    """The compile-time facts of one Edgent firmware build."""

    name: str
    chip: Chip
    template_id: str
    template_name: str
    fw_version: str = "0.1.0"
    fw_type: str | None = None  # BLYNK_FIRMWARE_TYPE defaults to the template id
    blynk_version: str = "1.4.0"
    build: str = "Nov 26 2026 03:29:17"  # __DATE__ __TIME__
    heartbeat_s: int = 40
    buff_in: int = 1024
    platform: str = "ESP32 @ 240MHz"
    device: str = "ESP32"  # BLYNK_INFO_DEVICE
    chip_model: str = "ESP32-D0WDQ6"
    chip_rev: int = 3
    sdk: str = "v4.4.7-dirty"
    flash_kb: int = 4096
    free_mem: int = 233_000
    heap_size: int = 327_680
    max_alloc: int = 110_580
    min_free: int = 219_000
    stack_unused: int = 5_232
    partition: str = "app0"
    partition_kb: int = 1280
    app_size_kb: int = 1061
    vendor_prefix: str = "Blynk"
    blnkopt: tuple[tuple[str, str], ...] | None = None
    """A patched `blnkopt` tag (spec §3.4): pairs of ssid, pass, auth, host, port; None = unpatched."""
    transport: str = "binary"
    """How the firmware talks to the cloud, a name in `provlab.emulator.transports.TRANSPORTS`: the Blynk
    binary protocol (§6, `binary`) or the MQTT device API (§7, `mqtt`)."""
    family: Family = field(default=esp32.FAMILY, repr=False)
    """The sketch's board family: what it does differently from the ESP32 one (banner rows, SoftAP pages,
    flash, console, OTA)."""
    core_version: str = ""
    """`ESP.getCoreVersion()` (ESP8266 banner and `firmware info`)."""
    wifi_fw: str = ""
    """`rpc_system_version()`: the Wi-Fi co-processor's firmware (Wio Terminal banner)."""
    provisioning_public: bool = True
    """Whether the firmware that provisions the board is public (a legacy Edgent sketch); False where it is not
    and the emulation borrows the legacy sketch's logic as an UNCONFIRMED choice (Blynk.NCP)."""

    @property
    def firmware_type(self) -> str:
        return self.fw_type or self.template_id

    @property
    def template_ok(self) -> bool:
        """`BLYNK_TEMPLATE_ID` starts with `TMPL` and `BLYNK_TEMPLATE_NAME` is not empty (spec §1.3)."""
        return self.template_id.startswith("TMPL") and bool(self.template_name)


def edgent_esp32(
    template_id: str = "TMPL0PROVLAB", template_name: str = "Device", **overrides: object
) -> FirmwareProfile:
    """The legacy Edgent_ESP32 example sketch (blynk-library 1.4.0)."""
    return FirmwareProfile(
        name="edgent-esp32",
        chip=Chip.ESP32,
        template_id=template_id,
        template_name=template_name,
        **overrides,  # type: ignore[arg-type]
    )


def edgent_esp32_mqtt(
    template_id: str = "TMPL0PROVLAB", template_name: str = "Device", **overrides: object
) -> FirmwareProfile:
    """The legacy Edgent_ESP32 sketch built with the MQTT device API (paho-mqtt) instead of the binary protocol.

    Same states, timers, SoftAP, console and log lines; the cloud connection is `mqtt_client.MqttClient`.
    """
    fields: dict[str, object] = {"transport": "mqtt", **overrides}
    return FirmwareProfile(
        name="edgent-esp32-mqtt",
        chip=Chip.ESP32,
        template_id=template_id,
        template_name=template_name,
        **fields,  # type: ignore[arg-type]
    )


def family_profile(name: str, family: Family, **fields: object) -> ProfileFactory:
    """The factory of one build of `family`'s sketch: its `fields` (chip facts), overridable per lab."""

    def factory(
        template_id: str = "TMPL0PROVLAB", template_name: str = "Device", **overrides: object
    ) -> FirmwareProfile:
        values: dict[str, object] = {**fields, **overrides}
        return FirmwareProfile(
            name=name,
            chip=family.chip,
            template_id=template_id,
            template_name=template_name,
            family=family,
            **values,  # type: ignore[arg-type]
        )

    factory.__doc__ = f"The legacy {family.sketch} example sketch (blynk-library 1.4.0)."
    return factory


class ProfileFactory(Protocol):
    """Makes one build's profile for the lab's template; `overrides` replace any other field."""

    def __call__(self, template_id: str = ..., template_name: str = ..., **overrides: object) -> FirmwareProfile: ...


PROFILES: Registry[ProfileFactory] = Registry("firmware profile")
PROFILES.register("edgent-esp32", edgent_esp32)
PROFILES.register("edgent-esp32-mqtt", edgent_esp32_mqtt)
PROFILES.register("edgent-esp8266", family_profile("edgent-esp8266", esp8266.FAMILY, **esp8266.PROFILE_FIELDS))
PROFILES.register(
    "edgent-wio-terminal", family_profile("edgent-wio-terminal", wio_terminal.FAMILY, **wio_terminal.PROFILE_FIELDS)
)


from provlab.emulator.families import ncp  # noqa: E402  (the family module subclasses FirmwareProfile)

PROFILES.register("edgent-ncp-nano33iot", ncp.nano33iot)
PROFILES.register("edgent-ncp-mkr1010", ncp.mkr1010)
