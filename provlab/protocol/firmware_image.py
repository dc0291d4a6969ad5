"""Firmware images as Blynk.Air and `/update` see them: an ESP app image carrying a `blnkinf` info tag.

Blynk firmware embeds the same key/value block it sends after login (`blnkinf\\0k\\0v\\0…\\0`, spec §6.4)
so an OTA package can be identified. The emulated board reads its new `fw_ver` (`mcu`) from this tag.
`build_image()` makes a small synthetic image: the ESP image magic byte 0xE9, padding, the tag, padding. A real
ESP32 refuses it at `Update.end()` (`verify_app_image`), so it is only for "bad image" tests; OTA and `/update`
images that should install are `build_app_image()`s.
`build_app_image()` / `parse_app_image()` make and read real-format ESP32 app images (esptool's format), what
`--flash FILE` writes to a board and what the emulated board boots.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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


# --- real ESP32 app images ------------------------------------------------------------------------------
# The layout is esptool's (`esptool.bin_image`): a 24-byte header (magic 0xE9, segment count, SPI mode/size,
# entry point, extended header with chip id), segments (load address, length, bytes), a checksum byte at the
# end of a 16-byte-aligned block, then the SHA-256 of everything before it. An ESP-IDF app's first DROM
# segment starts with `esp_app_desc_t` (magic 0xABCD5432) carrying its version and project name.

APP_DESC_MAGIC = 0xABCD5432
APP_DESC_FORMAT = "<II8s32s32s16s16s32s32sHHB3s72s"  # esp_app_desc_t, 256 bytes
APP_DESC_SIZE = struct.calcsize(APP_DESC_FORMAT)
APP_OFFSET = 0x10000
"""Where an ESP32 app goes in flash (the `factory`/`app0` partition of the default partition tables)."""
NVS_OFFSET = 0x9000
NVS_SIZE = 0x5000
"""The `nvs` partition of the default partition tables: where `Preferences` keeps Edgent's `blynk/config` blob.
Erasing it (esptool `erase-region 0x9000 0x5000`) leaves a board with no configuration."""
DROM_ADDR = 0x3F400020
DRAM_ADDR = 0x3FFB0000
IRAM_ADDR = 0x40080000
FLASH_DIO = 2
FLASH_4MB_40MHZ = 0x20


@dataclass(frozen=True)
class AppImage:
    """What an ESP32 app image says about itself, and its bytes' identity."""

    version: str
    """The firmware version it boots as: the `blnkinf` tag's `mcu`, else the app descriptor's version."""
    project: str
    info: dict[str, str]
    size: int
    sha256: str
    app_desc_version: str | None
    segments: int


def _fixed(text: str, size: int) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) >= size:
        raise FirmwareImageError(f"{text!r} does not fit the {size}-byte field of esp_app_desc_t")
    return raw + b"\0" * (size - len(raw))


def app_descriptor(version: str, project: str = "Edgent_ESP32", idf: str = "v4.4.7") -> bytes:
    """`esp_app_desc_t` as ESP-IDF links it at the start of the first DROM segment."""
    return struct.pack(
        APP_DESC_FORMAT,
        APP_DESC_MAGIC,
        0,  # secure_version
        b"\0" * 8,
        _fixed(version, 32),
        _fixed(project, 32),
        _fixed("12:00:00", 16),
        _fixed("Jan  1 2026", 16),
        _fixed(idf, 32),
        hashlib.sha256(f"{project} {version}".encode()).digest(),
        0,
        0,
        0,
        b"\0" * 3,
        b"\0" * 72,
    )


def _filler(size: int, seed: str) -> bytes:
    """Deterministic bytes standing in for code (a hash chain: not compressible to nothing, same every time)."""
    out = bytearray()
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < size:
        out += block
        block = hashlib.sha256(block).digest()
    return bytes(out[:size])


def build_app_image(
    version: str,
    info: Mapping[str, str] | None = None,
    *,
    project: str = "Edgent_ESP32",
    code_size: int = 16 * 1024,
    blnkinf: bool = True,
) -> bytes:
    """A real-format ESP32 app image: app descriptor and `blnkinf` tag in DROM, data in DRAM, `code_size` bytes
    of stand-in code in IRAM, checksum and appended SHA-256. `info` defaults to `{"mcu": version}`;
    `blnkinf=False` leaves the tag out (a plain ESP-IDF app: only its descriptor names the version)."""
    from esptool.bin_image import ELFSection, ESP32FirmwareImage

    tag = b""
    if blnkinf:
        tag_info = dict(info) if info is not None else {"mcu": version}
        tag_info.setdefault("mcu", version)
        tag = INFO_TAG + b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in tag_info.items()) + b"\0"
    rodata = app_descriptor(version, project) + tag
    rodata += b"\0" * (-len(rodata) % 4)
    image = ESP32FirmwareImage()
    image.flash_mode = FLASH_DIO
    image.flash_size_freq = FLASH_4MB_40MHZ
    image.entrypoint = IRAM_ADDR + 0x400
    image.segments = [
        ELFSection(b".flash.rodata", DROM_ADDR, rodata, 0),
        ELFSection(b".dram0.data", DRAM_ADDR, _filler(256, "dram " + version), 0),
        ELFSection(b".iram0.text", IRAM_ADDR, _filler(code_size - code_size % 4, "iram " + version), 0),
    ]
    data = image.save(None)
    assert data is not None
    return bytes(data)


