"""The Edgent console over serial: parsed replies, echo, the prompt, interleaved log lines (issue 7 §3)."""

from __future__ import annotations

import os
import select
import threading
from pathlib import Path

import pytest
from serialrig import EmulatedRig, RawPty

from provlab.drivers.serial_board import SerialBoard
from provlab.drivers.serial_console import ConsoleReply
from provlab.drivers.serial_errors import ConsoleCommandNotFound
from provlab.protocol import console as proto
from provlab.protocol.console import DevInfo


@pytest.fixture
def board(rig: EmulatedRig, tmp_path: Path) -> SerialBoard:
    serial = SerialBoard(rig.path, name="board-1", log_path=tmp_path / "board-1.log", time_scale=rig.scale)
    rig.power_on()
    serial.expect_state("WAIT_CONFIG", timeout=400)
    yield serial  # type: ignore[misc]
    serial.close()


def test_devinfo_returns_the_parsed_reply_and_updates_info(rig: EmulatedRig, board: SerialBoard) -> None:
    info = board.console("devinfo")
    profile = rig.board.profile
    assert info == DevInfo(rig.board.ssid, profile.template_name, profile.template_id, profile.firmware_type, "0.1.0")
    assert board.info.name == rig.board.ssid and board.info.tmpl_id == profile.template_id
    assert board.info.sources == {"banner", "devinfo"} and board.info.build == profile.build


def test_the_echo_is_not_part_of_the_reply(board: SerialBoard) -> None:
    reply = board.console("help")
    assert isinstance(reply, ConsoleReply)
    assert reply.lines == (proto.HELP,)
    assert any(item.line.raw.endswith("help") for item in board.lines())  # the echo was received, and skipped


def test_an_unknown_command_is_a_specific_error(board: SerialBoard) -> None:
    with pytest.raises(ConsoleCommandNotFound, match="does not know 'frobnicate'"):
        board.console("frobnicate now")


def test_status_replies_are_parsed(board: SerialBoard) -> None:
    reply = board.console("connect shorttoken Home")
    assert reply.status().status == "error" and reply.status().msg == "invalid token size"
    assert not reply.status().ok


def test_a_command_after_a_reboot_waits_for_the_console_prompt(board: SerialBoard) -> None:
    mark = board.mark()
    assert board.console("reboot").status().ok
    board.expect(r"/___/ v1\.4\.0", timeout=400, since=mark)  # the reboot's banner; its prompt comes later
    assert board.boots == 2
    assert board.console("devinfo").tmpl_id == "TMPL0PROVLAB"


CUT_INTO_THE_ECHO = b"dev[5120] Scanning networks...\r\ninfo\r\n[5121] CONFIGURING => WAIT_CONFIG\r\n"
"""A log line printed while the command is being echoed: `dev`, the log line, then `info`."""
RIGHT_AFTER_THE_ECHO = b"devinfo[5120] Scanning networks...\r\n\r\n[5121] CONFIGURING => WAIT_CONFIG\r\n"
"""A log line printed after the whole echo, before the console's CRLF: on the echo's line."""


def _scripted_console(pty: RawPty, stop: threading.Event, echo: bytes) -> None:
    """Plays a firmware whose log output interleaves with the echo of the command, and the reply."""
    typed = bytearray()
    while not stop.is_set():
        ready, _, _ = select.select([pty.master], [], [], 0.05)
        if not ready:
            continue
        typed += os.read(pty.master, 64)
        if b"\n" in typed:
            pty.send(echo)
            pty.send(b'{"name":"Blynk Lamp-ABCD","board":"Lamp","tmpl_id":"TMPLx","fw_type":"TMPLx","fw_ver":"1.2"}\n')
            pty.send(b"[5130] AP URL:  blynk.setup\r\n>")
            typed.clear()


@pytest.mark.parametrize("echo", [CUT_INTO_THE_ECHO, RIGHT_AFTER_THE_ECHO], ids=["cut-into", "right-after"])
def test_log_lines_that_interleave_with_the_echo_and_reply_are_left_out(
    raw_pty: RawPty, tmp_path: Path, echo: bytes
) -> None:
    stop = threading.Event()
    player = threading.Thread(target=_scripted_console, args=(raw_pty, stop, echo), daemon=True)
    player.start()
    try:
        with SerialBoard(raw_pty.path, name="dut", time_scale=0.05) as board:
            info = board.console("devinfo", timeout=40)
            assert info.name == "Blynk Lamp-ABCD" and info.fw_ver == "1.2"
            assert board.state is not None and board.state.value == "WAIT_CONFIG"  # the log line still counted
    finally:
        stop.set()
        player.join()
