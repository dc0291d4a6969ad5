"""Differences the fidelity audit (shared/spec/fidelity-audit.md) found between the emulator and the real
Edgent_ESP32 sketch, one test per fix; each fails on the emulator as it was before the fix."""

from __future__ import annotations

import asyncio
from pathlib import Path

from devrig import HOME_SSID, Connection, MiniCloud, Rig, http, join_ap, provision, run, start_rig
from test_board_console import HELP, typed
from test_board_transitions import running_rig, type_line

from provlab.protocol.commands import Command, Status
from provlab.protocol.firmware_image import build_app_image
from provlab.protocol.frames import Frame
from provlab.protocol.internal import dbg_body, hardware_vw
from provlab.protocol.states import EdgentState as S


def log_after(rig: Rig, first: str) -> list[str]:
    """The log texts from the last `first` line on."""
    texts = rig.capture.log_texts()
    start = len(texts) - 1 - texts[::-1].index(first)
    return texts[start:]


# --- #4: `enterConfigMode()` only turns the radio off; it never calls `Blynk.disconnect()` ------------


def test_config_mode_from_running_logs_no_disconnected(tmp_path: Path) -> None:
    async def go() -> None:
        cloud = MiniCloud()
        rig = await running_rig(tmp_path, cloud)
        try:
            type_line(rig, "config")
            await rig.wait_log("AP URL:  blynk.setup", count=2)
            assert log_after(rig, "RUNNING => WAIT_CONFIG") == ["RUNNING => WAIT_CONFIG", "AP URL:  blynk.setup"]
            assert not rig.board.client.connected  # the session still ended, silently
        finally:
            await rig.shutdown()
            await cloud.stop()

    run(go())


# --- #7: `WiFi.config()` validates neither mask nor gateway ------------------------------------------


def test_bad_static_mask_and_gateway_still_join_wifi(tmp_path: Path) -> None:
    async def go() -> None:
        cloud = MiniCloud()
        port = await cloud.start()
        rig = await start_rig(tmp_path)
        try:
            await provision(rig, port, ip="192.168.1.50", mask="255.0.255.0", gw="10.9.9.9")
            await rig.wait_state(S.CONNECTING_CLOUD)
            texts = log_after(rig, "Connecting to WiFi: Home")
            assert texts[:3] == [
                "Connecting to WiFi: Home",
                "Using Static IP: 192.168.1.50",
                "CONNECTING_NET => CONNECTING_CLOUD",
            ]
            assert "Failed to configure Static IP" not in rig.capture.log_texts()
        finally:
            await rig.shutdown()
            await cloud.stop()

    run(go())


# --- #8, #25: server commands the library does not handle --------------------------------------------


def _pushing(*frames: Frame) -> MiniCloud:
    """A cloud that pushes `frames` once, right after the first successful login."""
    pushed: list[bool] = []

    async def push(cloud: MiniCloud, conn: Connection) -> None:
        if not pushed:
            pushed.append(True)
            for frame in frames:
                conn.send(frame)

    return MiniCloud(on_login=push)


def test_unhandled_server_command_drops_the_connection(tmp_path: Path) -> None:
    async def go() -> None:
        cloud = _pushing(Frame(Command.PROPERTY, 50, b"5\0label\0x"))
        rig = await running_rig(tmp_path, cloud)
        try:
            await cloud.wait(lambda: cloud.logins >= 2)  # internalReconnect(): a fresh connection and login
            assert cloud.connections[0].closed
            await rig.wait_state(S.CONNECTING_CLOUD)
            assert "Disconnected" not in rig.capture.log_texts()
        finally:
            await rig.shutdown()
            await cloud.stop()

    run(go())


def test_vw_bridge_login_and_internal_pins_like_the_library(tmp_path: Path) -> None:
    async def go() -> None:
        cloud = _pushing(
            Frame(Command.HARDWARE, 60, hardware_vw(5, 42)),
            Frame(Command.BRIDGE, 61, hardware_vw(300, 1)),
            Frame(Command.HW_LOGIN, 62, b"x" * 32),
            Frame(Command.INTERNAL, 63, b"acon"),
            Frame(Command.INTERNAL, 64, b"metaX\0a\0b"),
            Frame(Command.INTERNAL, 65, b"nope\0z"),
            Frame(Command.DEBUG_PRINT, 66, b"end"),
        )
        rig = await running_rig(tmp_path, cloud)
        try:
            await rig.wait_log("Server: end")
            texts = log_after(rig, "No handler for writing to pin 5")
            assert texts[:4] == [
                "No handler for writing to pin 5",
                "No handler for writing to pin 44",  # BRIDGE served as HARDWARE; pin 300 in a uint8_t
                "No handler for writing to pin 0",  # acon
                "No handler for writing to pin 0",  # metaX compares as meta
            ]
            await cloud.wait(lambda: any(f.msg_id == 62 and f.status == Status.SUCCESS for f in cloud.of(0)))
            assert cloud.logins == 1 and rig.board.client.connected
        finally:
            await rig.shutdown()
            await cloud.stop()

    run(go())


