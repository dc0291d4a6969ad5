"""Golden bodies of INTERNAL, HARDWARE and REDIRECT messages (spec §6.2, §6.4–6.7)."""

from __future__ import annotations

import datetime as dt

import pytest

from provlab.protocol.commands import Command
from provlab.protocol.frames import Frame, FrameParser, encode_frame
from provlab.protocol.internal import (
    ESP32_INFO_KEYS,
    DeviceInfo,
    HardwareOp,
    MalformedBodyError,
    arduino_atol,
    as_uint16,
    compile_stamp,
    dbg_body,
    esp32_info,
    hardware_vw,
    internal_op,
    library_internal_op,
    library_pin,
    meta_set_body,
    ota_body,
    parse_hardware,
    parse_info,
    parse_meta_set,
    parse_redirect,
    redirect_body,
    render_info,
    rtc_body,
)

# OBSERVED bytes of the Linux client, trailing NUL included (spec §6.4).
LINUX_INFO = (
    b"ver\x001.4.0\x00h-beat\x0040\x00buff-in\x004096\x00dev\x00Linux\x00fw-type\x00TMPLtest1234\x00"
    b"fw\x000.1.0\x00build\x00Nov 26 2026 03:29:17\x00conn\x00Socket\x00tmpl\x00TMPLtest1234\x00"
)


def test_linux_info_parses_despite_trailing_nul() -> None:
    assert len(LINUX_INFO) == 130
    assert parse_info(LINUX_INFO) == {
        "ver": "1.4.0",
        "h-beat": "40",
        "buff-in": "4096",
        "dev": "Linux",
        "fw-type": "TMPLtest1234",
        "fw": "0.1.0",
        "build": "Nov 26 2026 03:29:17",
        "conn": "Socket",
        "tmpl": "TMPLtest1234",
    }


def test_linux_info_normalised() -> None:
    info = DeviceInfo.from_body(LINUX_INFO)
    assert info.version == "1.4.0"
    assert info.fw_ver == "0.1.0"
    assert info.fw_type == "TMPLtest1234"
    assert info.template_id == "TMPLtest1234"
    assert info.heartbeat == 40
    assert info.buff_in == 4096
    assert info.device == "Linux"
    assert info.build == "Nov 26 2026 03:29:17"
    assert info.connection == "Socket"
    assert info.raw["conn"] == "Socket" and len(info.raw) == 9


def test_info_arriving_in_a_frame_from_the_captured_exchange() -> None:
    wire = bytes.fromhex("11 0002 0082") + LINUX_INFO
    (frame,) = FrameParser(max_body=4096).feed(wire)
    assert frame.command == Command.INTERNAL and frame.msg_id == 2
    assert DeviceInfo.from_body(frame.body).template_id == "TMPLtest1234"


def test_esp32_info_golden() -> None:
    body = esp32_info("0.1.0", "TMPL1234abcd", "Nov  6 2026 03:29:17", tmpl="TMPL1234abcd")
    assert body == (
        b"mcu\x000.1.0\x00fw-type\x00TMPL1234abcd\x00build\x00Nov  6 2026 03:29:17\x00blynk\x001.4.0\x00"
        b"h-beat\x0040\x00buff-in\x001024\x00dev\x00ESP32\x00tmpl\x00TMPL1234abcd"
    )
    assert not body.endswith(b"\x00")
    assert list(parse_info(body)) == list(ESP32_INFO_KEYS)
    info = DeviceInfo.from_body(body)
    assert (info.version, info.fw_ver, info.heartbeat, info.buff_in, info.device, info.connection) == (
        "1.4.0",
        "0.1.0",
        40,
        1024,
        "ESP32",
        None,
    )


