"""What a real serial line throws at the driver: garbage, partial and giant lines, a port that vanishes and comes
back (issue 7 §8). Clear errors, no wait beyond its timeout, and the log keeps everything received."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from portservers import RawTcpBridge
from serialrig import RawPty

from provlab.drivers.port_lock import lock_path
from provlab.drivers.serial_board import ExpectTimeout, SerialBoard
from provlab.drivers.serial_errors import PortLost
from provlab.protocol.serial_log import TRUNCATED_MARK, LineSplitter

SCALE = 0.05
MIB = 1024 * 1024


def log_lines(path: Path) -> list[str]:
    """The log's lines without their host stamps."""
    text = path.read_text(encoding="utf-8")
    return [line.split(" ", 1)[1] for line in text.split("\n") if line]  # not splitlines(): garbage has \x0c


def wait_connected(board: SerialBoard, timeout: float = 400) -> None:
    assert board.wait_for_port(timeout), f"{board.url} not back within {timeout} s (device time)"


def test_binary_garbage_does_not_stop_the_parser(raw_pty: RawPty, tmp_path: Path) -> None:
    noise = bytes(range(256)) * 4
    with SerialBoard(raw_pty.path, log_path=tmp_path / "b.log", time_scale=SCALE) as board:
        raw_pty.send(noise + b"\r\n\xff\xfe[10] INIT => WAIT_CONFIG\r\n" + noise + b"\r\n[20] Last error code: 701\r\n")
        board.expect_state("WAIT_CONFIG", timeout=60)
        board.expect_exact("Last error code: 701", timeout=60)
        assert board.last_error == 701
    lines = log_lines(tmp_path / "b.log")
    assert any("[10] INIT => WAIT_CONFIG" in line for line in lines)
    assert sum(line.count("\ufffd") for line in lines) >= 256  # invalid bytes shown, not dropped


def test_partial_lines_are_joined_across_reads(raw_pty: RawPty) -> None:
    with SerialBoard(raw_pty.path, time_scale=SCALE) as board:
        for piece in (b"[1", b"0] INIT =", b"> WAIT_CO", b"NFIG\r", b"\n[20] AP URL:  blynk", b".setup\r\n"):
            raw_pty.send(piece)
        board.expect_exact("AP URL:  blynk.setup", timeout=60)
        raws = [item.line.raw for item in board.lines()]
    assert raws == ["[10] INIT => WAIT_CONFIG", "[20] AP URL:  blynk.setup"]  # CR then LF: one terminator


def test_a_megabyte_line_without_newline(raw_pty: RawPty, tmp_path: Path) -> None:
    with SerialBoard(raw_pty.path, log_path=tmp_path / "m.log", time_scale=SCALE) as board:
        raw_pty.send(b"A" * MIB)
        board.stream.wait_until("1 MiB", lambda: True if board.stream.bytes_received >= MIB else None, 400)
        with pytest.raises(ExpectTimeout) as failure:
            board.expect_state("RUNNING", timeout=1)
        assert len(str(failure.value)) < 8000  # the tail is clipped, not a megabyte of A
        assert "more characters)" in str(failure.value)
        raw_pty.send(b"\r\n[7] INIT => WAIT_CONFIG\r\n")
        board.expect_state("WAIT_CONFIG", timeout=60)
    lines = log_lines(tmp_path / "m.log")
    pieces = [line.replace(TRUNCATED_MARK, "") for line in lines if line.startswith("AAAA")]
    assert sum(len(piece) for piece in pieces) == MIB and set("".join(pieces)) == {"A"}  # every byte kept
    assert sum(TRUNCATED_MARK in line for line in lines) == MIB // LineSplitter().max_line - 1  # 16 pieces


