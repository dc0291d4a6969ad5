"""SerialBoard on a real pty: host timestamps, the masked log, the expect API, what the stream says (issue 7 §1-2)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from serialrig import TOKEN, RawPty

from provlab.drivers.serial_board import ExpectTimeout, SerialBoard
from provlab.drivers.serial_errors import PortBusy, PortUnavailable, UnexpectedOutput
from provlab.protocol.serial_log import LastError, Ready, StateChange
from provlab.protocol.states import EdgentState as S

SCALE = 0.05  # expect timeouts below are device seconds; 1 s device = 50 ms wall

BANNER = (
    "[9] \r\n"
    "    ___  __          __\r\n"
    "   / _ )/ /_ _____  / /__\r\n"
    "  / _  / / // / _ \\/  '_/\r\n"
    " /____/_/\\_, /_//_/_/\\_\\\r\n"
    "        /___/ v1.4.0 on ESP32\r\n"
    "\r\n"
    "----------------------------------------------------\r\n"
    " Device:    Blynk Device-1W7R\r\n"
    " Firmware:  0.1.0 (build Nov 26 2026 03:29:17)\r\n"
    " Platform:  ESP32 @ 240MHz\r\n"
    " SDK:       v4.4.7-dirty\r\n"
    "----------------------------------------------------\r\n"
    "\r\n>"
)


def open_board(pty: RawPty, tmp_path: Path, **kw: object) -> SerialBoard:
    return SerialBoard(pty.path, name="dut", log_path=tmp_path / "dut.log", time_scale=SCALE, **kw)  # type: ignore[arg-type]


def test_every_line_gets_a_host_timestamp_and_lands_masked_in_the_log(raw_pty: RawPty, tmp_path: Path) -> None:
    with open_board(raw_pty, tmp_path) as board:
        before = time.time()
        raw_pty.send(f"[1200] Blynk cloud: {TOKEN} @ blynk.cloud:443\r\n")
        raw_pty.send("[1201] WiFi SSID: Home Pass: hunter2-secret\r\n")
        board.expect_exact("WiFi SSID", timeout=40)
        after = time.time()
        lines = board.lines()
    stamps = [item.host_time for item in lines]
    assert all(before <= t <= after for t in stamps) and stamps == sorted(stamps)
    assert lines[0].line.millis == 1200 and TOKEN in lines[0].line.raw  # the driver itself sees everything
    log = (tmp_path / "dut.log").read_text()
    assert TOKEN not in log and "hunter2-secret" not in log
    assert f"Blynk cloud: {TOKEN[:4]}… @ blynk.cloud:443" in log and "Pass: …" in log
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 \[1200\] ", log, re.M)
    assert "## provlab: opened" in log and "time_scale 0.05" in log and "## provlab: closed" in log


def test_expect_api_in_the_style_of_pytest_embedded(raw_pty: RawPty, tmp_path: Path) -> None:
    with open_board(raw_pty, tmp_path) as board:
        raw_pty.send("[10] INIT => WAIT_CONFIG\r\n[20] AP URL:  blynk.setup\r\n")
        match = board.expect(r"AP URL: +(\S+)", timeout=40)
        assert match.group(1) == "blynk.setup"
        assert board.expect_exact("AP URL", timeout=40).millis == 20
        board.expect_state("WAIT_CONFIG", timeout=1)  # already there: returns at once
        assert board.state is S.WAIT_CONFIG

        mark = board.mark()
        raw_pty.send("[30] WAIT_CONFIG => CONFIGURING\r\n[40] Last error code: 701\r\n[50] Ready (ping: 12ms).\r\n")
        board.expect_state(S.CONFIGURING, timeout=40, since=mark)
        assert board.expect_event(LastError, timeout=40) == LastError(701)
        assert board.expect_event(LastError(701), timeout=40).line.millis == 40
        assert board.expect_event(Ready, timeout=40, where=lambda e: e.ping_ms == 12).ping_ms == 12
        assert board.last_error == 701
        change = board.expect_event(StateChange, timeout=40, since=mark)
        assert (change.old, change.new) == (S.WAIT_CONFIG, S.CONFIGURING)
        with pytest.raises(ExpectTimeout):  # `since` hides what came before the mark
            board.expect_exact("AP URL", timeout=1, since=mark)


def test_a_timeout_says_what_was_awaited_the_tail_and_where_the_log_is(raw_pty: RawPty, tmp_path: Path) -> None:
    with open_board(raw_pty, tmp_path) as board:
        raw_pty.send("[10] INIT => WAIT_CONFIG\r\n[20] AP URL:  blynk.setup\r\n")
        board.expect_exact("AP URL", timeout=40)
        with pytest.raises(ExpectTimeout) as failure:
            board.expect_state("RUNNING", timeout=2)
    message = str(failure.value)
    assert "expected state RUNNING within 2 s (device time" in message
    assert "[20] AP URL:  blynk.setup" in message and "[10] INIT => WAIT_CONFIG" in message
    assert f"full log: {tmp_path / 'dut.log'}" in message
    assert failure.value.tail[-1] == "[20] AP URL:  blynk.setup"


def test_not_matching_fails_at_once_on_a_forbidden_line(raw_pty: RawPty, tmp_path: Path) -> None:
    with open_board(raw_pty, tmp_path) as board:
        raw_pty.send("[10] INIT => CONNECTING_NET\r\n")
        board.expect_state("CONNECTING_NET", timeout=40)
        mark = board.mark()
        raw_pty.send("Guru Meditation Error: Core  1 panic'ed (LoadProhibited)\r\n")
        with pytest.raises(UnexpectedOutput) as failure:
            board.expect_state("RUNNING", timeout=400, since=mark, not_matching=[r"Guru Meditation", "Exception \\("])
    assert "while waiting for state RUNNING" in str(failure.value)
    assert "LoadProhibited" in failure.value.line and failure.value.pattern == "Guru Meditation"


def test_state_info_and_boots_are_kept_current_from_the_stream(raw_pty: RawPty, tmp_path: Path) -> None:
    with open_board(raw_pty, tmp_path) as board:
        raw_pty.send(BANNER + "[12] INIT => WAIT_CONFIG\r\n")
        board.expect_state("WAIT_CONFIG", timeout=40)
        info = board.info
        assert (info.name, info.fw_ver, info.build) == ("Blynk Device-1W7R", "0.1.0", "Nov 26 2026 03:29:17")
        assert (info.platform, info.blynk_version, info.sdk) == ("ESP32 @ 240MHz", "1.4.0", "v4.4.7-dirty")
        assert info.sources == {"banner"} and board.boots == 1

        raw_pty.send(
            '{"name":"Blynk Device-1W7R","board":"Device","tmpl_id":"TMPL0PROVLAB","fw_type":"TMPL0PROVLAB",'
            '"fw_ver":"0.1.0"}\n>'
        )
        board.expect_exact("tmpl_id", timeout=40)
        assert board.info.tmpl_id == "TMPL0PROVLAB" and board.info.sources == {"banner", "devinfo"}

        # A reboot: ROM text, then the banner again. State goes back to INIT until the first state line.
        raw_pty.send("ets Jun  8 2016 00:22:57\r\n\r\nrst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n")
        board.expect(r"rst:0xc", timeout=40)
        assert board.state is S.INIT and board.boots == 2
        assert board.info.tmpl_id == "TMPL0PROVLAB" and board.info.build is None  # banner facts await the banner


def test_writes_reach_the_board(raw_pty: RawPty, tmp_path: Path) -> None:
    with open_board(raw_pty, tmp_path) as board:
        board.write(b"devinfo\n")
        assert raw_pty.host_wrote() == b"devinfo\n"


def test_a_missing_port_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PortUnavailable) as failure:
        SerialBoard("/dev/ttyUSB-provlab-absent", name="bench-a", log_path=tmp_path / "a.log")
    message = str(failure.value)
    assert "bench-a: cannot open /dev/ttyUSB-provlab-absent" in message and "plugged in" in message


def test_a_second_driver_on_the_same_port_is_refused_by_its_lock(raw_pty: RawPty, tmp_path: Path) -> None:
    first = open_board(raw_pty, tmp_path)
    try:
        with pytest.raises(PortBusy) as failure:
            SerialBoard(raw_pty.path, name="intruder")
        assert f"port {raw_pty.path} is in use by pid" in str(failure.value)
    finally:
        first.close()
    SerialBoard(raw_pty.path, name="next").close()  # released with the first driver
