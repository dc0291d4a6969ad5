"""A small world for phone tests: cloud stub, an air (sim or netns), a home network, emulated boards.

The same world on both airs, so the phone's tests run unchanged on `sim` and on `netns`. Each test
runs it on a loop of its own virtual lab clock (the boards, the phone, the cloud and the air's fault
timers share it), so its seconds are device seconds and host load cannot change an outcome.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from provlab.clock.virtual import VirtualClock, clock_of
from provlab.cloud.stub import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD, CloudStub
from provlab.emulator.board import EmulatedBoard
from provlab.emulator.clock import DeviceClock
from provlab.emulator.profile import edgent_esp32
from provlab.emulator.serial_port import MemorySerial
from provlab.lab.enrollment import Enrollment
from provlab.lab.journal import Journal
from provlab.lab.phone import Phone
from provlab.protocol.ssid import format_mac
from provlab.wifi.netns.namespace import unavailable_reason
from provlab.wifi.world import Air, open_air

HOME_SSID = "ProvlabHome"
HOME_PASS = "correct-horse-battery"
CLOUD_HOST = "blynk.cloud"
TEMPLATE = "TMPL0PROVLAB"


@dataclass
class World:
    kind: str
    air: Air
    cloud: CloudStub
    boards: list[EmulatedBoard]
    time_scale: float
    folder: Path
    journal: Journal
    phones: list[Phone] = field(default_factory=list)
    serial: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    async def open(
        cls, kind: str, folder: Path, *, boards: int = 1, capture: bool = False, masked: bool = True
    ) -> World:
        clock = clock_of(asyncio.get_running_loop())
        assert clock is not None, "a World runs on a loop of a virtual lab clock (run_in_world)"
        time_scale = clock.scale
        air = open_air(kind, clock=clock)
        try:
            cloud = CloudStub(folder / "cloud.db", time_scale=time_scale)
            cloud.seed(templates={TEMPLATE: "Device"})
            endpoints = await cloud.start()
            world = cls(kind, air, cloud, [], time_scale, folder, Journal(folder / "phone.jsonl"))
            if capture:
                air.start_capture(folder / "wifi.pcap", masked=masked)
            air.open_internet_port(endpoints.binary_port)
            air.add_network(HOME_SSID, passphrase=HOME_PASS, dns={CLOUD_HOST: "127.0.0.1"})
            for index in range(1, boards + 1):
                await world.add_board(index)
        except BaseException:
            air.close()
            raise
        return world

    async def add_board(self, index: int) -> EmulatedBoard:
        mac = bytes.fromhex("246F28AA0000")[:4] + index.to_bytes(2, "big")
        lines = self.serial.setdefault(f"board-{index}", [])
        board = EmulatedBoard(
            edgent_esp32(template_id=TEMPLATE, template_name="Device"),
            mac,
            self.air.board_radio(f"board-{index}", mac=format_mac(mac)),
            self.folder / f"board-{index}.nvs",
            MemorySerial(lambda data: lines.append(data.decode("utf-8", "replace"))),
            clock=DeviceClock(),  # the running loop's virtual clock
            name=f"board-{index}",
        )
        await board.power_on()
        self.boards.append(board)
        return board

    async def ap_up(self, board: EmulatedBoard) -> None:
        await self.wait_for(lambda: board.radio.ap is not None, 30, f"{board.name} SoftAP up")

    def log(self, board: EmulatedBoard) -> str:
        return "".join(self.serial[board.name])

    def phone(self, profile: str = "generic", name: str | None = None, *, long_poll: bool = False) -> Phone:
        assert self.cloud.endpoints is not None
        name = name or f"phone-{len(self.phones) + 1}"
        phone = Phone(
            self.air.station(name),
            self.cloud.endpoints.http_url,
            email=DEFAULT_ADMIN_EMAIL,
            password=DEFAULT_ADMIN_PASSWORD,
            time_scale=self.time_scale,
            journal=self.journal,
            name=name,
            profile=profile,
            long_poll=long_poll,
        )
        self.phones.append(phone)
        return phone

    async def provision(self, phone: Phone, board: EmulatedBoard, **kw: Any) -> Enrollment:
        assert self.cloud.endpoints is not None
        kw.setdefault("wifi_ssid", HOME_SSID)
        kw.setdefault("wifi_pass", HOME_PASS)
        kw.setdefault("cloud_host", CLOUD_HOST)
        kw.setdefault("cloud_port", self.cloud.endpoints.binary_port)
        kw.setdefault("check", False)
        return await phone.provision(board.ssid, **kw)

    async def wait_for(self, predicate: Any, device_s: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + device_s
        while not predicate():
            if loop.time() > deadline:
                raise AssertionError(f"{what}: not reached within {device_s:g} device s")
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        for phone in self.phones:
            await phone.close()
        for board in self.boards:
            await board.power_off()
        await self.cloud.stop()
        self.air.close()
        self.journal.close()


AIRS = ["sim", "netns"]


def skip_without_netns(kind: str) -> None:
    if kind == "netns":
        reason = unavailable_reason()
        if reason is not None:
            pytest.skip(f"netns backend unavailable here: {reason}")


def run_in_world(kind: str, folder: Path, body: Any, **options: Any) -> Any:
    """Open a world, run `await body(world)`, always close it (namespaces included)."""

    async def main() -> Any:
        world = await World.open(kind, folder, **options)
        try:
            return await body(world)
        finally:
            await world.close()

    loop = VirtualClock().new_loop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
