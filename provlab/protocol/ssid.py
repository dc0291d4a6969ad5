"""The Edgent soft-AP SSID `<prefix> <template name>-<suffix>` and its MAC-derived suffix (spec §2.2)."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from enum import Enum

from provlab.protocol import choices

LEGACY_ALPHABET = "0W8N4Y1HP5DF9K6JM3C2UA7R"
"""Base-24 suffix alphabet of the legacy sketches in blynk-library (`U` at index 20)."""

NEW_ALPHABET = "0W8N4Y1HP5DF9K6JM3C2XA7R"
"""Base-24 suffix alphabet of Blynk-Technologies/Edgent-Arduino (`X` instead of `U`)."""

DEFAULT_PREFIX = "Blynk"
"""`CONFIG_VENDOR_PREFIX` of the example sketches."""

MAX_SSID_LENGTH = 31
"""The legacy sketch budgets the SSID to 31 characters (`31-6-len(prefix)` for the name)."""

EDGENT2_MAX_NAME_LENGTH = 29
"""`BLYNK_MAX_DEVICE_NAME_LEN` of Edgent-Arduino 0.9.0."""

SUFFIX_LENGTH = 4
_MAX_ENCODE_LENGTH = 15  # `char buf[16]` in encodeUniquePart
_MAC_SEPARATED = re.compile(r"[0-9A-Fa-f]{2}(?P<sep>[:-])(?:[0-9A-Fa-f]{2}(?P=sep)){4}[0-9A-Fa-f]{2}")


class Chip(Enum):
    """The chip family, which decides what bytes feed the suffix CRC."""

    ESP32 = "esp32"
    ESP8266 = "esp8266"
    WIO_TERMINAL = "wio-terminal"  # `WiFi.macAddress(mac)` of the RTL8720DN: the 6-byte MAC, as on ESP8266


def encode_unique(n: int, length: int = SUFFIX_LENGTH, alphabet: str = LEGACY_ALPHABET) -> str:
    """`encodeUniquePart(n, length)`: base-`len(alphabet)` digits of `n`, least significant first.

    A digit equal to the previous one is replaced by the next symbol of the alphabet (`c == prev` rule).
    """
    if not 0 <= n <= 0xFFFFFFFF:
        raise ValueError(f"n must fit a uint32_t (0..0xFFFFFFFF), got {n}")
    if not 0 <= length <= _MAX_ENCODE_LENGTH:
        raise ValueError(f"length must be 0..{_MAX_ENCODE_LENGTH} (the firmware's buffer), got {length}")
    if len(set(alphabet)) != len(alphabet) or len(alphabet) < 2:
        raise ValueError(f"alphabet must hold at least 2 distinct symbols, got {alphabet!r}")
    base = len(alphabet)
    out: list[str] = []
    prev = ""
    for _ in range(length):
        c = alphabet[n % base]
        if c == prev:
            c = alphabet[(n + 1) % base]
        out.append(c)
        prev = c
        n //= base
    return "".join(out)


def unique32(id_bytes: bytes) -> int:
    """`BlynkCRC32` applied four times, each round seeded with the previous result."""
    unique = 0
    for _ in range(4):
        unique = zlib.crc32(id_bytes, unique)
    return unique


def chip_id_bytes(mac: bytes, chip: Chip) -> bytes:
    """The bytes hashed: ESP32 the 8-byte `getEfuseMac()` (MAC + 2 zero bytes), ESP8266 and Wio the 6-byte MAC."""
    if len(mac) != 6:
        raise ValueError(f"a MAC address is 6 bytes, got {len(mac)}: {mac.hex()}")
    return mac + b"\0\0" if chip is Chip.ESP32 else bytes(mac)


def unique_suffix(mac: bytes, chip: Chip = Chip.ESP32, alphabet: str = LEGACY_ALPHABET) -> str:
    """The 4-character SSID suffix of a board with this (factory) MAC."""
    return encode_unique(unique32(chip_id_bytes(mac, chip)), SUFFIX_LENGTH, alphabet)


def parse_mac(text: str) -> bytes:
    """`AA:BB:CC:DD:EE:FF` or `aa-bb-cc-dd-ee-ff` (one separator throughout) -> 6 bytes."""
    candidate = text.strip()
    if not _MAC_SEPARATED.fullmatch(candidate):
        raise ValueError(f"not a MAC address: {text!r} (expected six hex pairs joined by ':' or '-')")
    return bytes.fromhex(candidate.replace(":", "").replace("-", ""))


def format_mac(mac: bytes) -> str:
    """6 bytes -> `AA:BB:CC:DD:EE:FF`, the way `WiFi.macAddress()` prints it."""
    if len(mac) != 6:
        raise ValueError(f"a MAC address is 6 bytes, got {len(mac)}: {mac.hex()}")
    return ":".join(f"{b:02X}" for b in mac)


def softap_ssid(
    template_name: str,
    mac: bytes,
    chip: Chip = Chip.ESP32,
    prefix: str = DEFAULT_PREFIX,
    alphabet: str = LEGACY_ALPHABET,
) -> str:
    """`getWiFiName()` of the legacy sketch: `"<prefix> <name[:31-6-len(prefix)]>-<4 chars>"`.

    As in the firmware, whose budget is unsigned arithmetic, a prefix longer than 25 characters leaves the
    name untruncated. `String::length()` and `substring()` count bytes, so a UTF-8 name is cut by bytes; a
    character split by the cut is dropped (the choice `CONFIG_TRUNCATION_DROPS_PARTIAL_UTF8`).
    """
    budget = MAX_SSID_LENGTH - 6 - len(prefix.encode("utf-8", "surrogateescape"))
    raw = template_name.encode("utf-8", "surrogateescape")
    if 0 <= budget < len(raw):
        errors = "ignore" if choices.CONFIG_TRUNCATION_DROPS_PARTIAL_UTF8 else "surrogateescape"
        name = raw[:budget].decode("utf-8", errors)
    else:
        name = template_name
    return f"{prefix} {name}-{unique_suffix(mac, chip, alphabet)}"


def edgent2_device_name(
    template_name: str,
    mac: bytes,
    chip: Chip = Chip.ESP32,
    prefix: str = DEFAULT_PREFIX,
) -> str:
    """`systemGetFullName()` of Edgent-Arduino 0.9.0 (spec §2.6): X-alphabet suffix, 29-character budget.

    The prefix has priority, then the suffix (with its `-`), then the name (with its space); a name equal to
    the prefix is left out (`Blynk-XXXX`).
    """
    unique = unique_suffix(mac, chip, NEW_ALPHABET)
    budget = EDGENT2_MAX_NAME_LENGTH
    result = prefix[:budget]
    budget -= len(result)
    unique_len = min(len(unique), max(budget - 1, 0))
    if unique_len:
        budget -= unique_len + 1
    if prefix != template_name:
        separator = 1 if result else 0
        name_len = min(len(template_name), max(budget - separator, 0))
        if name_len > 0:
            result += " " * separator + template_name[:name_len]
    if unique_len > 0:
        result += ("-" if result else "") + unique[:unique_len]
    return result


@dataclass(frozen=True)
class EdgentSsid:
    """An SSID recognised as an Edgent board's soft-AP, split into its parts."""

    prefix: str
    template_name: str
    suffix: str

    def __str__(self) -> str:
        return " ".join(part for part in (self.prefix, self.template_name) if part) + f"-{self.suffix}"


