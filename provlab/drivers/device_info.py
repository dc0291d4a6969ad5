"""Who a board says it is: the facts of its boot banner and of its `devinfo` console reply, merged.

The banner (spec §5.2) gives the soft-AP name (`Device:`), firmware version and build, platform, SDK and the
first four token characters; the library logo gives the Blynk version. `devinfo` (spec §5.5) gives the name,
template name and id, firmware type and version. `devinfo` wins where both speak.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from provlab.protocol.console import DevInfo
from provlab.protocol.serial_log import DeviceBanner, LibraryBanner

_FIRMWARE = re.compile(r"(\S+)(?: \(build (.*)\))?")


@dataclass(frozen=True)
class DeviceInfo:
    """What is known about the board's identity; None where nothing has said it yet."""

    name: str | None = None
    """The soft-AP SSID, e.g. `Blynk Device-1W7R` (banner `Device:`, devinfo `name`)."""
    board: str | None = None
    """The template name (devinfo `board`)."""
    tmpl_id: str | None = None
    fw_type: str | None = None
    fw_ver: str | None = None
    build: str | None = None
    """`__DATE__ __TIME__` of the firmware build (banner `Firmware: 0.1.0 (build …)`)."""
    platform: str | None = None
    """`ESP32 @ 240MHz` (banner) or the logo's `ESP32`."""
    blynk_version: str | None = None
    sdk: str | None = None
    token_prefix: str | None = None
    """The first four token characters the banner shows once the board is provisioned."""
    sources: frozenset[str] = field(default_factory=frozenset)
    """Where the facts came from: `banner`, `devinfo`."""

    @property
    def known(self) -> bool:
        return bool(self.sources)

    def with_devinfo(self, reply: DevInfo) -> DeviceInfo:
        return replace(
            self,
            name=reply.name,
            board=reply.board,
            tmpl_id=reply.tmpl_id,
            fw_type=reply.fw_type,
            fw_ver=reply.fw_ver,
            sources=self.sources | {"devinfo"},
        )

    def with_library_banner(self, event: LibraryBanner) -> DeviceInfo:
        return replace(
            self,
            blynk_version=event.version,
            platform=self.platform or event.platform,
            sources=self.sources | {"banner"},
        )

    def with_banner_row(self, event: DeviceBanner) -> DeviceInfo:
        key, value = event.field.lower(), event.value.strip()
        sources = self.sources | {"banner"}
        if key == "device":
            # devinfo's name is the same string; a banner seen later (after a reboot) may update it
            return replace(self, name=value, sources=sources)
        if key == "firmware":
            match = _FIRMWARE.fullmatch(value)
            if match:
                return replace(
                    self,
                    fw_ver=self.fw_ver if "devinfo" in self.sources else match[1],
                    build=match[2] or self.build,
                    sources=sources,
                )
            return self
        if key == "platform":
            return replace(self, platform=value, sources=sources)
        if key == "sdk":
            return replace(self, sdk=value, sources=sources)
        if key == "token":
            return replace(self, token_prefix=value.split(" ", 1)[0], sources=sources)
        return self

    def after_reboot(self) -> DeviceInfo:
        """Banner facts are printed again at every boot; the devinfo facts are compile-time and stay."""
        kept = DeviceInfo(
            name=self.name,
            board=self.board,
            tmpl_id=self.tmpl_id,
            fw_type=self.fw_type,
            fw_ver=self.fw_ver,
            sources=self.sources & {"devinfo"},
        )
        return kept if "devinfo" in self.sources else DeviceInfo()
