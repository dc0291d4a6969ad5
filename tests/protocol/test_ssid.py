"""Golden vectors and round trips of the Edgent soft-AP SSID and its suffix (spec §2.2, §2.6)."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provlab.protocol.ssid import (
    DEFAULT_PREFIX,
    LEGACY_ALPHABET,
    NEW_ALPHABET,
    Chip,
    EdgentSsid,
    chip_id_bytes,
    edgent2_device_name,
    encode_unique,
    format_mac,
    parse_mac,
    parse_softap_ssid,
    softap_ssid,
    unique32,
)

MAC = bytes.fromhex("246F28AABBCC")


def spec_encode_unique(n: int, length: int, alphabet: str) -> str:
    """The spec's reference implementation, verbatim (verified there against the compiled C++)."""
    out: list[str] = []
    prev = None
    for _ in range(length):
        c = alphabet[n % len(alphabet)]
        if c == prev:
            c = alphabet[(n + 1) % len(alphabet)]
        out.append(c)
        prev = c
        n //= len(alphabet)
    return "".join(out)


def test_alphabets_are_the_firmware_ones() -> None:
    assert LEGACY_ALPHABET == "0W8N4Y1HP5DF9K6JM3C2UA7R"
    assert NEW_ALPHABET == "0W8N4Y1HP5DF9K6JM3C2XA7R"
    assert len(LEGACY_ALPHABET) == len(set(LEGACY_ALPHABET)) == 24
    assert DEFAULT_PREFIX == "Blynk"


def test_esp32_vector() -> None:
    assert chip_id_bytes(MAC, Chip.ESP32) == MAC + b"\x00\x00"
    assert unique32(chip_id_bytes(MAC, Chip.ESP32)) == 0xE0828B9E
    assert encode_unique(0xE0828B9E) == "1W7R"
    assert softap_ssid("Device", MAC) == "Blynk Device-1W7R"


def test_esp8266_vector() -> None:
    assert chip_id_bytes(MAC, Chip.ESP8266) == MAC
    assert unique32(MAC) == 0x940152F1
    assert encode_unique(0x940152F1) == "W8FH"
    assert softap_ssid("Device", MAC, Chip.ESP8266) == "Blynk Device-W8FH"


def test_unique32_chains_four_crc_rounds() -> None:
    data = b"\x01\x02\x03"
    expected = zlib.crc32(data, zlib.crc32(data, zlib.crc32(data, zlib.crc32(data))))
    assert unique32(data) == expected
    assert unique32(data) != zlib.crc32(data)


def test_repeated_digit_takes_the_next_symbol() -> None:
    # 25 = digits [1, 1, 0, 0]: plain base-24 would be "WW00"; the c == prev rule makes it "W80W".
    assert encode_unique(25, 4) == "W80W"
    assert encode_unique(0, 4) == "0W0W"
    # The replacement itself is not checked against prev again (n=1+24*1 -> 'W', then (1+1)%24 -> '8').
    assert encode_unique(25, 2) == "W8"


def test_alphabets_differ_only_at_index_20() -> None:
    assert encode_unique(20, 1, LEGACY_ALPHABET) == "U"
    assert encode_unique(20, 1, NEW_ALPHABET) == "X"
    assert encode_unique(0xE0828B9E, 4, NEW_ALPHABET) == "1W7R"


@given(st.integers(min_value=0, max_value=0xFFFFFFFF), st.integers(min_value=0, max_value=15))
def test_encode_unique_matches_spec_reference(n: int, length: int) -> None:
    assert encode_unique(n, length) == spec_encode_unique(n, length, LEGACY_ALPHABET)
    assert encode_unique(n, length, NEW_ALPHABET) == spec_encode_unique(n, length, NEW_ALPHABET)


@pytest.mark.parametrize(("n", "length"), [(-1, 4), (2**32, 4), (5, 16), (5, -1)])
def test_encode_unique_rejects_what_the_firmware_cannot_hold(n: int, length: int) -> None:
    with pytest.raises(ValueError, match="must"):
        encode_unique(n, length)


def test_long_template_name_is_truncated_to_31_chars() -> None:
    ssid = softap_ssid("A very long template name here", MAC)
    assert ssid == "Blynk A very long template-1W7R"
    assert len(ssid) == 31
    # Exactly 20 characters fit with "Blynk"; 21 do not.
    assert softap_ssid("x" * 20, MAC) == "Blynk " + "x" * 20 + "-1W7R"
    assert softap_ssid("x" * 21, MAC) == "Blynk " + "x" * 20 + "-1W7R"


def test_utf8_template_name_is_cut_by_bytes() -> None:
    """`String::substring()` counts bytes (audit #14): 20 bytes of name, a split character dropped."""
    assert softap_ssid("é" * 15, MAC) == "Blynk " + "é" * 10 + "-1W7R"  # 2 bytes each: 10 fit
    assert softap_ssid("x" + "é" * 15, MAC) == "Blynk x" + "é" * 9 + "-1W7R"  # the 10th é is split, dropped
    assert len(softap_ssid("温度计传感器设备名称", MAC).encode()) <= 31