def parse_app_image(data: bytes, source: str = "image") -> AppImage:
    """Read an ESP32 app image with esptool; `FirmwareImageError` (naming `source`) when it is not a valid one:
    wrong magic, cut short, bad checksum or SHA-256, or no version (no app descriptor and no `blnkinf` tag)."""
    from esptool.bin_image import LoadFirmwareImage
    from esptool.util import FatalError

    try:
        check_magic(data)
    except FirmwareImageError as exc:
        raise FirmwareImageError(f"{source}: {exc}") from None
    try:
        image = LoadFirmwareImage("esp32", data)
    except (FatalError, struct.error, ValueError, TypeError) as exc:
        raise FirmwareImageError(f"{source}: not a valid ESP32 app image: {exc}") from exc
    if image.checksum != image.calculate_checksum():
        raise FirmwareImageError(
            f"{source}: image checksum is 0x{image.checksum:02x}, its bytes give 0x{image.calculate_checksum():02x}"
        )
    length: int = image.data_length or len(data)
    if image.append_digest:
        if image.stored_digest != image.calc_digest:
            raise FirmwareImageError(
                f"{source}: appended SHA-256 {image.stored_digest.hex()} does not match the image's bytes "
                f"({image.calc_digest.hex()}): the file is damaged or cut short"
            )
        length += 32
    desc = _app_desc(image.segments)
    info = read_info(data) or {}
    version = info.get("mcu") or (desc[0] if desc else None)
    if not version:
        raise FirmwareImageError(f"{source}: the image carries no version (no esp_app_desc_t, no blnkinf tag)")
    return AppImage(
        version=version,
        project=desc[1] if desc else "",
        info=info,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        app_desc_version=desc[0] if desc else None,
        segments=len(image.segments),
    )


ESP32_CHIP_ID = 0  # esp_chip_id_t ESP_CHIP_ID_ESP32 in the extended header


def verify_app_image(data: bytes) -> str | None:
    """Why ESP-IDF's `esp_image_verify()` (run by `esp_ota_set_boot_partition()` inside arduino-esp32's
    `Update.end()`) would reject `data` as an ESP32 app, or None when it would accept it: the magic byte, a
    header and segments that read to the end, the extended header's chip id, the checksum byte and, when the
    header says one is appended, the SHA-256. Bytes after the image are ignored, as on the chip. No version is
    required (that is `parse_app_image`'s extra rule for files the lab flashes)."""
    from esptool.bin_image import LoadFirmwareImage
    from esptool.util import FatalError

    if not data or data[0] != ESP_IMAGE_MAGIC:
        return "wrong magic byte"
    try:
        image = LoadFirmwareImage("esp32", data)
    except (FatalError, struct.error, ValueError, TypeError, RuntimeError, IndexError) as exc:
        return f"not a readable ESP32 app image: {exc}"
    if image.chip_id != ESP32_CHIP_ID:
        return f"image is for chip id {image.chip_id}, not ESP32"
    if image.checksum != image.calculate_checksum():
        return f"checksum 0x{image.checksum:02x}, the segments give 0x{image.calculate_checksum():02x}"
    if image.append_digest and image.stored_digest != image.calc_digest:
        return "appended SHA-256 does not match the image"
    return None


def app_version(data: bytes) -> str | None:
    """The version an app image boots as (`blnkinf` `mcu`, else its `esp_app_desc_t`), or None when it names none
    or is not a valid app image."""
    try:
        return parse_app_image(data).version
    except FirmwareImageError:
        return None


def image_length(data: bytes) -> int | None:
    """How many leading bytes of `data` (say, flash read from an app partition) form the ESP32 image: header,
    segments, checksum block and SHA-256; None when `data` does not start with a valid image."""
    try:
        from esptool.bin_image import LoadFirmwareImage

        image = LoadFirmwareImage("esp32", data)
    except Exception:  # esptool raises several kinds on garbage; all mean "no image here"
        return None
    if image.data_length is None:
        return None
    return int(image.data_length) + (32 if image.append_digest else 0)


def _app_desc(segments: list[Any]) -> tuple[str, str] | None:
    """(version, project name) of the first DROM segment's `esp_app_desc_t`, or None."""
    for segment in segments:
        if 0x3F400000 <= segment.addr < 0x3F800000:
            raw = bytes(segment.data[:APP_DESC_SIZE])
            if len(raw) < APP_DESC_SIZE:
                return None
            fields = struct.unpack(APP_DESC_FORMAT, raw)
            if fields[0] != APP_DESC_MAGIC:
                return None
            return _cstr(fields[3]), _cstr(fields[4])
    return None


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")