def test_a_usb_port_that_vanishes_and_comes_back(tmp_path: Path) -> None:
    by_id = tmp_path / "usb-Silicon_Labs_CP2102_0001A2B3-if00-port0"  # what udev keeps stable across replugs
    first = RawPty()
    by_id.symlink_to(first.path)
    log = tmp_path / "u.log"
    with SerialBoard(
        str(by_id), name="bench-a", log_path=log, time_scale=SCALE, reconnect=True, reconnect_interval=0.05
    ) as board:
        sent = b"[10] INIT => CONNECTING_NET\r\n[20] Connecting to Wi"
        first.send(sent)
        board.stream.wait_until("all", lambda: True if board.stream.bytes_received >= len(sent) else None, 60)

        first.close()  # unplugged
        by_id.unlink()
        with pytest.raises(PortLost) as failure:
            board.expect_state("RUNNING", timeout=100_000)  # would be 83 minutes: a lost port fails it at once
        assert re.match(
            r"board bench-a went away at \d\d:\d\d:\d\d \(last line: \[20\] Connecting to Wi\)", str(failure.value)
        )
        assert f"port: {by_id}: " in str(failure.value) and "reopening it until it is back" in str(failure.value)
        assert f"full log: {log}" in str(failure.value)
        assert not board.connected
        with pytest.raises(PortLost, match="board bench-a went away at"):
            board.write(b"devinfo\n")

        second = RawPty()  # plugged back in: a new tty, the same stable link
        try:
            by_id.symlink_to(second.path)
            wait_connected(board)
            mark = board.mark()
            second.send(b"[11] INIT => WAIT_CONFIG\r\n")
            board.expect_state("WAIT_CONFIG", timeout=60, since=mark)
            board.write(b"devinfo\n")
            assert second.host_wrote() == b"devinfo\n"
        finally:
            second.close()
    lines = log_lines(log)
    assert "[20] Connecting to Wi" in lines  # the partial line, kept when the port went
    notes = [line for line in lines if line.startswith("## provlab: ")]
    assert any(n.startswith("## provlab: port lost:") for n in notes)
    assert f"## provlab: port back: {by_id}" in notes
    assert lines.index("[10] INIT => CONNECTING_NET") < lines.index("[11] INIT => WAIT_CONFIG")


def test_a_lost_pty_fails_the_wait_at_once(raw_pty: RawPty) -> None:
    """A pty (emulated board, replay) never comes back, so by default a lost one is not waited for."""
    with SerialBoard(raw_pty.path, name="bench-a", time_scale=SCALE) as board:
        assert not board.reconnect
        raw_pty.send(b"[10] INIT => WAIT_CONFIG\r\n")
        board.expect_state("WAIT_CONFIG", timeout=60)
        raw_pty.close()
        with pytest.raises(PortLost, match=r"board bench-a went away at .* \(last line: \[10\] INIT => WAIT_CONFIG\)"):
            board.expect_state("RUNNING", timeout=100_000)  # would be 83 minutes: it must not wait
        assert not Path(lock_path(raw_pty.path)).exists()  # its lock is gone with it


def test_a_remote_port_server_that_stops_and_restarts(tmp_path: Path) -> None:
    pty = RawPty()
    server = RawTcpBridge(pty.path).start()
    url = f"socket://127.0.0.1:{server.port}"
    try:
        with SerialBoard(
            url, name="remote", log_path=tmp_path / "r.log", time_scale=SCALE, reconnect_interval=0.05
        ) as board:
            pty.send(b"[10] INIT => WAIT_CONFIG\r\n")
            board.expect_state("WAIT_CONFIG", timeout=60)
            server.stop()  # ser2net restarted, or the bench host rebooted
            with pytest.raises(PortLost, match=r"(?s)board remote went away at .*socket disconnected"):
                board.expect_state("RUNNING", timeout=100_000)
            server = RawTcpBridge(pty.path, port=server.port).start()
            wait_connected(board)
            mark = board.mark()
            pty.send(b"[30] WAIT_CONFIG => CONFIGURING\r\n")
            board.expect_state("CONFIGURING", timeout=60, since=mark)
    finally:
        server.stop()
        pty.close()
    notes = [line for line in log_lines(tmp_path / "r.log") if line.startswith("## provlab: port")]
    assert (
        notes[0].startswith("## provlab: port lost: read failed: socket disconnected")
        and notes[-1] == f"## provlab: port back: {url}"
    )


def test_nothing_is_left_behind(raw_pty: RawPty) -> None:
    """Closing stops the reader thread and releases the lock (a leak would show on the next open)."""
    board = SerialBoard(raw_pty.path, time_scale=SCALE)
    board.close()
    board.close()  # idempotent
    assert not board._thread.is_alive()
    assert os.path.exists(raw_pty.path)
    SerialBoard(raw_pty.path).close()
