"""The boot banner the legacy Edgent sketches print (spec §5.2); the hardware rows come from the profile's family."""

from __future__ import annotations

from provlab.emulator.profile import FirmwareProfile

NL = "\r\n"  # BLYNK_NEWLINE

LOGO = (
    "    ___  __          __",
    "   / _ )/ /_ _____  / /__",
    "  / _  / / // / _ \\/  '_/",
    " /____/_/\\_, /_//_/_/\\_\\",
)
RULE = "-" * 52


def logo_text(profile: FirmwareProfile) -> str:
    """The text of `Blynk.printBanner()`'s single log call (it starts with a newline)."""
    lines = [
        "",
        *LOGO,
        f"        /___/ v{profile.blynk_version} on {profile.device}",
        "",
        " #StandWithUkraine    https://bit.ly/swua",
        "",
        "",
    ]
    return NL.join(lines)


def device_banner(profile: FirmwareProfile, ssid: str, token: str | None) -> str:
    """`printDeviceBanner()`'s table; the token row only when the config is valid."""
    rows = [
        RULE,
        f" Device:    {ssid}",
        f" Firmware:  {profile.fw_version} (build {profile.build})",
    ]
    if token is not None:
        rows.append(f" Token:     {token[:4]} - •••• - •••• - ••••")
    rows += [*profile.family.banner_rows(profile), RULE]
    return NL.join(rows) + NL
