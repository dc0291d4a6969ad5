"""The `Edgent_ESP32` sketch's family facts (the reference the others are compared with)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from provlab.emulator.family import Family, ScanStyle
from provlab.emulator.flash import WriteModel
from provlab.protocol.ssid import Chip
from provlab.wifi.backend import Security

if TYPE_CHECKING:
    from provlab.emulator.profile import FirmwareProfile


def banner_rows(profile: FirmwareProfile) -> list[str]:
    """`printDeviceBanner()` (Edgent_ESP32/BlynkEdgent.h): platform, chip revision, SDK, flash, heap."""
    return [
        f" Platform:  {profile.platform}",
        f" Chip rev:  {profile.chip_rev}",
        f" SDK:       {profile.sdk}",
        f" Flash:     {profile.flash_kb}K",
        f" Free mem:  {profile.free_mem}",
    ]


def firmware_info_rows(profile: FirmwareProfile, size_kb: int, md5: str) -> list[str]:
    """`firmware info` (Edgent_ESP32/Console.h)."""
    percent = size_kb * 100 // profile.partition_kb
    return [
        f" Version:   {profile.fw_version} (build {profile.build})",
        f" Type:      {profile.firmware_type}",
        f" Platform:  {profile.platform}",
        f" SDK:       {profile.sdk}",
        f" Partition: {profile.partition} ({profile.partition_kb}K)",
        f" App size:  {size_kb}K ({percent}%)",
        f" App MD5:   {md5}",
    ]


def status_rows(profile: FirmwareProfile, uptime: str, boots: int) -> list[str]:
    """`status` (Edgent_ESP32/Console.h; no `PSRAM free:` row, see choices)."""
    return [
        f" Uptime:          {uptime}",
        f" Chip:            {profile.chip_model} rev {profile.chip_rev}",
        f" Flash:           {profile.flash_kb}K",
        f" Stack unused:    {profile.stack_unused}",
        f" Heap free:       {profile.free_mem} / {profile.heap_size}",
        f"      max alloc:  {profile.max_alloc}",
        f"      min free:   {profile.min_free}",
    ]


SECURITY_NAMES = {security: security.value for security in Security}
"""ESP32's `wifiSecToStr`: `Security` is named after it."""

FAMILY = Family(
    name="esp32",
    chip=Chip.ESP32,
    sketch="Edgent_ESP32",
    banner_rows=banner_rows,
    firmware_info_rows=firmware_info_rows,
    status_rows=status_rows,
    scan=ScanStyle(SECURITY_NAMES),
    ap_mode_delay_s=2.0,
    fresh_flash_read_fails=True,
    flash_model=WriteModel.NVS_ATOMIC,
)
