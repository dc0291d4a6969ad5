"""The parity harness: one Lab world, and a board in it driven one of two ways.

`direct`: an emulated board on an in-memory UART, driven through its API (`DirectBoard`).
`serial`: the Lab's emulated board on its pty, driven as any real board is (`SerialBoard` + `EmulatedSideband`).
Scenarios receive a `BoardDriver` and a `ParityWorld` and must not ask which one they got.
"""

from __future__ import annotations

from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from provlab.drivers.driver import BoardDriver
from provlab.emulator.board import EmulatedBoard
from provlab.emulator.clock import DeviceClock
from provlab.emulator.direct import DirectBoard
from provlab.emulator.profile import PROFILES
from provlab.emulator.serial_port import MemorySerial
from provlab.emulator.sideband import EmulatedSideband
from provlab.lab.enrollment import Enrollment
from provlab.lab.lab import LAB_CALL_BUDGET_S, Lab, LabConfig
from provlab.wifi.sim import SimBoardRadio

T = TypeVar("T")
KINDS = ("direct", "serial")
DIRECT_MAC = bytes.fromhex("246F28DD0001")


class ParityWorld:
    """A Lab (cloud stub, air, home network, phone) with one board, driven `kind` way."""

    def __init__(self, kind: str, artifacts: Path, time_scale: float = 0.01) -> None:
        self.kind = kind
        self.lab = Lab(LabConfig(boards=1 if kind == "serial" else 0, time_scale=time_scale), artifacts=artifacts)
        try:
            self.board: BoardDriver = self._serial() if kind == "serial" else self._direct(artifacts)
        except BaseException:
            self.lab.close()
            raise

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.lab.loop.run(coro, LAB_CALL_BUDGET_S)

    def _serial(self) -> BoardDriver:
        lab_board = self.lab.boards[0]
        assert lab_board.emulated is not None
        lab_board.serial.attach_sideband(EmulatedSideband(lab_board.emulated, self.run))
        return lab_board.serial

    def _direct(self, artifacts: Path) -> BoardDriver:
        cfg = self.lab.config
        profile = PROFILES[cfg.profile](template_id=cfg.template_id, template_name=cfg.template_name)

        async def make() -> EmulatedBoard:
            return EmulatedBoard(
                profile,
                DIRECT_MAC,
                SimBoardRadio(self.lab.air, "board-direct"),
                artifacts / "board-direct.nvs",
                MemorySerial(),
                clock=DeviceClock(lab_clock=self.lab.clock),
                name="board-direct",
                tls_ca=self.lab.cloud.certs.ca_file if self.lab.cloud and cfg.cloud_tls else None,
            )

        emulated = self.run(make())
        direct = DirectBoard(emulated, self.run)
        self.run(emulated.power_on())
        return direct

    def provision(self, **kw: Any) -> Enrollment:
        """The phone provisions the board (found by the name the board itself reports) onto the home Wi-Fi."""
        name = self.board.info.name
        assert name is not None, "the board has not said its name (banner or devinfo) yet"
        return self.lab.phone().provision(name, **kw)

    def close(self) -> None:
        if self.kind == "direct":
            self.board.close()
            emulated = self.board.board  # type: ignore[attr-defined]
            self.run(emulated.power_off())
        self.lab.close()