# --- #9: remote console (`dbg`) and console details ----------------------------------------------------


def test_remote_console_prints_crlf_first_and_no_not_found(tmp_path: Path) -> None:
    async def go() -> None:
        cloud = _pushing(
            Frame(Command.INTERNAL, 70, dbg_body("nosuchcmd")), Frame(Command.INTERNAL, 71, dbg_body("devinfo"))
        )
        rig = await running_rig(tmp_path, cloud)
        try:
            await rig.wait_for(lambda: '"fw_ver":"0.1.0"}\n' in rig.capture.text, "devinfo output")
            assert '\r\n\r\n\r\n{"name":"Blynk Device-1W7R"' in rig.capture.text  # log CRLF, one CRLF per command
            assert "Command not found." not in rig.capture.text
        finally:
            await rig.shutdown()
            await cloud.stop()

    run(go())


def test_wifi_scan_marks_by_ssid_unsorted_without_hidden(tmp_path: Path) -> None:
    async def go() -> None:
        cloud = MiniCloud()
        rig = await running_rig(tmp_path, cloud)
        try:
            weak = rig.air.add_network("Weak", rssi=-80, channel=1)
            twin = rig.air.add_network(HOME_SSID, rssi=-30, channel=11)
            rig.air.add_network("", rssi=-20)
            answer = await typed(rig, "wifi scan")
            assert answer.split("\r\n", 1)[1] == (
                f"* Home [{rig.home.bssid.lower()}] WPA2 ch:6 rssi:-50\n"
                f"  Weak [{weak.bssid.lower()}] OPEN ch:1 rssi:-80\n"
                f"* Home [{twin.bssid.lower()}] OPEN ch:11 rssi:-30\n>"
            )
        finally:
            await rig.shutdown()
            await cloud.stop()

    run(go())


def test_console_reboot_prints_no_prompt(tmp_path: Path) -> None:
    async def go() -> None:
        rig = await start_rig(tmp_path)
        try:
            await rig.wait_ap()
            mark = len(rig.capture.data)
            type_line(rig, "reboot")
            await rig.wait_log("INIT => WAIT_CONFIG", count=2)
            after = rig.capture.data[mark:].decode()
            assert after.startswith('reboot\r\n{"status":"OK","msg":"rebooting wifi module"}\nets Jun  8 2016')
        finally:
            await rig.shutdown()

    run(go())


# --- #6: Wi-Fi loss while RUNNING is noticed only through the session -----------------------------------


def test_home_ap_lost_while_running_is_noticed_by_the_heartbeat(tmp_path: Path) -> None:
    async def go() -> None:
        cloud = MiniCloud()
        rig = await running_rig(tmp_path, cloud)
        try:
            mark = rig.mark()
            rig.air.remove_network(rig.home)  # the link falls silent: no FIN, no RST
            await rig.wait_state(S.CONNECTING_NET, after=mark)
            assert log_after(rig, "Heartbeat timeout")[:2] == ["Heartbeat timeout", "RUNNING => CONNECTING_NET"]
        finally:
            await rig.shutdown()
            await cloud.stop()

    run(go())


# --- #22, #23: console `connect` field sizes, `firmware rollback` -----------------------------------------


def test_console_connect_cuts_fields_like_copystring(tmp_path: Path) -> None:
    async def go() -> None:
        rig = await start_rig(tmp_path)
        try:
            await rig.wait_ap()
            ssid, password = "S" * 40, "p" * 70
            await typed(rig, f"connect {'A' * 32} {ssid} {password}")
            await rig.wait_log(f"Connecting to WiFi: {'S' * 33}")
            assert rig.board.config.wifi_ssid == "S" * 33 and rig.board.config.wifi_pass == "p" * 63
        finally:
            await rig.shutdown()

    run(go())


