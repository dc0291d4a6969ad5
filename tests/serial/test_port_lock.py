"""One lock file per port (fcntl): two runs cannot drive one board (issue 7 §6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from serialrig import RawPty

from provlab.drivers.port_lock import PortLock, holder_of, lock_path, port_key
from provlab.drivers.serial_board import SerialBoard
from provlab.drivers.serial_errors import PortBusy

HOLDER = """
import sys
from provlab.drivers.serial_board import SerialBoard
board = SerialBoard(sys.argv[1], name="other-run")
print("holding", flush=True)
sys.stdin.readline()
board.close()
"""


def test_another_process_holding_the_board_is_named(raw_pty: RawPty) -> None:
    other = subprocess.Popen(
        [sys.executable, "-c", HOLDER, raw_pty.path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "holding"
        assert (holder_of(raw_pty.path) or "").startswith(f"pid {other.pid} on ")  # what `provlab boards` shows
        with pytest.raises(PortBusy) as failure:
            SerialBoard(raw_pty.path, name="this-run")
        message = str(failure.value)
        assert f"port {raw_pty.path} is in use by pid {other.pid}" in message and "-c" in message
        holder = json.loads(lock_path(raw_pty.path).read_text())
        assert holder["pid"] == other.pid and holder["port"] == raw_pty.path
    finally:
        other.kill()  # however the holder ends, the kernel drops its lock
        other.wait()
    assert holder_of(raw_pty.path) is None  # free again, and looking did not take it:
    SerialBoard(raw_pty.path, name="this-run").close()


def test_a_link_and_its_device_share_one_lock(raw_pty: RawPty, tmp_path: Path) -> None:
    by_id = tmp_path / "usb-Silicon_Labs_CP2102_0001A2B3-if00-port0"
    by_id.symlink_to(raw_pty.path)
    assert port_key(str(by_id)) == os.path.realpath(raw_pty.path)
    with PortLock(raw_pty.path), pytest.raises(PortBusy):
        PortLock(str(by_id)).acquire()


def test_remote_ports_lock_on_scheme_host_and_port() -> None:
    assert port_key("rfc2217://Bench-2:4001?ign_set_control&timeout=3") == "rfc2217://bench-2:4001"
    with (
        PortLock("rfc2217://bench-2:4001"),
        pytest.raises(PortBusy, match=r"BENCH-2:4001/\?logging=debug is in use by pid"),
    ):
        PortLock("rfc2217://BENCH-2:4001/?logging=debug").acquire()


def test_a_spy_url_locks_the_port_it_watches_and_loop_urls_lock_nothing(raw_pty: RawPty, tmp_path: Path) -> None:
    assert port_key(f"spy://{raw_pty.path}?file={tmp_path / 'spy.txt'}") == os.path.realpath(raw_pty.path)
    with SerialBoard("loop://", name="a") as first, SerialBoard("loop://", name="b") as second:
        first.write(b"[1] INIT => WAIT_CONFIG\r\n")
        first.expect_state("WAIT_CONFIG", timeout=60)
        assert second.state is None


def test_release_removes_the_file_and_a_lock_is_reusable(raw_pty: RawPty) -> None:
    lock = PortLock(raw_pty.path).acquire()
    assert lock.held and lock.path.exists()
    lock.release()
    assert not lock.held and not lock.path.exists()
    with PortLock(raw_pty.path) as again:
        assert again.held
