"""Golden bytes and parser behaviour of Blynk binary frames (spec §6.1–6.4)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provlab.protocol.commands import Command, Status, command_name, status_name
from provlab.protocol.frames import (
    HEADER_SIZE,
    Frame,
    FrameEncodeError,
    FrameError,
    FrameParser,
    FrameTooLargeError,
    ZeroMsgIdError,
    encode_frame,
    encode_response,
    next_msg_id,
)

TOKEN = "A" * 32
# Captured login of the Linux client (spec §6.4).
LOGIN_BYTES = bytes.fromhex("1d 0001 0020" + "41" * 32)
LOGIN_OK_BYTES = bytes.fromhex("00 0001 00c8")
# The Linux client's info message, 130 bytes with its trailing NUL (spec §6.4, OBSERVED).
LINUX_INFO = (
    b"ver\x001.4.0\x00h-beat\x0040\x00buff-in\x004096\x00dev\x00Linux\x00fw-type\x00TMPLtest1234\x00"
    b"fw\x000.1.0\x00build\x00Nov 26 2026 03:29:17\x00conn\x00Socket\x00tmpl\x00TMPLtest1234\x00"
)


def test_enums_carry_the_spec_codes() -> None:
    assert {c.name: c.value for c in Command} == {
        "RESPONSE": 0, "LOGIN": 2, "PING": 6, "TWEET": 12, "EMAIL": 13, "NOTIFY": 14, "BRIDGE": 15,
        "HARDWARE_SYNC": 16, "INTERNAL": 17, "SMS": 18, "PROPERTY": 19, "HARDWARE": 20, "GROUP": 21,
        "HW_LOGIN": 29, "REDIRECT": 41, "DEBUG_PRINT": 55, "EVENT_LOG": 64, "EVENT_CLEAR": 65,
    }  # fmt: skip
    assert {s.name: s.value for s in Status} == {
        "SUCCESS": 200, "QUOTA_LIMIT_EXCEPTION": 1, "ILLEGAL_COMMAND": 2, "NOT_REGISTERED": 3,
        "ALREADY_REGISTERED": 4, "NOT_AUTHENTICATED": 5, "NOT_ALLOWED": 6, "DEVICE_NOT_IN_NETWORK": 7,
        "NO_ACTIVE_DASHBOARD": 8, "INVALID_TOKEN": 9, "ILLEGAL_COMMAND_BODY": 11,
        "GET_GRAPH_DATA_EXCEPTION": 12, "NTF_INVALID_BODY": 13, "NTF_NOT_AUTHORIZED": 14, "NTF_ECXEPTION": 15,
        "TIMEOUT": 16, "NO_DATA_EXCEPTION": 17, "DEVICE_WENT_OFFLINE": 18, "SERVER_EXCEPTION": 19,
        "NOT_SUPPORTED_VERSION": 20, "ENERGY_LIMIT": 21, "OPERATION_ACCEPT": 23, "OPERATION_DECLINE": 24,
    }  # fmt: skip
    assert command_name(29) == "HW_LOGIN" and command_name(99) == "UNKNOWN(99)"
    assert status_name(9) == "INVALID_TOKEN" and status_name(10) == "UNKNOWN(10)"


def test_captured_login_bytes() -> None:
    assert encode_frame(Command.HW_LOGIN, 1, TOKEN.encode()) == LOGIN_BYTES
    assert Frame.of(Command.HW_LOGIN, 1, TOKEN).encode() == LOGIN_BYTES
    assert len(LOGIN_BYTES) == HEADER_SIZE + 32


def test_captured_login_response_carries_status_in_length_field() -> None:
    assert encode_response(1, Status.SUCCESS) == LOGIN_OK_BYTES
    assert Frame.response(1, 200).encode() == LOGIN_OK_BYTES
    assert encode_response(1, Status.INVALID_TOKEN) == bytes.fromhex("00 0001 0009")
    assert encode_response(0x1234, 0xFFFF) == bytes.fromhex("00 1234 ffff")


def test_captured_info_header() -> None:
    assert len(LINUX_INFO) == 130
    wire = encode_frame(Command.INTERNAL, 2, LINUX_INFO)
    assert wire[:10] == bytes.fromhex("11 0002 0082 7665720031")
    assert wire[5:] == LINUX_INFO


def test_captured_exchange_parses() -> None:
    stream = LOGIN_BYTES + LOGIN_OK_BYTES + encode_frame(17, 2, LINUX_INFO)
    frames = FrameParser(max_body=4096).feed(stream)
    assert frames == [
        Frame(29, 1, TOKEN.encode()),
        Frame(0, 1, b"", 200),
        Frame(17, 2, LINUX_INFO),
    ]
    assert frames[1].status == Status.SUCCESS and frames[1].body == b""
    assert frames[0].command_name == "HW_LOGIN" and frames[1].command_name == "RESPONSE"


def test_body_is_args_joined_by_nul_without_trailing_nul() -> None:
    # OBSERVED Blynk.virtualWrite(0, 10): `vw\x000\x0010`.
    assert Frame.of(Command.HARDWARE, 7, "vw", 0, 10).body == b"vw\x000\x0010"
    assert Frame.of(Command.HARDWARE, 7, b"vw", "é", -3).body == b"vw\x00\xc3\xa9\x00-3"
    assert Frame.of(Command.PING, 3).body == b""
    assert Frame.of(Command.PING, 3).encode() == bytes.fromhex("06 0003 0000")


def test_args_split_body_on_nul() -> None:
    assert Frame(20, 1, b"").args() == []
    assert Frame(20, 1, b"vw\x001\x00\x00x").args() == [b"vw", b"1", b"", b"x"]
    assert Frame(17, 2, b"tmpl\x00T\x00").args() == [b"tmpl", b"T", b""]
    assert Frame(20, 1, b"vw\x00\xff").str_args() == ["vw", "\ufffd"]


def test_describe_and_repr_keep_tokens_out() -> None:
    login = Frame.of(Command.HW_LOGIN, 1, TOKEN)
    assert TOKEN not in repr(login) and "32 bytes masked" in repr(login)
    assert TOKEN not in repr(Frame.of(Command.LOGIN, 1, TOKEN))
    assert "b'vw" in repr(Frame.of(Command.HARDWARE, 2, "vw", 1, 2))
    assert login.describe() == "HW_LOGIN id=1 len=32"
    assert Frame.response(1, 9).describe() == "RESPONSE id=1 status=9 INVALID_TOKEN"


def test_next_msg_id_wraps_to_one_never_zero() -> None:
    assert next_msg_id(0) == 1
    assert next_msg_id(1) == 2
    assert next_msg_id(0xFFFE) == 0xFFFF
    assert next_msg_id(0xFFFF) == 1
    with pytest.raises(FrameEncodeError):
        next_msg_id(0x10000)


@pytest.mark.parametrize(
    ("command", "msg_id", "body"),
    [
        (20, 0, b"x"),  # msg_id 0 is invalid
        (20, 0x10000, b""),
        (256, 1, b""),
        (-1, 1, b""),
        (20, 1, b"x" * 0x10000),
        (0, 1, b""),  # RESPONSE goes through encode_response
    ],
)
def test_encode_frame_refuses_values_that_do_not_fit(command: int, msg_id: int, body: bytes) -> None:
    with pytest.raises(FrameEncodeError) as err:
        encode_frame(command, msg_id, body)
    assert "expected" in str(err.value)


def test_encode_refuses_inconsistent_frames() -> None:
    with pytest.raises(FrameEncodeError):
        encode_response(0, 200)
    with pytest.raises(FrameEncodeError):
        encode_response(1, 0x10000)
    with pytest.raises(FrameEncodeError):
        Frame(0, 1, b"body", 200).encode()
    with pytest.raises(FrameEncodeError):
        Frame(0, 1).encode()
    with pytest.raises(FrameEncodeError):
        Frame(20, 1, b"", 200).encode()
    assert issubclass(FrameEncodeError, ValueError)


# --- parser ---------------------------------------------------------------------------------------

STREAM_FRAMES = [
    Frame(29, 1, TOKEN.encode()),
    Frame(0, 1, b"", 200),
    Frame(17, 2, LINUX_INFO[:100]),
    Frame(6, 3, b""),
    Frame(0, 3, b"", 9),
    Frame(99, 0xFFFF, b"unknown\x00command"),  # unknown codes are the server's business
    Frame(20, 4, b"vw\x001\x0042"),
]
STREAM = b"".join(f.encode() for f in STREAM_FRAMES)


def _feed_chunks(parser: FrameParser, chunks: list[bytes]) -> list[Frame]:
    out: list[Frame] = []
    for chunk in chunks:
        out += parser.feed(chunk)
    return out


def test_every_two_and_three_way_split_yields_the_same_frames() -> None:
    cuts = range(len(STREAM) + 1)
    for a in cuts:
        parser = FrameParser()
        assert _feed_chunks(parser, [STREAM[:a], STREAM[a:]]) == STREAM_FRAMES, a
        assert parser.buffered == 0
    for a, b in itertools.combinations(range(0, len(STREAM) + 1, 3), 2):
        parser = FrameParser()
        assert _feed_chunks(parser, [STREAM[:a], STREAM[a:b], STREAM[b:]]) == STREAM_FRAMES, (a, b)


def test_one_byte_at_a_time() -> None:
    parser = FrameParser()
    seen: list[Frame] = []
    for i in range(len(STREAM)):
        seen += parser.feed(STREAM[i : i + 1])
        assert parser.buffered <= HEADER_SIZE + len(LINUX_INFO)
    assert seen == STREAM_FRAMES
    assert parser.buffered == 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20))
def test_any_chunking_yields_the_same_frames(cut_points: list[int]) -> None:
    cuts = [0, *sorted(cut_points), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(cuts)]
    parser = FrameParser()
    assert _feed_chunks(parser, chunks) == STREAM_FRAMES
    assert parser.buffered == 0


def test_accepts_bytearray_and_memoryview_and_yields_bytes_bodies() -> None:
    parser = FrameParser()
    frames = parser.feed(bytearray(STREAM[:40])) + parser.feed(memoryview(STREAM)[40:])
    assert frames == STREAM_FRAMES
    assert all(type(f.body) is bytes for f in frames)


def test_buffered_counts_bytes_waiting_for_their_frame() -> None:
    parser = FrameParser()
    assert parser.feed(LOGIN_BYTES[:3]) == []
    assert parser.buffered == 3
    assert parser.feed(LOGIN_BYTES[3:20]) == []
    assert parser.buffered == 20
    assert parser.feed(LOGIN_BYTES[20:] + LOGIN_OK_BYTES[:2]) == [Frame(29, 1, TOKEN.encode())]
    assert parser.buffered == 2
    assert parser.feed(LOGIN_OK_BYTES[2:]) == [Frame.response(1, 200)]
    assert parser.buffered == 0


def test_response_never_waits_for_a_body() -> None:
    # status 200 in the length field must not be read as "200 body bytes follow".
    parser = FrameParser(max_body=16)
    assert parser.feed(LOGIN_OK_BYTES) == [Frame.response(1, 200)]
    assert parser.buffered == 0
    # nor is a large status a too-large body
    assert parser.feed(encode_response(2, 0xFFFF)) == [Frame.response(2, 0xFFFF)]


def test_zero_msg_id_is_rejected_as_soon_as_the_header_is_complete() -> None:
    parser = FrameParser()
    bad_header = bytes.fromhex("14 0000 0005")  # HARDWARE, id 0, body not sent yet
    assert parser.feed(LOGIN_OK_BYTES + bad_header[:4]) == [Frame.response(1, 200)]
    with pytest.raises(ZeroMsgIdError) as err:
        parser.feed(bad_header[4:])
    assert "msg_id 0" in str(err.value) and "1..65535" in str(err.value)
    assert parser.broken
    with pytest.raises(FrameError):
        parser.feed(LOGIN_BYTES)


def test_zero_msg_id_on_response_is_rejected_too() -> None:
    parser = FrameParser()
    with pytest.raises(ZeroMsgIdError):
        parser.feed(bytes.fromhex("00 0000 00c8"))
    assert parser.broken


def test_frames_before_a_fault_in_the_same_read_are_handed_over() -> None:
    parser = FrameParser()
    with pytest.raises(ZeroMsgIdError) as err:
        parser.feed(LOGIN_BYTES + LOGIN_OK_BYTES + bytes.fromhex("06 0000 0000"))
    assert err.value.frames_before == [Frame(29, 1, TOKEN.encode()), Frame.response(1, 200)]


def test_oversize_body_rejected_before_the_body_arrives() -> None:
    parser = FrameParser(max_body=1024)
    assert parser.feed(encode_frame(20, 1, b"x" * 1024)) == [Frame(20, 1, b"x" * 1024)]
    with pytest.raises(FrameTooLargeError) as err:
        parser.feed(bytes.fromhex("14 0002 0401"))  # 1025 announced, no body byte sent
    assert err.value.length == 1025 and err.value.limit == 1024
    assert "1025" in str(err.value) and "1024" in str(err.value)
    assert parser.broken
    with pytest.raises(FrameError, match="broken"):
        parser.feed(b"\x00")


def test_oversize_limit_is_configurable() -> None:
    with pytest.raises(FrameTooLargeError):
        FrameParser(max_body=256).feed(encode_frame(17, 2, LINUX_INFO * 2))
    assert FrameParser(max_body=4096).feed(encode_frame(17, 2, LINUX_INFO * 2))[0].body == LINUX_INFO * 2
    with pytest.raises(ValueError):
        FrameParser(max_body=0x10000)


def test_many_frames_in_one_read() -> None:
    frames = [Frame.of(Command.HARDWARE, i, "vw", i % 256, "x" * (i % 50)) for i in range(1, 2001)]
    wire = b"".join(f.encode() for f in frames)
    parser = FrameParser()
    assert parser.feed(wire) == frames
    assert parser.buffered == 0
