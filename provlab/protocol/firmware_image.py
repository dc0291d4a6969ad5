"""Firmware images as Blynk.Air and `/update` see them: an ESP app image carrying a `blnkinf` info tag.

Blynk firmware embeds the same key/value block it sends after login (`blnkinf\\0k\\0v\\0…\\0`, spec §6.4)
so an OTA package can be identified. The emulated board reads its new `fw_ver` (`mcu`) from this tag.
`build_image()` makes a small test image: the ESP image magic byte 0xE9, padding, the tag, padding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

ESP_IMAGE_MAGIC = 0xE9
INFO_TAG = b"blnkinf\0"


class FirmwareImageError(ValueError):
    """Bytes that are not an ESP app image."""


def build_image(info: Mapping[str, str], size: int = 4096) -> bytes:
    """An image of `size` bytes (at least what the tag needs) whose info tag holds `info` in order."""
    tag = INFO_TAG + b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in info.items()) + b"\0"
    head = bytes([ESP_IMAGE_MAGIC]) + b"\x00" * 23
    body = head + tag
    if len(body) > size:
        size = len(body)
    return body + bytes((i * 37) & 0xFF for i in range(size - len(body)))


def check_magic(image: bytes) -> None:
    if not image or image[0] != ESP_IMAGE_MAGIC:
        first = f"0x{image[0]:02X}" if image else "nothing"
        raise FirmwareImageError(f"not an ESP app image: first byte is {first}, expected 0xE9")


def read_info(image: bytes) -> dict[str, str] | None:
    """The key/value pairs of the image's `blnkinf` tag, or None when it has none."""
    start = image.find(INFO_TAG)
    if start < 0:
        return None
    pos = start + len(INFO_TAG)
    end = image.find(b"\0\0", pos)
    if end < 0:
        return None
    parts = image[pos : end + 1].split(b"\0")[:-1]
    info: dict[str, str] = {}
    for i in range(0, len(parts) - 1, 2):
        info[parts[i].decode("utf-8", "replace")] = parts[i + 1].decode("utf-8", "replace")
    return info


def md5_hex(image: bytes) -> str:
    """The lower-case MD5 an OTA server sends as `x-MD5`."""
    return hashlib.md5(image).hexdigest()