@given(st.text(min_size=1, max_size=60), st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=12))
def test_ssid_never_exceeds_31_chars(name: str, prefix: str) -> None:
    assert len(softap_ssid(name, MAC, prefix=prefix)) <= 31


def test_other_prefix_changes_the_name_budget() -> None:
    assert softap_ssid("0123456789abcdefghijklmnop", MAC, prefix="Acme") == "Acme 0123456789abcdefghijk-1W7R"
    # An over-long prefix makes the firmware's unsigned budget wrap: the name is not truncated at all.
    prefix = "P" * 26
    assert softap_ssid("Device", MAC, prefix=prefix) == f"{prefix} Device-1W7R"


def test_edgent2_device_name() -> None:
    assert edgent2_device_name("Device", MAC) == "Blynk Device-1W7R"
    assert edgent2_device_name("Blynk", MAC) == "Blynk-1W7R"
    # 29-character budget: prefix, then "-" + suffix, then " " + name (18 characters left).
    long_name = edgent2_device_name("A very long template name here", MAC)
    assert long_name == "Blynk A very long templa-1W7R"
    assert len(long_name) == 29


def test_parse_and_format_mac() -> None:
    assert parse_mac("24:6F:28:AA:BB:CC") == MAC
    assert parse_mac("24-6f-28-aa-bb-cc") == MAC
    assert parse_mac("  24:6f:28:aa:bb:cc\n") == MAC
    assert format_mac(MAC) == "24:6F:28:AA:BB:CC"
    assert format_mac(parse_mac("ec:fa:bc:93:c0:02")) == "EC:FA:BC:93:C0:02"


@pytest.mark.parametrize("text", ["24:6F:28:AA:BB", "24:6F-28:AA:BB:CC", "24:6F:28:AA:BB:ZZ", "246F28AABBCC", ""])
def test_parse_mac_rejects_with_the_text_in_the_message(text: str) -> None:
    with pytest.raises(ValueError, match="not a MAC address"):
        parse_mac(text)


def test_mac_must_be_six_bytes() -> None:
    with pytest.raises(ValueError, match="6 bytes"):
        format_mac(b"\x01\x02")
    with pytest.raises(ValueError, match="6 bytes"):
        chip_id_bytes(MAC + b"\x00", Chip.ESP8266)


@pytest.mark.parametrize(
    ("ssid", "expected"),
    [
        ("Blynk Device-1W7R", EdgentSsid("Blynk", "Device", "1W7R")),
        ("Blynk My-Device v2-1W7R", EdgentSsid("Blynk", "My-Device v2", "1W7R")),
        ("Blynk Device-X8N4", EdgentSsid("Blynk", "Device", "X8N4")),  # Edgent-Arduino alphabet
        ("Blynk-1W7R", EdgentSsid("Blynk", "", "1W7R")),  # Edgent-Arduino, name equal to the prefix
        ("Blynk BackpAQV3-3E796", EdgentSsid("Blynk", "BackpAQV3", "3E796")),  # v1.1.0 %05X
        ("Blynk TempSensB04-8E17E", EdgentSsid("Blynk", "TempSensB04", "8E17E")),
        ("Blynk Pi-1A2", EdgentSsid("Blynk", "Pi", "1A2")),  # Python RPi Edgent, unpadded hex
    ],
)
def test_parse_softap_ssid_recognises_every_format(ssid: str, expected: EdgentSsid) -> None:
    assert parse_softap_ssid(ssid) == expected
    assert str(expected) == ssid


@pytest.mark.parametrize(
    "ssid",
    [
        "HomeWifi",
        "Blynk Device",
        "Blynk Device-1w7r",  # lower case is never printed
        "Blynk Device-ABCDEF",  # six hex digits
        "Blynk Device-1W7",  # 3 symbols with a non-hex one
        "Blynk Device-1UX7R",
        "Other Device-1W7R",
        "BlynkDevice-1W7R",
        "Blynk -1W7R",
        "Vodafone-1W7R",
    ],
)
def test_parse_softap_ssid_rejects_other_networks(ssid: str) -> None:
    assert parse_softap_ssid(ssid) is None


def test_parse_softap_ssid_with_other_or_no_prefix() -> None:
    assert parse_softap_ssid("Acme Sensor-1W7R", prefix="Acme") == EdgentSsid("Acme", "Sensor", "1W7R")
    assert parse_softap_ssid("Blynk Sensor-1W7R", prefix="Acme") is None
    # Blynk.Inject v0.6: "<product>-%05X", no vendor prefix.
    assert parse_softap_ssid("Our Product-1A2B3", prefix="") == EdgentSsid("", "Our Product", "1A2B3")
    assert parse_softap_ssid("-1A2B3", prefix="") is None


@given(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), min_size=1, max_size=40),
    st.binary(min_size=6, max_size=6),
    st.sampled_from(Chip),
)
def test_parse_inverts_softap_ssid(name: str, mac: bytes, chip: Chip) -> None:
    ssid = softap_ssid(name, mac, chip)
    parsed = parse_softap_ssid(ssid)
    assert parsed is not None
    assert parsed.template_name == name.encode()[:20].decode("utf-8", "ignore")  # 20 bytes, cut like String
    assert parsed.suffix == ssid[-4:]
    assert str(parsed) == ssid
