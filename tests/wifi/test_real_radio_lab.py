"""A lab whose phone is a real adapter (`wifi = "wpa:IFACE"`) provisions a board attached by serial (issue 14, §7).

This machine has no radio, so the adapter is driven through a fake of its control interface (wpa_supplicant's
socket protocol, `fake_wpa`) on `lo`, and the board is an emulated ESP32 on a pty at device time = wall time,
as a real board on the bench. Its SoftAP lives on the board's own simulated air; what a real radio would carry
between the phone's adapter and that SoftAP is a byte bridge: the adapter's link (static address 127.78.4.2,
gateway 127.78.4.1, the shape of an ESP SoftAP's 192.168.4.0/24) reaches 127.78.4.1:80, and every connection
there is carried over a station joined to the board's SoftAP. The cloud is `provlab cloud serve` in another
process (`cloud.url`), which the board reaches through its home network's internet.

Everything else is the lab's own path: config parsing, `open_air("wpa:lo")`, the phone's scan/join/HTTP through
the wpa backend, the token from the cloud, `/config`, and the board coming online.
"""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from child_process import provlab_child
from fake_wpa import FakeAp, FakeWpaSupplicant

from provlab.emulator.board import EmulatedBoard
from provlab.emulator.clock import DeviceClock
from provlab.emulator.profile import edgent_esp32
from provlab.emulator.serial_port import PtySerial
from provlab.lab.capabilities import NoAirFaults, NoSecondPhone
from provlab.lab.config import load_config
from provlab.lab.lab import Lab
from provlab.lab.runtime import EventLoopThread
from provlab.wifi.adapter_air import AdapterAir
from provlab.wifi.sim import SimAir, SimBoardRadio

HOME_SSID = "BenchHome"
HOME_PASS = "bench-home-passphrase"
BRIDGE_GATEWAY = "127.78.4.1"


class BenchBoard:
    """An emulated board on a pty at device time = wall time, on its own air with a home network and internet."""

    def __init__(self, folder: Path, cloud_ports: list[int]) -> None:
        self.loop = EventLoopThread(name="bench-board")
        self.air = SimAir()
        for port in cloud_ports:
            self.air.open_internet_port(port)
        self.air.add_network(HOME_SSID, passphrase=HOME_PASS, dns={"blynk.cloud": "127.0.0.1"})
        self.port = PtySerial()
        self.radio = SimBoardRadio(self.air, "bench-board")
        self.bridge_station = self.air.station("radio-bridge")
        self._servers: list[asyncio.Server] = []

        async def make() -> EmulatedBoard:
            board = EmulatedBoard(
                edgent_esp32(),
                bytes.fromhex("246F28AB0077"),
                self.radio,
                folder / "bench-board.nvs",
                self.port,
                clock=DeviceClock(1.0),
                name="bench-board",
            )
            self.port.attach(asyncio.get_running_loop())
            self._servers.append(await asyncio.start_server(self._carry, BRIDGE_GATEWAY, 80))
            return board

        self.board = self.loop.run(make(), 30)
        self.carried = 0

    async def _carry(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection from the phone's adapter to the board's SoftAP, as the radio would carry it."""
        ap = self.radio.ap
        if ap is None:
            writer.close()
            return
        link = self.bridge_station.link
        if link is None or getattr(link, "ssid", None) != ap.ssid:
            link = await self.bridge_station.join(ap.ssid)
        up_reader, up_writer = await link.open_connection(ap.gateway, 80)
        self.carried += 1

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
                if dst.can_write_eof():
                    dst.write_eof()  # a half-close travels on as one, as TCP over a radio carries it

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        for end in (writer, up_writer):
            with contextlib.suppress(OSError, RuntimeError):
                end.close()

    def close(self) -> None:
        async def stop() -> None:
            for server in self._servers:
                server.close()
            with contextlib.suppress(Exception):
                await self.bridge_station.leave()
            await self.board.power_off()

        try:
            self.loop.run(stop(), 30)
        finally:
            self.port.close()
            self.loop.close()
            self.air.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with provlab_child(
        "cloud", "serve", "--db", str(tmp_path / "cloud.db"), "--json", "--binary-port", "0", "--tls-port", "0",
        "--http-port", "0", "--mqtt-port", "0", "--mqtts-port", "0", "--time-scale", "1",
    ) as summary:  # fmt: skip
        yield summary


def test_a_wpa_phone_provisions_a_serial_board_on_the_real_air(tmp_path: Path, served: dict[str, Any]) -> None:
    bench = BenchBoard(tmp_path, [int(served["binary_port"])])
    ctrl = tmp_path / "wpa_supplicant"
    ctrl.mkdir()
    fake: FakeWpaSupplicant | None = None
    try:
        fake = FakeWpaSupplicant(
            str(ctrl),
            "lo",
            [
                FakeAp(bench.board.ssid, "24:6f:28:ab:00:79", 2412, -42, "[ESS]"),
                FakeAp(HOME_SSID, "02:50:4c:00:00:09", 2437, -58, "[WPA2-PSK-CCMP][ESS]", psk=HOME_PASS),
            ],
        )
        (tmp_path / "provlab.toml").write_text(
            textwrap.dedent(
                f"""
                wifi = "wpa:lo"
                [phone_radio]
                ctrl_dir = "{ctrl}"
                reply_timeout = 2.0
                join_timeout = 10.0
                scan_wait = 0.5
                [phone_radio.static."Blynk"]
                address = "127.78.4.2/24"
                gateway = "{BRIDGE_GATEWAY}"
                [boards]
                attached = ["{bench.port.path}"]
                [[home]]
                ssid = "{HOME_SSID}"
                passphrase = "{HOME_PASS}"
                [cloud]
                url = "{served["http_url"]}"
                tls = false
                """
            )
        )
        config = load_config(tmp_path / "provlab.toml")
        with Lab(config, artifacts=tmp_path / "evidence") as lab:
            assert isinstance(lab.air, AdapterAir) and lab.on_real_air
            board = lab.boards[0]
            assert board.emulated is None and board.on_air  # a serial board, reachable over the real air
            bench.loop.run(bench.board.power_on(), 30)  # plugged in once the lab listens to its port
            board.expect_state("WAIT_CONFIG", timeout=30)
            board.expect("AP URL:  blynk.setup", timeout=30)  # the SoftAP is up (the fake radio lists it all along)
            phone = lab.phone()
            enrollment = phone.provision(board)
            assert enrollment.ok, enrollment.failure
            board.expect_state("RUNNING", timeout=60)
            device = lab.device_for(enrollment)
            assert device is not None and lab.is_online(device.id)
            with pytest.raises(NoAirFaults, match="has no fault knobs"):
                _ = lab.faults
            with pytest.raises(NoSecondPhone, match="one real adapter"):  # a skip, in a scenario
                lab.phone()
            kinds = [(event.kind, event.ssid) for event in lab.air.events]
        assert ("assoc", bench.board.ssid) in kinds  # the phone's join, from the adapter, in air.jsonl
        assert bench.carried >= 2  # board_info and config at least went over the adapter's link
        joined = [c for c in fake.commands if c.startswith("SET_NETWORK") and " ssid " in c]
        assert any(f'ssid "{bench.board.ssid}"' in c for c in joined), fake.commands
        evidence = (tmp_path / "evidence" / "air.jsonl").read_text()
        assert bench.board.ssid in evidence and HOME_PASS not in evidence
    finally:
        if fake is not None:
            fake.close()
        bench.close()
