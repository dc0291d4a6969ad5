"""Which boards a lab runs: `--boards` and `boards.attached` name them, one comma-separated item each.

* `emu:N`: N emulated boards (the count adds up over several `emu:` items);
* `inv:NAME`: the inventory's board NAME, found by USB serial number, location or port, wired as it says;
* `replay:FILE`: a recorded serial session (or a pasted log) replayed as a read-only board, read in the log format
  it shows (`replay:FILE?format=esp-idf` chooses one: `drivers.replay.ReplayTarget`);
* `labgrid:PLACE`: a board farm's place, acquired through its labgrid coordinator (`LG_COORDINATOR`) for the
  run and released after it: its serial port, and its power, reset and button (`provlab.drivers.farm`);
* `/dev/ttyUSB0`, `COM3`, `rfc2217://host:4001`, `socket://…`, `port:URL`: a board on that serial port,
  nothing wired beyond it.

`--boards emu:2,inv:bench-a,/dev/ttyACM0` runs every scenario on four boards. Boards attached by port,
inventory or replay are driven through their serial port and whatever their inventory entry wires
(reset, power, button); the phone reaches their access point only with a Wi-Fi backend that drives a real
radio, so phone steps on them stop the scenario as skipped on the `sim` and `netns` airs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from provlab.drivers.replay import ReplayTarget


class BoardSource(str, Enum):
    PORT = "port"
    INVENTORY = "inv"
    REPLAY = "replay"
    LABGRID = "labgrid"


@dataclass(frozen=True)
class AttachedBoard:
    """A board that is not emulated by this lab: where it comes from and what names it."""

    source: BoardSource
    target: str

    def __str__(self) -> str:
        return self.target if self.source is BoardSource.PORT else f"{self.source.value}:{self.target}"


class BoardSpecError(ValueError):
    """A `--boards` / `boards.attached` item provlab cannot read; says what the forms are."""


FORMS = (
    "emu:N, inv:NAME, replay:FILE, labgrid:PLACE, or a serial port (/dev/ttyUSB0, COM3, rfc2217://host:port, port:URL)"
)
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_COM = re.compile(r"^COM\d+$", re.IGNORECASE)


def parse_item(item: str) -> int | AttachedBoard:
    """One item: an emulated-board count, or an attached board."""
    text = item.strip()
    if not text:
        raise BoardSpecError(f"empty board item; expected {FORMS}")
    if text.startswith("emu:"):
        count = text[4:]
        if not count.isdigit():
            raise BoardSpecError(f"{text!r}: the emulated-board count must be a whole number (emu:2)")
        return int(count)
    for source in (BoardSource.INVENTORY, BoardSource.REPLAY, BoardSource.LABGRID, BoardSource.PORT):
        prefix = f"{source.value}:"
        if text.startswith(prefix):
            target = text[len(prefix) :].strip()
            if not target:
                raise BoardSpecError(f"{text!r}: nothing after {prefix!r}")
            if source is BoardSource.REPLAY:
                try:
                    ReplayTarget.parse(target)
                except ValueError as exc:
                    raise BoardSpecError(str(exc)) from None
            return AttachedBoard(source, target)
    if text.startswith("/") or _URL.match(text) or _COM.match(text):
        return AttachedBoard(BoardSource.PORT, text)
    raise BoardSpecError(f"{text!r} is not a board; expected {FORMS}")


def parse_boards(spec: str) -> tuple[int, tuple[AttachedBoard, ...]]:
    """`emu:2,inv:bench-a` -> (2, (inv:bench-a,)); the emulated count is 0 when no `emu:` item is given."""
    emulated = 0
    attached: list[AttachedBoard] = []
    for item in spec.split(","):
        parsed = parse_item(item)
        if isinstance(parsed, int):
            emulated += parsed
        else:
            attached.append(parsed)
    return emulated, tuple(attached)