def test_firmware_rollback_after_an_update_boots_the_previous_image(tmp_path: Path) -> None:
    async def go() -> None:
        rig = await start_rig(tmp_path, power=False)
        try:
            assert not rig.board.firmware.flash.rollback_app()  # factory-flashed: nothing to roll back to
            rig.board.firmware.flash.write_app(build_app_image("0.3.0"))
            await rig.board.power_on()
            await rig.wait_ap()
            assert rig.board.profile.fw_version == "0.3.0"
            type_line(rig, "firmware rollback")
            await rig.wait_log("INIT => WAIT_CONFIG", count=2)
            assert '\r\n{"status":"ok"}\nets Jun  8 2016' in rig.capture.text  # the reply, then the restart: no prompt
            assert rig.board.profile.fw_version == "0.1.0"
            type_line(rig, "firmware rollback")  # and back again: the update's image was kept in the other slot
            await rig.wait_log("INIT => WAIT_CONFIG", count=3)
            assert rig.board.profile.fw_version == "0.3.0"
        finally:
            await rig.shutdown()

    run(go())


# --- #27: `blnkopt` values as `ConfigStore.h` reads them -----------------------------------------------


def test_blnkopt_junk_port_reads_zero_and_empty_host_is_kept(tmp_path: Path) -> None:
    async def go() -> None:
        opt = (("ssid", "Home"), ("pass", "x"), ("auth", "A" * 32), ("host", ""), ("port", "junk"))
        rig = await start_rig(tmp_path, blnkopt=opt)
        try:
            await rig.wait_log("Firmware is preprovisioned")
            assert (rig.board.config.cloud_host, rig.board.config.cloud_port) == ("", 0)
        finally:
            await rig.shutdown()

    run(go())


# --- #15: the status line echoes the client's HTTP version ------------------------------------------------


def test_softap_status_line_echoes_http_10(tmp_path: Path) -> None:
    async def go() -> None:
        rig = await start_rig(tmp_path)
        try:
            await rig.wait_ap()
            _, link = await join_ap(rig)
            host, port = link.endpoint("192.168.4.1", 80)
            reader, writer = await asyncio.open_connection(host, port, local_addr=(link.local_address, 0))
            writer.write(b"GET /board_info.json HTTP/1.0\r\nHost: 192.168.4.1\r\n\r\n")
            raw = await reader.read()
            writer.close()
            assert raw.startswith(b"HTTP/1.0 200 OK\r\n")
            reply = await http(link, "GET", "/board_info.json")
            assert reply is not None and reply.raw.startswith(b"HTTP/1.1 200 OK\r\n")
        finally:
            await rig.shutdown()

    run(go())


# --- #29: a line with no word does not clear the console buffer -------------------------------------------


def test_wordless_line_stays_in_the_console_buffer(tmp_path: Path) -> None:
    async def go() -> None:
        rig = await start_rig(tmp_path)
        try:
            await rig.wait_ap()
            type_line(rig, " ")  # " \r" stays in the buffer: 2 of its 255 characters
            # 2 + 253 = 255 characters held: the buffer wraps, and `help` is what is left of the line
            assert (await typed(rig, "a" * 253 + "help")).endswith(f"\r\n{HELP}\r\n>")
        finally:
            await rig.shutdown()

    run(go())


# --- enterConnectCloud(): a state change by the console in the pass that logs in wins ------------------------


def test_config_erase_in_the_pass_that_logs_in_drops_the_session_instead_of_crashing(tmp_path: Path) -> None:
    """`config erase` arrives in the same loop pass as the login answer (seen under load: both handled before the
    firmware's task resumed). The sketch checks the state after app_loop() and before Blynk.connected(), so the
    board resets its config; the emulator used to go on to RUNNING from RESET_CONFIG and crash."""
    from provlab.emulator.transitions import Trigger

    async def go() -> None:
        cloud = MiniCloud()
        port = await cloud.start()
        rig = await start_rig(tmp_path)
        firmware = rig.board.firmware
        client = firmware.client
        poke = client.on_change

        def console_in_the_same_pass() -> None:  # the console's bytes were handled in the login answer's pass
            if client.connected and firmware.state is S.CONNECTING_CLOUD:
                firmware.erase_config(Trigger.CONSOLE_CONFIG_ERASE)
            if poke is not None:
                poke()

        client.on_change = console_in_the_same_pass
        try:
            await provision(rig, port)
            await rig.wait_state(S.CONNECTING_CLOUD)
            await rig.wait_state(S.WAIT_CONFIG, after=rig.states.index(S.CONNECTING_CLOUD))
            assert S.RUNNING not in rig.states and "Guru Meditation" not in "".join(rig.capture.log_texts())
            assert rig.board.firmware.hw.is_main_task() or rig.board.powered  # the firmware still runs
        finally:
            await rig.shutdown()
            await cloud.stop()

    run(go())
