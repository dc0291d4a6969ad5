"""The emulated Blynk.NCP board (Nano 33 IoT / MKR WiFi 1010): the host's serial output byte-exact, the NCP's
provisioning and cloud login, and a board whose NCP does not answer.

Host lines: `blynkkk/blynk-library@7fab3bc:examples/Blynk.Edgent/Edgent_NCP/Edgent_NCP.ino` and
`src/BlynkEdgentNCP.h`; the NCP-absent log matches the one reported in
Blynk-Technologies/Blynk-NCP-Example-Arduino#7 (banner `v1.3.0 on Nano 33 IoT`, then, 10 s later,
`Cannot communicate to Blynk.NCP`).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from devrig import HOME_PASS, HOME_SSID, MAC, TOKEN, MiniCloud, Rig, SerialCapture, http, join_ap, provision, run

from provlab.clock.virtual import clock_of
from provlab.emulator.board import EmulatedBoard
from provlab.emulator.clock import DeviceClock
from provlab.emulator.families import ncp
from provlab.emulator.families.ncp_firmware import NcpFirmware
from provlab.emulator.serial_port import MemorySerial
from provlab.protocol.commands import Command
from provlab.protocol.internal import parse_info
from provlab.protocol.states import EdgentState as S
from provlab.wifi.sim import SimAir, SimBoardRadio

CLOUD = "blynk.cloud"
LOGO = (
    "\r\n"
    "    ___  __          __\r\n"
    "   / _ )/ /_ _____  / /__\r\n"
    "  / _  / / // / _ \\/  '_/\r\n"
    " /____/_/\\_, /_//_/_/\\_\\\r\n"
    "        /___/ v1.4.0 on {device}\r\n"
    "\r\n"
    " #StandWithUkraine    https://bit.ly/swua\r\n"
    "\r\n"
    "\r\n"
)


async def ncp_rig(tmp: Path, factory: Any = ncp.nano33iot, **overrides: Any) -> Rig:
    air = SimAir()
    home = air.add_network(HOME_SSID, passphrase=HOME_PASS, dns={CLOUD: "127.0.0.1"})
    capture = SerialCapture()
    board = EmulatedBoard(
        factory(template_id="TMPL0TEST01", template_name="Device", **overrides),
        MAC,
        SimBoardRadio(air, "board"),
        tmp / "board.nvs",
        MemorySerial(capture),
        clock=DeviceClock(lab_clock=clock_of(asyncio.get_running_loop())),
        name="board",
    )
    rig = Rig(air, home, board, capture, 1.0, tmp)
    board.listeners.append(lambda old, new: (rig.states.append(new), capture.changed.set()))
    await board.power_on()
    return rig


def stamped(text: str) -> list[tuple[int, str]]:
    return [(int(m[1]), m[2]) for m in re.finditer(r"\[(\d+)\] ([^\r]*)\r\n", text)]


def test_boot_log_byte_exact_until_configuration(tmp_path: Path) -> None:
    """Edgent_NCP.ino setup(): `Serial.println()`, 3 s, `Main firmware`, `Build`, banner (`initNCP()` ->
    `printBanner()`, BlynkEdgentNCP.h:458-477), the baud negotiation 38400 -> 2000000 (:220-255), the NCP's
    version (:64), then `State: Configuration` when the unconfigured NCP starts provisioning."""

    async def body() -> None:
        rig = await ncp_rig(tmp_path)
        await rig.wait_log("State: Configuration")
        text = rig.capture.text
        head = r"\r\n\[\d+\] Main firmware: 0\.1\.0\r\n\[\d+\] Build: Nov 26 2026 03:29:17\r\n\[\d+\] \r\n"
        assert re.match(head, text)
        assert stamped(text)[0][0] >= 2999  # after `delay(3000)` (the device clock's float rounding aside)
        assert LOGO.format(device="Nano 33 IoT") in text
        assert [line for _, line in stamped(text)][2:] == [
            "",  # the banner's log call
            "NCP responding (baud 38400, 4727 us)",
            "NCP responding (baud 2000000, 385 us)",
            "Blynk.NCP firmware: 0.6.3",
            "State: Configuration",
        ]
        assert rig.states[0] is S.WAIT_CONFIG
        assert b"INIT => WAIT_CONFIG" in rig.board.firmware.ncp_log  # the NCP's own log, not on the host's port
        assert "=>" not in text
        await rig.wait_ap()
        assert rig.board.ssid == "Blynk Device-1W7R"
        await rig.shutdown()

    run(body())


def test_mkr1010_banner_and_led_setup(tmp_path: Path) -> None:
    """MKR WiFi 1010: `BLYNK_INFO_DEVICE` "MKR WiFi 1010" (BlynkDetectDevice.h:305-306); `ncpConfigure()`
    sends `initRGB(26, 25, 27, false)` and `setLedBrightness(128)` (BlynkEdgentNCP.h:176-180)."""

    async def body() -> None:
        rig = await ncp_rig(tmp_path, ncp.mkr1010)
        await rig.wait_log("State: Configuration")
        assert LOGO.format(device="MKR WiFi 1010") in rig.capture.text
        firmware = rig.board.firmware
        assert isinstance(firmware, NcpFirmware)
        assert firmware.led_config == [("rgb", (26, 25, 27, 0)), ("brightness", (128,))]
        assert firmware.config_timeout_s == 1800  # Blynk.setConfigTimeout(30 * 60)
        await rig.shutdown()

    run(body())


def test_ncp_absent_prints_cannot_communicate_after_10_s_and_never_opens_an_ap(tmp_path: Path) -> None:
    """`initNCP()` pings at 38400, 115200 and 2000000 (100 ms each, BlynkNCP.jidl `ncp.ping` @timeout) with
    100 ms between rounds for 10 s, then Edgent_NCP.ino:66-68 and `return` from setup()."""

    async def body() -> None:
        rig = await ncp_rig(tmp_path, ncp_present=False)
        await rig.wait_log("  See: https://github.com/Blynk-Technologies/Blynk-NCP-Example-Arduino")
        lines = stamped(rig.capture.text)
        banner_at = lines[2][0]
        tail = lines[3:]
        assert [line for _, line in tail] == [
            "Cannot communicate to Blynk.NCP",
            "  Please ensure you have flashed your board with the Blynk.NCP firmware, before running this example.",
            "  See: https://github.com/Blynk-Technologies/Blynk-NCP-Example-Arduino",
        ]
        assert tail[0][0] - banner_at >= 10_000
        await rig.clock.sleep(120.0)
        assert rig.air.find(rig.board.ssid) is None and not rig.board.web_server_up
        assert rig.board.state is S.INIT and rig.states == []
        await rig.shutdown()

    run(body())


def test_provisioning_then_cloud_login_with_ncp_info(tmp_path: Path) -> None:
    """The phone's `/config` on the NCP's AP; the NCP logs in with the token and sends its info message with
    `ncp` instead of `mcu` (BlynkApiArduino.h:24-25); the host prints each state and `Connected to Blynk 🙌`."""

    async def body() -> None:
        cloud = MiniCloud()
        port = await cloud.start()
        rig = await ncp_rig(tmp_path)
        reply = await provision(rig, port)
        assert reply.status == 200
        await rig.wait_log("Connected to Blynk 🙌")
        await cloud.wait(lambda: len(cloud.of(Command.INTERNAL)) >= 2)
        login = cloud.of(Command.HW_LOGIN)[0]
        info = parse_info(cloud.of(Command.INTERNAL)[0].body)
        assert login.body == TOKEN.encode()
        assert (info["ncp"], info["fw-type"], info["dev"]) == ("0.6.3", "TMPL0TEST01", "ESP32")
        assert info["tmpl"] == "TMPL0TEST01"
        assert "mcu" not in info
        host = [line for _, line in stamped(rig.capture.text)][6:]
        assert host == [
            "State: Configuration",
            "State: Connecting Network",
            "State: Connecting Cloud",
            "State: Connected",
            "Connected to Blynk 🙌",
        ]
        await rig.shutdown()
        await cloud.stop()

    run(body())


def test_ncp_reboot_after_error_is_reinitialized_by_the_host(tmp_path: Path) -> None:
    """A failed first attempt ends in ERROR and `Restarting after error.` on the NCP: it sends
    `RPC_EVENT_NCP_REBOOTING`, the host logs `Reinitializing NCP...` and sets it up again (BlynkEdgentNCP.h:276-289,
    :575-581); the NCP is back in configuration mode with the error recorded."""

    async def body() -> None:
        rig = await ncp_rig(tmp_path)
        await rig.wait_ap()
        station, link = await join_ap(rig)
        reply = await http(link, "GET", f"/config?ssid=Nowhere&pass=x&blynk={TOKEN}&host={CLOUD}&port_ssl=1")
        assert reply is not None and reply.status == 200
        await station.leave()
        await rig.wait_log("Reinitializing NCP...")
        await rig.wait_log("State: Configuration", count=2)
        host = [line for _, line in stamped(rig.capture.text)][6:]
        assert host[:4] == [
            "State: Configuration",
            "State: Connecting Network",
            "State: Error",
            "Reinitializing NCP...",
        ]
        assert host[4:] == [
            "NCP responding (baud 38400, 4727 us)",
            "NCP responding (baud 2000000, 385 us)",
            "State: Configuration",
        ]
        assert rig.board.boots == 1  # the host did not restart
        await rig.wait_ap()
        station, link = await join_ap(rig)
        info = await http(link, "GET", "/board_info.json")
        assert info is not None and b'"last_error":701' in info.raw
        await station.leave()
        await rig.shutdown()

    run(body())


def test_ncp_lost_at_runtime_is_reinitialized_until_it_answers_again(tmp_path: Path) -> None:
    """`Blynk.run()` (BlynkEdgentNCP.h:416-436): 30 s after the NCP last spoke the host asks `getState` on each
    pass; 10 unanswered asks (1 s RPC timeout each) re-initialize it (`Reinitializing NCP...`, 10 s of
    `ncpConnect()`), again and again while it stays silent. Back, it boots NOT_INITIALIZED at 38400 and the round
    under way sets it up; its state is CONFIG as before, so the host prints no new state line."""

    async def body() -> None:
        rig = await ncp_rig(tmp_path)
        await rig.wait_ap()
        firmware = rig.board.firmware
        assert isinstance(firmware, NcpFirmware)
        await firmware.unplug_ncp()
        assert rig.air.find(rig.board.ssid) is None
        await rig.wait_log("Reinitializing NCP...", count=2)
        reinits = [ms for ms, line in stamped(rig.capture.text) if line == "Reinitializing NCP..."]
        assert reinits[1] - reinits[0] >= 20_000  # 10 s of ncpConnect(), then 10 more 1 s asks
        firmware.plug_ncp()  # while the second round tries: that round gets it
        await rig.wait_ap()
        tail = [line for _, line in stamped(rig.capture.text)][-3:]
        assert tail == [
            "Reinitializing NCP...",
            "NCP responding (baud 38400, 4727 us)",
            "NCP responding (baud 2000000, 385 us)",
        ]
        await rig.shutdown()

    run(body())


def test_sketch_publishes_uptime_to_v0_every_10_s_through_the_ncp(tmp_path: Path) -> None:
    """Edgent_NCP.ino:88-90 `timer.setInterval(10000, …virtualWrite(V0, millis() / 1000))`, sent as the
    `blynk.virtualWrite` ONEWAY (vpin UInt16, value Binary) and forwarded by the NCP as HARDWARE `vw 0 <s>`."""

    async def body() -> None:
        cloud = MiniCloud()
        port = await cloud.start()
        rig = await ncp_rig(tmp_path)
        await provision(rig, port)
        await rig.wait_log("Connected to Blynk 🙌")
        await cloud.wait(lambda: len(cloud.of(Command.HARDWARE)) >= 2)
        bodies = [f.body.split(b"\0") for f in cloud.of(Command.HARDWARE)[:2]]
        assert [b[:2] for b in bodies] == [[b"vw", b"0"], [b"vw", b"0"]]
        assert int(bodies[1][2]) - int(bodies[0][2]) == 10
        await rig.shutdown()
        await cloud.stop()

    run(body())
