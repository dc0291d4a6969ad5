"""The UART (spec §5): a real pty pyserial opens, the banner and log lines, and the console of §5.5."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from pathlib import Path

import serial
from devrig import HOME_PASS, HOME_SSID, TOKEN, MiniCloud, Rig, provision, run, start_rig

from provlab.emulator.serial_port import MemorySerial, PtySerial
from provlab.protocol.states import EdgentState as S

HELP = "Available commands: help, ?, reboot, config, devinfo, connect, wifi, firmware, status"


async def typed(rig: Rig, line: str) -> str:
    """Type `line` + CR and return what the board printed in answer, up to its prompt."""
    port = rig.board.serial
    assert isinstance(port, MemorySerial)
    start = len(rig.capture.data)
    port.inject(line.encode() + b"\r")
    await rig.wait_for(lambda: rig.capture.data[start:].endswith(b">"), f"the prompt after {line!r}")
    return rig.capture.data[start:].decode()


def test_console_commands_and_exact_replies(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await start_rig(tmp_path)
        await rig.wait_ap()
        assert await typed(rig, "help") == f"help\r\n{HELP}\r\n>"
        assert await typed(rig, "?") == f"?\r\n{HELP}\r\n>"
        assert await typed(rig, "HeLp") == f"HeLp\r\n{HELP}\r\n>"  # the command word is case-insensitive
        assert await typed(rig, "bogus 1 2") == "bogus 1 2\r\nCommand not found.\r\n>"
        assert await typed(rig, "devinfo") == (
            'devinfo\r\n{"name":"Blynk Device-1W7R","board":"Device","tmpl_id":"TMPL0TEST01",'
            '"fw_type":"TMPL0TEST01","fw_ver":"0.1.0"}\n>'
        )
        assert await typed(rig, "connect") == (
            'connect\r\n{"status":"error","msg":"invalid arguments. expected: <auth> <ssid> <pass>"}\n>'
        )
        assert await typed(rig, "connect short Home") == (
            'connect short Home\r\n{"status":"error","msg":"invalid token size"}\n>'
        )
        assert await typed(rig, "wifi") == "wifi\r\nmac:24:6F:28:AA:BB:CC ip:0.0.0.0 ( [] 0dBm)\n>"
        scan = await typed(rig, "wifi scan")
        assert scan == f"wifi scan\r\n  Home [{rig.home.bssid.lower()}] WPA2 ch:6 rssi:-50\n>"
        info = (await typed(rig, "firmware info")).split("\n")
        assert info[1:5] == [
            " Version:   0.1.0 (build Nov 26 2026 03:29:17)",
            " Type:      TMPL0TEST01",
            " Platform:  ESP32 @ 240MHz",
            " SDK:       v4.4.7-dirty",
        ]
        assert info[5] == " Partition: app0 (1280K)" and re.fullmatch(r" App size:  \d+K \(\d+%\)", info[6])
        assert re.fullmatch(r" App MD5:   [0-9a-f]{32}", info[7])
        status = (await typed(rig, "status")).split("\n")
        assert re.fullmatch(r" Uptime:          0d 0h \d+m \d+s", status[1])
        assert status[2:5] == [
            " Chip:            ESP32-D0WDQ6 rev 3",
            " Flash:           4096K",
            " Stack unused:    5232",
        ]
        assert status[5:8] == [
            " Heap free:       233000 / 327680",
            "      max alloc:  110580",
            "      min free:   219000",
        ]
        rig.capture.data.clear()
        port = rig.board.serial
        assert isinstance(port, MemorySerial)
        port.inject(b"\r\n   \r")
        await asyncio.sleep(0.01)
        assert rig.capture.data == b"   "  # blank lines are echoed but not run: no prompt
        await rig.shutdown()

    run(body())


def test_console_config_commands_and_connect(tmp_path: Path) -> None:
    async def body() -> None:
        cloud = MiniCloud()
        port = await cloud.start()
        rig = await start_rig(tmp_path)
        await provision(rig, port, save=True)
        await rig.wait_state(S.RUNNING)
        wifi = await typed(rig, "wifi show")
        assert re.fullmatch(
            rf"wifi show\r\nmac:24:6F:28:AA:BB:CC ip:192\.168\.1\.\d+ \(Home \[{rig.home.bssid}\] -50dBm\)\n>", wifi
        )
        assert "* Home" in await typed(rig, "wifi scan")
        mark = rig.mark()
        assert re.fullmatch(r"config\r\n\[\d+\] RUNNING => WAIT_CONFIG\r\n>", await typed(rig, "config"))
        await rig.wait_state(S.WAIT_CONFIG, after=mark)
        mark = rig.mark()
        await typed(rig, "config erase")
        await rig.wait_state(S.RESET_CONFIG, after=mark)
        await rig.wait_state(S.WAIT_CONFIG, after=mark)
        assert not rig.board.config.is_valid
        await rig.wait_ap()
        await typed(rig, f"connect {TOKEN} {HOME_SSID} {HOME_PASS}")
        await rig.wait_state(S.CONNECTING_NET, after=mark)
        assert rig.board.config.wifi_ssid == HOME_SSID and rig.board.config.cloud_port == 443
        await rig.shutdown()
        await cloud.stop()

    run(body())


class LoopThread:
    """An event loop on a thread, so pyserial can block in the test thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)  # type: ignore[arg-type]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def read_until(port: serial.Serial, needle: bytes, limit_s: float = 20.0) -> bytes:
    data = b""
    deadline = time.monotonic() + limit_s
    while needle not in data:
        assert time.monotonic() < deadline, f"{needle!r} not seen; got {data[-400:]!r}"
        data += port.read(4096)
    return data


def test_a_real_pty_that_pyserial_opens(tmp_path: Path) -> None:
    loops = LoopThread()
    pty = PtySerial()
    try:

        async def boot() -> Rig:
            pty.attach(asyncio.get_running_loop())
            return await start_rig(tmp_path, serial=pty, scale=0.01)  # a wall-clock loop: 100x device time

        with serial.Serial(pty.path, 115200, timeout=0.05) as port:  # opened first: opening flushes input
            rig = loops.run(boot())
            assert isinstance(rig, Rig)
            boot_text = read_until(port, b"AP URL:  blynk.setup\r\n")
            assert re.search(rb"\[\d+\] Config read failed\r\n\[\d+\] \r\n    ___  __          __\r\n", boot_text)
            assert b"----------------------------------------------------\r\n\n>[" in boot_text
            assert re.search(rb">\[\d+\] INIT => WAIT_CONFIG\r\n", boot_text)
            port.write(b"devinfo\r")
            answer = read_until(port, b"}\n>")
            assert answer.startswith(b'devinfo\r\n{"name":"Blynk Device-1W7R"')
            port.write(b"reboot\r")
            answer = read_until(port, b"INIT => WAIT_CONFIG\r\n")
            # `delay(100); restartMCU()` inside the handler: no prompt before the next boot's text
            reply = b'reboot\r\n{"status":"OK","msg":"rebooting wifi module"}\n'
            assert answer.startswith(reply + b"ets Jun  8 2016 00:22:57\r\n\r\nrst:0xc (SW_CPU_RESET)")
        # the port survives the host closing it, as a USB bridge's node does
        with serial.Serial(pty.path, 115200, timeout=0.05) as port:
            port.write(b"help\r")
            assert HELP.encode() in read_until(port, b"status\r\n>")
        loops.run(rig.shutdown())
    finally:
        pty.close()
        loops.close()