_CURRENT_SUFFIX = re.compile(f"[{''.join(sorted(set(LEGACY_ALPHABET + NEW_ALPHABET)))}]{{{SUFFIX_LENGTH}}}")
_HEX_SUFFIX = re.compile(r"[0-9A-F]{1,5}")


def parse_softap_ssid(ssid: str, prefix: str = DEFAULT_PREFIX) -> EdgentSsid | None:
    """Recognise an Edgent soft-AP SSID, or None.

    Suffix forms (after the LAST `-`; the name may itself hold `-` and spaces): 4 symbols of either base-24
    alphabet (v1.2.0 … HEAD, Edgent-Arduino) or 1–5 upper-case hex digits (`%05X` of v0.6/v1.0/v1.1, the
    unpadded `X` of the Python RPi Edgent). The SSID must start with `prefix + " "`; Edgent-Arduino's
    `<prefix>-<suffix>` (name equal to the prefix, so omitted) gives an empty `template_name`. With
    `prefix=""` no prefix is required (Blynk.Inject v0.6's `<product>-%05X`).
    """
    head, dash, suffix = ssid.rpartition("-")
    if not dash or not (_CURRENT_SUFFIX.fullmatch(suffix) or _HEX_SUFFIX.fullmatch(suffix)):
        return None
    if not prefix:
        return EdgentSsid(prefix="", template_name=head, suffix=suffix) if head else None
    if head == prefix:
        return EdgentSsid(prefix=prefix, template_name="", suffix=suffix)
    if head.startswith(prefix + " ") and len(head) > len(prefix) + 1:
        return EdgentSsid(prefix=prefix, template_name=head[len(prefix) + 1 :], suffix=suffix)
    return None
