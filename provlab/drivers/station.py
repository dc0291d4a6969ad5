"""A station's real boards: an inventory board opened as a `SerialBoard` with the sideband its entry describes."""

from __future__ import annotations

from pathlib import Path

from provlab.clock.base import LabClock
from provlab.clock.wall import RealBoardClock, WallClock
from provlab.drivers.inventory import FoundBoard
from provlab.drivers.serial_board import SerialBoard
from provlab.drivers.serial_errors import PortUnavailable
from provlab.drivers.sideband.config import build_sideband, uses_modem_lines


def open_inventory_board(
    found: FoundBoard,
    *,
    log_path: str | Path | None = None,
    clock: LabClock | None = None,
    time_scale: float | None = None,
) -> SerialBoard:
    """Open `found` (locking its port); DTR/RTS start released when a DTR/RTS sideband drives them. A real
    board's waits and holds run on `clock` (default: the wall clock of a real board; `time_scale` for a
    board that is an emulation running that much faster, as in tests)."""
    if clock is None:
        clock = WallClock(time_scale) if time_scale is not None else RealBoardClock()
    board = found.board
    if found.url is None:
        where = board.serial_number or board.location or board.port
        raise PortUnavailable(f"{board.name}: not attached (looked for {where} among the serial ports)")
    released = uses_modem_lines(board.sideband)
    serial = SerialBoard(
        found.url,
        name=board.name,
        log_path=log_path,
        clock=clock,
        baudrate=board.baudrate,
        dtr=False if released else None,
        rts=False if released else None,
    )
    try:
        serial.attach_sideband(
            build_sideband(board.sideband, lines=serial, name=board.name, port=found.url, time_scale=clock.scale)
        )
    except BaseException:
        serial.close()
        raise
    return serial
