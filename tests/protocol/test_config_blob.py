"""Golden bytes of the 212-byte legacy Edgent config blob (spec §3.1)."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provlab.protocol import choices
from provlab.protocol.config_blob import (
    CONFIG_MAGIC,
    CONFIG_SIZE,
    FIELD_OFFSETS,
    BadMagicError,
    BlobSizeError,
    ConfigBlob,
    ConfigBlobError,
    ConfigFlag,
)

TOKEN = "Zx9Qm2Lp0Wv8Rt6Yu4Io1Pa3Sd5Fg7Hj"

# The spec's offset table, typed in by hand.
SPEC_TABLE = {
    "magic": (0, 4),
    "version": (4, 15),
    "flags": (19, 1),
    "wifi_ssid": (20, 34),
    "wifi_pass": (54, 64),
    "cloud_token": (118, 34),
    "cloud_host": (152, 34),
    "cloud_port": (186, 2),
    "static_ip": (188, 4),
    "static_mask": (192, 4),
    "static_gw": (196, 4),
    "static_dns": (200, 4),
    "static_dns2": (204, 4),
    "last_error": (208, 4),
}


def ip_bytes(dotted: str) -> bytes:
    octets = bytes(int(part) for part in dotted.split("."))
    return octets if choices.STATIC_IP_FIRST_OCTET_LOWEST_BYTE else octets[::-1]


def provisioned() -> ConfigBlob:
    blob = ConfigBlob.defaults("0.1.0")
    blob.flags = ConfigFlag.VALID | ConfigFlag.STATIC_IP
    blob.wifi_ssid = "LabNet"
    blob.wifi_pass = "correct horse"
    blob.cloud_token = TOKEN
    blob.cloud_host = "192.168.50.1"
    blob.cloud_port = 8443
    blob.static_ip = IPv4Address("192.168.1.10")
    blob.static_mask = IPv4Address("255.255.255.0")
    blob.static_gw = IPv4Address("192.168.1.1")
    blob.static_dns = IPv4Address("8.8.8.8")
    blob.static_dns2 = IPv4Address("1.1.1.1")
    blob.last_error = 701
    return blob


def test_field_offsets_are_the_spec_table() -> None:
    assert {name: tuple(span) for name, span in FIELD_OFFSETS.items()} == SPEC_TABLE
    assert FIELD_OFFSETS["cloud_port"].offset == 186
    assert sum(span.size for span in FIELD_OFFSETS.values()) == CONFIG_SIZE == 212


def test_golden_bytes_at_the_spec_offsets() -> None:
    data = provisioned().pack()
    assert len(data) == 212
    assert data[0:4].hex(" ") == "6b 6e 6c 62"
    assert data[4:19] == b"0.1.0" + bytes(10)
    assert data[19] == 0x03
    assert data[20:54] == b"LabNet" + bytes(28)
    assert data[54:118] == b"correct horse" + bytes(51)
    assert data[118:152] == TOKEN.encode() + bytes(2)
    assert data[152:186] == b"192.168.50.1" + bytes(22)
    assert data[186:188].hex(" ") == "fb 20"  # 8443 little-endian
    assert data[188:192] == ip_bytes("192.168.1.10")
    assert data[192:196] == ip_bytes("255.255.255.0")
    assert data[196:200] == ip_bytes("192.168.1.1")
    assert data[200:204] == ip_bytes("8.8.8.8")
    assert data[204:208] == ip_bytes("1.1.1.1")
    assert data[208:212].hex(" ") == "bd 02 00 00"  # 701


def test_lwip_byte_order_is_the_recorded_choice() -> None:
    blob = ConfigBlob.defaults("1")
    blob.static_ip = IPv4Address("192.168.1.10")
    expected = "c0 a8 01 0a" if choices.STATIC_IP_FIRST_OCTET_LOWEST_BYTE else "0a 01 a8 c0"
    assert blob.pack()[188:192].hex(" ") == expected


def test_defaults_golden() -> None:
    blob = ConfigBlob.defaults("0.1.0")
    assert blob.magic == CONFIG_MAGIC == 0x626C6E6B
    assert (blob.cloud_token, blob.cloud_host, blob.cloud_port) == ("invalid token", "blynk.cloud", 443)
    assert blob.flags == 0 and blob.last_error == 0
    assert not blob.is_valid and not blob.has_static_ip
    data = blob.pack()
    expected = bytearray(212)
    expected[0:4] = b"knlb"
    expected[4:9] = b"0.1.0"
    expected[118:131] = b"invalid token"
    expected[152:163] = b"blynk.cloud"
    expected[186:188] = b"\xbb\x01"
    assert data == bytes(expected)


def test_round_trip() -> None:
    blob = provisioned()
    again = ConfigBlob.unpack(blob.pack())
    assert again == blob
    assert again.is_valid and again.has_static_ip
    assert isinstance(again.flags, ConfigFlag)


def test_replace_works_on_the_mutable_dataclass() -> None:
    blob = dataclasses.replace(ConfigBlob.defaults("0.1.0"), flags=ConfigFlag.VALID)
    assert blob.is_valid


def test_text_fields_are_cut_to_size_minus_one() -> None:
    blob = ConfigBlob.defaults("0.1.0-rc.1+build.77")  # 19 chars, version holds 14
    blob.wifi_ssid = "S" * 40
    blob.wifi_pass = "p" * 70
    blob.cloud_host = "h" * 34
    data = blob.pack()
    assert data[4:19] == b"0.1.0-rc.1+bui\x00"
    assert data[20:54] == b"S" * 33 + b"\x00"
    assert data[54:118] == b"p" * 63 + b"\x00"
    again = ConfigBlob.unpack(data)
    assert (again.version, again.wifi_ssid, again.wifi_pass, again.cloud_host) == (
        "0.1.0-rc.1+bui",
        "S" * 33,
        "p" * 63,
        "h" * 33,
    )


def test_utf8_is_cut_by_bytes_and_decoded_with_replacement() -> None:
    blob = ConfigBlob.defaults("0.1.0")
    blob.wifi_ssid = "é" * 20  # 40 bytes; 33 kept, so the 17th character is cut in half
    data = blob.pack()
    assert data[20:53] == ("é" * 16).encode() + b"\xc3"
    assert ConfigBlob.unpack(data).wifi_ssid == "é" * 16 + "\ufffd"


def test_bytes_after_the_terminator_are_ignored() -> None:
    # What the firmware really leaves after copying "abc" over the default "invalid token".
    data = bytearray(ConfigBlob.defaults("0.1.0").pack())
    data[118:122] = b"abc\x00"
    assert ConfigBlob.unpack(bytes(data)).cloud_token == "abc"


@pytest.mark.parametrize("size", [0, 211, 213, 4096])
def test_wrong_size(size: int) -> None:
    with pytest.raises(BlobSizeError, match=rf"212 bytes, got {size}$") as info:
        ConfigBlob.unpack(bytes(size))
    assert isinstance(info.value, ConfigBlobError)
    assert isinstance(info.value, ValueError)


def test_bad_magic_names_expected_and_seen() -> None:
    data = b"\xff\xff\xff\xff" + bytes(208)
    with pytest.raises(BadMagicError) as info:
        ConfigBlob.unpack(data)
    message = str(info.value)
    assert "0x626C6E6B" in message and "6b 6e 6c 62" in message
    assert "0xFFFFFFFF" in message and "ff ff ff ff" in message
    assert isinstance(info.value, ConfigBlobError)
    assert ConfigBlob.unpack(data, check_magic=False).magic == 0xFFFFFFFF


def test_erased_flash_is_bad_magic() -> None:
    with pytest.raises(BadMagicError):
        ConfigBlob.unpack(bytes(212))


def test_negative_last_error_and_unknown_flag_bits_survive() -> None:
    blob = ConfigBlob.defaults("0.1.0")
    blob.last_error = -1
    blob.flags = ConfigFlag(0x81)
    again = ConfigBlob.unpack(blob.pack())
    assert again.last_error == -1
    assert int(again.flags) == 0x81 and again.is_valid


@pytest.mark.parametrize(
    ("field", "value"),
    [("cloud_port", 65536), ("cloud_port", -1), ("last_error", 2**31), ("magic", 2**32), ("flags", 0x100)],
)
def test_out_of_range_values_are_refused(field: str, value: int) -> None:
    blob = ConfigBlob.defaults("0.1.0")
    setattr(blob, field, value)
    with pytest.raises(ConfigBlobError, match=field):
        blob.pack()


@given(
    ssid=st.text(max_size=40),
    password=st.text(max_size=70),
    port=st.integers(0, 65535),
    ip=st.integers(0, 2**32 - 1),
    last_error=st.integers(-(2**31), 2**31 - 1),
)
def test_pack_is_always_212_bytes_and_reads_back(ssid: str, password: str, port: int, ip: int, last_error: int) -> None:
    blob = ConfigBlob.defaults("0.1.0")
    blob.wifi_ssid, blob.wifi_pass, blob.cloud_port = ssid, password, port
    blob.static_gw, blob.last_error = IPv4Address(ip), last_error
    data = blob.pack()
    assert len(data) == 212
    again = ConfigBlob.unpack(data)
    assert (again.cloud_port, again.static_gw, again.last_error) == (port, IPv4Address(ip), last_error)
    if "\0" not in ssid and len(ssid.encode()) <= 33:
        assert again.wifi_ssid == ssid
