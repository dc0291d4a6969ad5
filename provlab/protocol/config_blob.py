"""The legacy Edgent `ConfigStore`: the packed 212-byte little-endian config blob in flash (spec §3.1)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntFlag
from ipaddress import IPv4Address
from typing import NamedTuple

from provlab.protocol.choices import STATIC_IP_FIRST_OCTET_LOWEST_BYTE

CONFIG_MAGIC = 0x626C6E6B
"""`"blnk"`; stored little-endian, so the blob starts with bytes `6B 6E 6C 62`."""

CONFIG_SIZE = 212

DEFAULT_TOKEN = "invalid token"
DEFAULT_HOST = "blynk.cloud"
DEFAULT_PORT = 443


class ConfigFlag(IntFlag):
    """`flags` bits (`CONFIG_FLAG_*`)."""

    VALID = 0x01
    STATIC_IP = 0x02


class FieldSpan(NamedTuple):
    """Where a struct member lives in the blob."""

    offset: int
    size: int


# Struct members in order with their `struct` codes; everything below is derived from this one table.
_LAYOUT: tuple[tuple[str, str], ...] = (
    ("magic", "I"),
    ("version", "15s"),
    ("flags", "B"),
    ("wifi_ssid", "34s"),
    ("wifi_pass", "64s"),
    ("cloud_token", "34s"),
    ("cloud_host", "34s"),
    ("cloud_port", "H"),
    ("static_ip", "4s"),
    ("static_mask", "4s"),
    ("static_gw", "4s"),
    ("static_dns", "4s"),
    ("static_dns2", "4s"),
    ("last_error", "i"),
)
_STRUCT = struct.Struct("<" + "".join(code for _, code in _LAYOUT))


def _offsets() -> dict[str, FieldSpan]:
    spans: dict[str, FieldSpan] = {}
    offset = 0
    for name, code in _LAYOUT:
        size = struct.calcsize("<" + code)
        spans[name] = FieldSpan(offset, size)
        offset += size
    return spans


FIELD_OFFSETS: dict[str, FieldSpan] = _offsets()
"""Field name -> (offset, size) in the packed blob, e.g. `FIELD_OFFSETS["cloud_port"] == (186, 2)`."""

assert _STRUCT.size == CONFIG_SIZE, _STRUCT.size

_IP_FIELDS = ("static_ip", "static_mask", "static_gw", "static_dns", "static_dns2")
_TEXT_FIELDS = ("version", "wifi_ssid", "wifi_pass", "cloud_token", "cloud_host")


class ConfigBlobError(ValueError):
    """A byte string is not a config blob this module can read or write."""


class BlobSizeError(ConfigBlobError):
    """The blob is not exactly 212 bytes long."""


class BadMagicError(ConfigBlobError):
    """The blob's first four bytes are not the `blnk` magic (the firmware then falls back to defaults)."""


def _ip_to_bytes(ip: IPv4Address) -> bytes:
    return ip.packed if STATIC_IP_FIRST_OCTET_LOWEST_BYTE else ip.packed[::-1]


def _ip_from_bytes(raw: bytes) -> IPv4Address:
    return IPv4Address(raw if STATIC_IP_FIRST_OCTET_LOWEST_BYTE else raw[::-1])


def _c_string(value: str, field: str) -> bytes:
    """UTF-8 cut to size-1 bytes, as `String::toCharArray` leaves it; `struct` NUL-pads the rest."""
    return value.encode("utf-8")[: FIELD_OFFSETS[field].size - 1]


