"""Opening a board this lab does not emulate (a serial port, an inventory entry, a labgrid place, a replayed
recording).

Shared by the lab, which opens each attached board per test, and by the run's flashing step, which opens the
same boards once before the first test.
"""

from __future__ import annotations

from pathlib import Path

from provlab.clock.wall import RealBoardClock
from provlab.drivers.discovery import find_ports
from provlab.drivers.farm.labgrid_board import open_labgrid_board
from provlab.drivers.inventory import Inventory, InventoryBoard
from provlab.drivers.replay import ReplayBoard
from provlab.drivers.serial_board import SerialBoard
from provlab.drivers.station import open_inventory_board
from provlab.lab.board_specs import AttachedBoard, BoardSource
from provlab.lab.config import LabConfig


def inventory_entry(config: LabConfig, attached: AttachedBoard) -> InventoryBoard | None:
    """The inventory entry of an `inv:NAME` board (None for other boards)."""
    if attached.source is not BoardSource.INVENTORY:
        return None
    assert config.inventory is not None  # LabConfig checks it
    return Inventory.load(config.inventory).get(attached.target)


def open_attached(config: LabConfig, attached: AttachedBoard, name: str, log_path: Path) -> SerialBoard:
    """Open the board as the lab drives it. A real board runs on the wall clock whatever `time_scale` is (that
    applies to emulated boards only); a recording replays at the lab's time scale."""
    if attached.source is BoardSource.REPLAY:
        return ReplayBoard(attached.target, name=name, log_path=log_path, time_scale=config.time_scale)
    entry = inventory_entry(config, attached)
    if entry is not None:
        found = Inventory([entry]).locate(find_ports(include_all=True))[0]
        return open_inventory_board(found, log_path=log_path, clock=RealBoardClock())
    if attached.source is BoardSource.LABGRID:  # the place is acquired here and released when the board closes
        return open_labgrid_board(attached.target, log_path=log_path, clock=RealBoardClock())
    return SerialBoard(attached.target, name=name, log_path=log_path, clock=RealBoardClock())


def firmware_for(config: LabConfig, attached: AttachedBoard) -> str | None:
    """The image to write to this board before the run: `--flash FILE`, else its inventory entry's `firmware`;
    None for a replayed recording (nothing to write to) or a board with neither."""
    if attached.source is BoardSource.REPLAY:
        return None
    if config.firmware is not None:
        return config.firmware
    entry = inventory_entry(config, attached)
    return entry.firmware if entry is not None else None
