"""Rigs for the serial-driver tests: a bare pty the test writes into, and an emulated board on a pty.

Everything is real: ptys from the kernel, pyserial, files, loopback sockets. Nothing asserts on wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import tty
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from provlab.emulator.board import EmulatedBoard
from provlab.emulator.clock import DeviceClock
from provlab.emulator.profile import edgent_esp32
from provlab.emulator.serial_port import BoardSerial, MemorySerial, PtySerial
from provlab.emulator.sideband import EmulatedSideband
from provlab.lab.runtime import EventLoopThread
from provlab.wifi.sim import SimAir, SimBoardRadio

T = TypeVar("T")
SCALE = 0.01
HOME_SSID = "ProvlabHome"
HOME_PASS = "correct-horse-battery"
TOKEN = "Zq3vN8xYpL2mK7wR4tB9cD1eF6gH0jAs"  # 32 characters, the shape of a Blynk token


class RawPty:
    """A pty whose board side the test plays by hand: `send` what the board prints, `host_wrote` what came."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.closed = False

    def send(self, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        view = memoryview(raw)
        while view:
            select.select([], [self.master], [], 1.0)
            view = view[os.write(self.master, view) :]

    def host_wrote(self, wait: float = 2.0, until: bytes = b"\n") -> bytes:
        got = bytearray()
        while until not in got:
            ready, _, _ = select.select([self.master], [], [], wait)
            if not ready:
                break
            got += os.read(self.master, 4096)
        return bytes(got)

    def close(self) -> None:
        """The board goes away: the pty disappears, as a USB serial device does on unplug."""
        if not self.closed:
            self.closed = True
            for fd in (self.master, self.slave):
                with contextlib.suppress(OSError):
                    os.close(fd)


class EmulatedRig:
    """One emulated ESP32 Edgent board on the sim air, its loop on a thread, its UART a pty (or memory)."""

    def __init__(self, tmp: Path, *, memory: bool = False, index: int = 1, scale: float = SCALE) -> None:
        self.loop = EventLoopThread(name=f"rig-{index}")
        self.air = SimAir()
        self.home = self.air.add_network(HOME_SSID, passphrase=HOME_PASS)
        self.port: BoardSerial = MemorySerial() if memory else PtySerial()
        self.scale = scale
        mac = bytes.fromhex("246F28AB0000")[:4] + index.to_bytes(2, "big")

        async def make() -> EmulatedBoard:
            board = EmulatedBoard(
                edgent_esp32(),
                mac,
                SimBoardRadio(self.air, f"board-{index}"),
                tmp / f"board-{index}.nvs",
                self.port,
                clock=DeviceClock(scale),
                name=f"board-{index}",
            )
            if isinstance(self.port, PtySerial):
                self.port.attach(asyncio.get_running_loop())
            return board

        self.board = self.loop.run(make(), 30)

    @property
    def path(self) -> str:
        assert isinstance(self.port, PtySerial)
        return self.port.path

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run(coro, 60)

    def sideband(self) -> EmulatedSideband:
        return EmulatedSideband(self.board, self.run)

    def power_on(self) -> None:
        self.run(self.board.power_on())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self.board.power_off())
        self.port.close()
        self.loop.close()