def test_esp32_info_overrides() -> None:
    body = esp32_info(
        fw_ver="2.0.1", fw_type="Lamp", build="b", blynk_ver="1.3.2", heartbeat=45, buff_in=256,
        dev="ESP8266", tmpl="TMPLx",
    )  # fmt: skip
    assert parse_info(body) == {
        "mcu": "2.0.1", "fw-type": "Lamp", "build": "b", "blynk": "1.3.2", "h-beat": "45", "buff-in": "256",
        "dev": "ESP8266", "tmpl": "TMPLx",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("body", "version", "heartbeat", "buff_in", "device", "fw_ver"),
    [
        # PyPI blynklib 0.2.6 (OBSERVED)
        (
            b"ver\x000.2.6\x00buff-in\x001024\x00h-beat\x0010\x00dev\x00python",
            "0.2.6", 10, 1024, "python", None,
        ),
        # npm blynk-library 0.5.4 (OBSERVED)
        (b"ver\x000.5.4\x00buff-in\x004096\x00dev\x00js", "0.5.4", None, 4096, "js", None),
        # BlynkLib.py 1.0.0 (OBSERVED)
        (
            b"ver\x001.0.0\x00h-beat\x0050\x00buff-in\x001024\x00dev\x00linux-py\x00tmpl\x00TMPLa\x00"
            b"fw-type\x00TMPLa\x00fw\x001.2.3",
            "1.0.0", 50, 1024, "linux-py", "1.2.3",
        ),
        # NCP builds send ncp instead of mcu
        (b"ncp\x000.9.9\x00blynk\x001.4.0", "1.4.0", None, None, None, "0.9.9"),
    ],
)  # fmt: skip
def test_other_clients_info(
    body: bytes,
    version: str,
    heartbeat: int | None,
    buff_in: int | None,
    device: str | None,
    fw_ver: str | None,
) -> None:
    info = DeviceInfo.from_body(body)
    assert (info.version, info.heartbeat, info.buff_in, info.device, info.fw_ver) == (
        version,
        heartbeat,
        buff_in,
        device,
        fw_ver,
    )


def test_parse_info_tolerance() -> None:
    assert parse_info(b"") == {}
    assert parse_info(b"ver\x001.0\x00dangling") == {"ver": "1.0"}  # odd trailing key dropped
    assert parse_info(b"ver\x001.0\x00ver\x002.0") == {"ver": "2.0"}  # later duplicate wins
    assert parse_info(b"ver\x00\x00dev\x00x") == {"ver": "", "dev": "x"}  # empty value kept
    assert parse_info(b"ver\x001\x00\x00\x00") == {"ver": "1"}  # `\0\0` tail of a blnkinf tag
    assert DeviceInfo.from_body(b"h-beat\x00soon").heartbeat is None


def test_render_info() -> None:
    assert render_info({"ver": "1.0", "dev": "x"}) == b"ver\x001.0\x00dev\x00x"
    assert render_info([("b", "2"), ("a", "1")]) == b"b\x002\x00a\x001"
    assert render_info({}) == b""
    assert parse_info(render_info({"k": "é", "z": ""})) == {"k": "é", "z": ""}
    with pytest.raises(ValueError, match="NUL"):
        render_info({"a\x00b": "1"})


def test_compile_stamp_pads_the_day_with_a_space() -> None:
    assert compile_stamp(dt.datetime(2026, 11, 6, 3, 29, 17)) == "Nov  6 2026 03:29:17"
    assert compile_stamp(dt.datetime(2026, 11, 26, 3, 29, 17)) == "Nov 26 2026 03:29:17"
    assert compile_stamp(dt.datetime(2025, 1, 1, 0, 0, 0)) == "Jan  1 2025 00:00:00"


def test_meta_set() -> None:
    body = meta_set_body("Hotspot Name", "Blynk Device-1W7R")
    assert body == b"meta\x00set\x00Hotspot Name\x00Blynk Device-1W7R"
    frame = Frame(Command.INTERNAL, 3, body)
    assert parse_meta_set(frame.args()) == ("Hotspot Name", "Blynk Device-1W7R")
    assert internal_op(frame.args()) == "meta"
    assert parse_meta_set([b"meta", b"get", b"x", b"y"]) is None
    assert parse_meta_set([b"meta", b"set", b"x"]) is None
    assert parse_meta_set([b"rtc", b"sync"]) is None
    assert parse_meta_set([]) is None


