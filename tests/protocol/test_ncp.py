"""Blynk.NCP wire format and the host sketch's lines, golden bytes from the public sources.

Sources: `Blynk-Technologies/Blynk-NCP-Driver@640e027` (`docs/NCP Protocol Specification.md`, `src/BlynkRpc.h`,
`src/MessageWriter.c`), `blynkkk/blynk-library@7fab3bc` (`src/BlynkEdgentNCP.h`,
`examples/Blynk.Edgent/Edgent_NCP/Edgent_NCP.ino`, `src/BlynkApiArduino.h`).
"""

from __future__ import annotations

import pytest

from provlab.protocol import ncp
from provlab.protocol.internal import parse_info

PING = bytes.fromhex("aa bc 67 01 01 02 00 70 bb")
PING_RESULT = bytes.fromhex("aa 12 a5 02 00 00 91 bb")
INITIALIZE = bytes.fromhex("aa bc 67 01 03 06 00 54 4d 50 4c 30 76 46 6b 46 6d 4a 4d 37 00 51 50 6f 77 65 72 00 68 bb")
INITIALIZE_RESULT = bytes.fromhex("aa 12 a5 06 00 00 01 a1 bb")


def test_ping_and_its_result_are_the_documented_frames() -> None:
    """`docs/NCP Protocol Specification.md` "Ping the device": MCU -> NCP and NCP -> MCU, msgId 2."""
    assert ncp.frame(ncp.invoke(ncp.Uid.NCP_PING, 2)) == PING
    assert ncp.frame(ncp.result(2, ncp.Status.OK)) == PING_RESULT


def test_initialize_and_its_result_are_the_documented_frames() -> None:
    """Same document, "Configure the product": `TMPL0vFkFmJM7` / `QPower`, msgId 6, result `true`."""
    args = ncp.c_string("TMPL0vFkFmJM7") + ncp.c_string("QPower")
    assert ncp.frame(ncp.invoke(ncp.Uid.BLYNK_INITIALIZE, 6, args)) == INITIALIZE
    assert ncp.frame(ncp.result(6, ncp.Status.OK, ncp.boolean(True))) == INITIALIZE_RESULT


def test_decoder_reads_the_documented_frames_through_line_garbage() -> None:
    """ "any data after END and before BEG should be discarded" (the MCU's boot messages)."""
    decoder = ncp.FrameDecoder()
    got = decoder.feed(b"ets Jun  8 2016 00:22:57\r\n" + INITIALIZE[:7]) + decoder.feed(INITIALIZE[7:] + b"\xff")
    message = ncp.parse_message(got[0])
    reader = ncp.Reader(message.body)
    assert (message.op, message.uid, message.seq) == (ncp.Op.INVOKE, ncp.Uid.BLYNK_INITIALIZE, 6)
    assert (reader.string(), reader.string(), reader.remaining) == ("TMPL0vFkFmJM7", "QPower", 0)
    assert decoder.dropped == 0


@pytest.mark.parametrize(("raw", "escaped"), [(0x11, 0xEE), (0x13, 0xEC), (0xAA, 0x55), (0xBB, 0x44), (0xCC, 0x33)])
def test_reserved_bytes_are_escaped_as_documented(raw: int, escaped: int) -> None:
    """ "XON => ESC 0xEE, XOFF => ESC 0xEC, BEG => ESC 0x55, END => ESC 0x44, ESC => ESC 0x33"; the CRC is of the
    raw payload and is escaped too."""
    payload = bytes((0x01, raw))
    wire = ncp.frame(payload)
    assert wire[1:4] == bytes((0x01, 0xCC, escaped))
    assert ncp.FrameDecoder().feed(wire) == [payload]


def test_corrupt_frame_is_dropped_and_the_next_one_read() -> None:
    decoder = ncp.FrameDecoder()
    bad = bytearray(PING)
    bad[3] ^= 0x01
    assert decoder.feed(bytes(bad) + PING_RESULT) == [PING_RESULT[1:-2]]
    assert decoder.dropped == 1


def test_binary_argument_is_length_prefixed() -> None:
    """`MessageWriter_writeBinary`: uint16 LE length, then the bytes (a `virtualWrite` value)."""
    assert ncp.binary(b"1\x002") == b"\x03\x001\x002"


def test_state_strings_of_the_host_library() -> None:
    """`getStateString()` (src/BlynkEdgentNCP.h:442-456) for each `RpcBlynkState` (src/BlynkRpc.h:126-138)."""
    assert {s.value: s.text for s in ncp.BlynkState} == {
        0: "Unknown",
        1: "Idle",
        2: "Configuration",
        3: "Connecting Network",
        4: "Connecting Cloud",
        5: "Connected",
        10: "Not Initialized",
        11: "NCP Upgrade",
        12: "Error",
    }
    assert ncp.state_line(ncp.BlynkState.CONFIG) == "State: Configuration"  # Edgent_NCP.ino:74


def test_host_lines_byte_exact() -> None:
    """Edgent_NCP.ino:58-59, 64, 66-68, 44, 48; BlynkEdgentNCP.h:230, 247, 280."""
    assert ncp.main_firmware_line("0.1.0") == "Main firmware: 0.1.0"
    assert ncp.build_line("Aug  2 2023 15:25:21") == "Build: Aug  2 2023 15:25:21"
    assert ncp.ncp_responding_line(38400, 4727) == "NCP responding (baud 38400, 4727 us)"
    assert ncp.ncp_not_responding_line(2000000) == "NCP not responding (baud: 2000000)"
    assert ncp.ncp_firmware_line("0.6.3") == "Blynk.NCP firmware: 0.6.3"
    assert ncp.CANNOT_COMMUNICATE == (
        "Cannot communicate to Blynk.NCP",
        "  Please ensure you have flashed your board with the Blynk.NCP firmware, before running this example.",
        "  See: https://github.com/Blynk-Technologies/Blynk-NCP-Example-Arduino",
    )
    assert ncp.CONNECTED.encode() == b"Connected to Blynk \xf0\x9f\x99\x8c"
    assert ncp.DISCONNECTED == "Blynk disconnected"
    assert ncp.REINITIALIZING == "Reinitializing NCP..."


def test_formatted_log_lines_keep_127_bytes() -> None:
    """`blynk_dbg_print` (src/Blynk/BlynkDebug.h:133-147) formats into `char buff[128]`."""
    assert ncp.build_line("x" * 200) == "Build: " + "x" * 120


def test_ncp_info_message_has_ncp_where_others_have_mcu() -> None:
    """src/BlynkApiArduino.h:21-49 compiled with `BLYNK_NCP_VERSION`: `ncp` first, then as on an ESP32."""
    body = ncp.ncp_info("0.6.3", "TMPL0TEST01", "Nov 26 2026 03:29:17", "1.4.0", 40, 1024, "ESP32", tmpl="TMPL0TEST01")
    assert body == (
        b"ncp\x000.6.3\x00fw-type\x00TMPL0TEST01\x00build\x00Nov 26 2026 03:29:17\x00blynk\x001.4.0\x00"
        b"h-beat\x0040\x00buff-in\x001024\x00dev\x00ESP32\x00tmpl\x00TMPL0TEST01"
    )
    assert parse_info(body)["ncp"] == "0.6.3"