def _from_c_string(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def _check_range(field: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ConfigBlobError(f"{field} must be {low}..{high} to fit the blob, got {value}")


@dataclass
class ConfigBlob:
    """A decoded `ConfigStore`, mutable like the firmware's global (`dataclasses.replace` works as well).

    `pack()` writes text fields the way `CopyString` (`String::toCharArray`) into a zeroed struct would:
    UTF-8, cut to the field size minus one byte (even mid-character), NUL-padded. The firmware itself copies
    over the previous contents, so a real blob may hold stale bytes after the terminator; `unpack()` ignores
    them.
    """

    magic: int
    version: str
    flags: ConfigFlag
    wifi_ssid: str
    wifi_pass: str
    cloud_token: str
    cloud_host: str
    cloud_port: int
    static_ip: IPv4Address
    static_mask: IPv4Address
    static_gw: IPv4Address
    static_dns: IPv4Address
    static_dns2: IPv4Address
    last_error: int

    @classmethod
    def defaults(cls, fw_version: str) -> ConfigBlob:
        """`configDefault` of a firmware whose `BLYNK_FIRMWARE_VERSION` is `fw_version`."""
        zero = IPv4Address(0)
        return cls(
            magic=CONFIG_MAGIC,
            version=fw_version,
            flags=ConfigFlag(0),
            wifi_ssid="",
            wifi_pass="",
            cloud_token=DEFAULT_TOKEN,
            cloud_host=DEFAULT_HOST,
            cloud_port=DEFAULT_PORT,
            static_ip=zero,
            static_mask=zero,
            static_gw=zero,
            static_dns=zero,
            static_dns2=zero,
            last_error=0,
        )

    @property
    def is_valid(self) -> bool:
        """`CONFIG_FLAG_VALID`: the board boots into CONNECTING_NET instead of WAIT_CONFIG."""
        return ConfigFlag.VALID in self.flags

    @property
    def has_static_ip(self) -> bool:
        """`CONFIG_FLAG_STATIC_IP`: the board applies the static_* addresses instead of DHCP."""
        return ConfigFlag.STATIC_IP in self.flags

    def pack(self) -> bytes:
        """The 212 bytes the firmware stores."""
        _check_range("magic", self.magic, 0, 0xFFFFFFFF)
        _check_range("flags", int(self.flags), 0, 0xFF)
        _check_range("cloud_port", self.cloud_port, 0, 0xFFFF)
        _check_range("last_error", self.last_error, -(2**31), 2**31 - 1)
        return _STRUCT.pack(
            self.magic,
            _c_string(self.version, "version"),
            int(self.flags),
            _c_string(self.wifi_ssid, "wifi_ssid"),
            _c_string(self.wifi_pass, "wifi_pass"),
            _c_string(self.cloud_token, "cloud_token"),
            _c_string(self.cloud_host, "cloud_host"),
            self.cloud_port,
            *(_ip_to_bytes(getattr(self, name)) for name in _IP_FIELDS),
            self.last_error,
        )

    @classmethod
    def unpack(cls, data: bytes, *, check_magic: bool = True) -> ConfigBlob:
        """Decode a stored blob; BlobSizeError / BadMagicError (ConfigBlobError) when it is not one.

        `check_magic=False` decodes a blob with a wrong magic anyway (to look at what a board really holds).
        """
        if len(data) != CONFIG_SIZE:
            raise BlobSizeError(f"a config blob is {CONFIG_SIZE} bytes, got {len(data)}")
        fields = dict(zip((name for name, _ in _LAYOUT), _STRUCT.unpack(data), strict=True))
        if check_magic and fields["magic"] != CONFIG_MAGIC:
            raise BadMagicError(
                f"config blob magic should be 0x{CONFIG_MAGIC:08X}"
                f" (bytes {CONFIG_MAGIC.to_bytes(4, 'little').hex(' ')}),"
                f" got 0x{fields['magic']:08X} (bytes {bytes(data[:4]).hex(' ')})"
            )
        for name in _TEXT_FIELDS:
            fields[name] = _from_c_string(fields[name])
        for name in _IP_FIELDS:
            fields[name] = _ip_from_bytes(fields[name])
        fields["flags"] = ConfigFlag(fields["flags"])
        return cls(**fields)
