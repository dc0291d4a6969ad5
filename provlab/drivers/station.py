"""A station's real boards: an inventory board opened as a `SerialBoard` with the sideband its entry describes."""

from __future__ import annotations

from pathlib import Path

from provlab.drivers.inventory import FoundBoard
from provlab.drivers.serial_board import SerialBoard
from provlab.drivers.serial_errors import PortUnavailable
from provlab.drivers.sideband.config import build_sideband, uses_modem_lines


def open_inventory_board(
    found: FoundBoard, *, log_path: str | Path | None = None, time_scale: float = 1.0
) -> SerialBoard:
    """Open `found` (locking its port); DTR/RTS start released when a DTR/RTS sideband drives them."""
    board = found.board
    if found.url is None:
        where = board.serial_number or board.location or board.port
        raise PortUnavailable(f"{board.name}: not attached (looked for {where} among the serial ports)")
    released = uses_modem_lines(board.sideband)
    serial = SerialBoard(
        found.url,
        name=board.name,
        log_path=log_path,
        time_scale=time_scale,
        baudrate=board.baudrate,
        dtr=False if released else None,
        rts=False if released else None,
    )
    try:
        serial.attach_sideband(
            build_sideband(board.sideband, lines=serial, name=board.name, port=found.url, time_scale=time_scale)
        )
    except BaseException:
        serial.close()
        raise
    return serial
