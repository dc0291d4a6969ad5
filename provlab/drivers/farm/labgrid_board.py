"""A board in a labgrid place: the place acquired, its serial port opened as a `SerialBoard`, its power, reset
and button as the board's sideband; closing the board releases the place."""

from __future__ import annotations

import os
from pathlib import Path

from provlab.clock.base import LabClock
from provlab.clock.wall import RealBoardClock
from provlab.drivers.farm.labgrid_place import FarmError, LabgridPlace, serial_resource, serial_url
from provlab.drivers.farm.labgrid_sideband import LabgridSideband
from provlab.drivers.serial_board import SerialBoard

WAIT_ENV = "PROVLAB_LABGRID_WAIT"


def wait_seconds(explicit: float | None = None) -> float:
    """How long to wait for a held place: `explicit`, else `$PROVLAB_LABGRID_WAIT`, else 0 (fail at once)."""
    if explicit is not None:
        return explicit
    raw = os.environ.get(WAIT_ENV, "").strip()
    try:
        return max(0.0, float(raw)) if raw else 0.0
    except ValueError:
        raise FarmError(f"{WAIT_ENV}={raw!r}: expected a number of seconds") from None


def open_labgrid_board(
    place_name: str,
    *,
    name: str | None = None,
    coordinator: str | None = None,
    wait: float | None = None,
    log_path: str | Path | None = None,
    clock: LabClock | None = None,
) -> SerialBoard:
    """Acquire `place_name` and open its board; the place is released again if anything after that fails."""
    place = LabgridPlace(place_name, coordinator=coordinator, wait=wait_seconds(wait))
    try:
        place.acquire()
        resources = place.resources()
        port = serial_resource(place_name, resources)
        sideband = LabgridSideband(place, resources, clock=clock or RealBoardClock())
        serial = SerialBoard(
            serial_url(port),
            name=name or place_name,
            log_path=log_path,
            clock=sideband.clock,
            baudrate=int(port.args.get("speed") or 115200),
        )
    except BaseException:
        place.close()
        raise
    serial.attach_sideband(sideband)
    return serial


def place_tags(serial: SerialBoard) -> dict[str, str]:
    """The tags of the place a board opened by `open_labgrid_board` is in (empty for any other board)."""
    return dict(serial.sideband.tags) if isinstance(serial.sideband, LabgridSideband) else {}