def test_server_to_device_internal_bodies() -> None:
    assert ota_body("http://192.168.4.2:8080/fw.bin?x=1") == b"ota\x00http://192.168.4.2:8080/fw.bin?x=1"
    assert dbg_body("netinfo") == b"dbg\x00netinfo"
    assert rtc_body(1767225600) == b"rtc\x001767225600"
    assert internal_op([]) == ""


def test_hardware_virtual_write() -> None:
    assert hardware_vw(0, 10) == b"vw\x000\x0010"  # OBSERVED Blynk.virtualWrite(0, 10)
    assert hardware_vw("5", "on", 1.5, -2, True) == b"vw\x005\x00on\x001.5\x00-2\x001"
    op = parse_hardware(Frame(Command.HARDWARE, 9, hardware_vw(3, "a", "b")).args())
    assert op == HardwareOp("vw", "3", ["a", "b"])
    assert op.encode() == b"vw\x003\x00a\x00b"


def test_parse_hardware_other_ops() -> None:
    assert parse_hardware([b"dr", b"13"]) == HardwareOp("dr", "13", [])
    assert parse_hardware([b"pm", b"2", b"out", b"3", b"in"]) == HardwareOp("pm", "2", ["out", "3", "in"])
    assert parse_hardware([b"xx"]) == HardwareOp("xx", "", [])
    with pytest.raises(MalformedBodyError):
        parse_hardware([])


def test_redirect() -> None:
    assert redirect_body("fra1.blynk.cloud", 8080) == b"fra1.blynk.cloud\x008080"
    assert redirect_body("fra1.blynk.cloud", None) == b"fra1.blynk.cloud"
    assert encode_frame(Command.REDIRECT, 5, redirect_body("h", 80)) == bytes.fromhex("29 0005 0004 68003830")
    assert parse_redirect(b"fra1.blynk.cloud\x008080") == ("fra1.blynk.cloud", 8080)
    assert parse_redirect(b"fra1.blynk.cloud") == ("fra1.blynk.cloud", 80)
    assert parse_redirect(b"host\x00") == ("host", 80)  # nothing after the host's NUL: no port
    assert parse_redirect(b"host\x00\x00") == ("host", 0)  # an empty port argument reads as atol("") = 0
    assert parse_redirect(b"host\x00 443x") == ("host", 443)
    assert parse_redirect(b"host\x0070000") == ("host", 70000 - 65536)  # uint16_t
    with pytest.raises(MalformedBodyError):
        parse_redirect(b"")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("443", 443),
        ("  +12abc", 12),
        ("\t\n\v\f\r7", 7),
        ("-5", -5),
        ("true", 0),
        ("", 0),
        ("+", 0),
        ("- 5", 0),
        ("0x10", 0),
        ("1e3", 1),
        ("٣", 0),  # only ASCII digits count
        ("99999999999", 2147483647),  # strtol clamps to a 32-bit long
        ("-99999999999", -2147483648),
    ],
)
def test_arduino_atol(text: str, value: int) -> None:
    assert arduino_atol(text) == value


def test_as_uint16() -> None:
    assert as_uint16(443) == 443
    assert as_uint16(-1) == 65535
    assert as_uint16(65536) == 0
    assert as_uint16(2147483647) == 65535


@pytest.mark.parametrize(
    ("arg0", "expected"),
    [(b"ota", "ota"), (b"metaX", "meta"), (b"acon", "acon"), (b"otaX", None), (b"dbg", "dbg"), (b"nope", None)],
)
def test_library_internal_op_compares_four_bytes(arg0: bytes, expected: str | None) -> None:
    assert library_internal_op([arg0, b"x"]) == expected


def test_library_pin_is_atol_into_uint8() -> None:
    assert [library_pin(t) for t in ("5", "300", "x", "-1")] == [5, 44, 0, 255]
