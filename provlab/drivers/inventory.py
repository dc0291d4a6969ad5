"""The board inventory: a YAML or TOML file naming a station's boards, how to find them and what they are.

```yaml
boards:
  bench-a:
    serial_number: "0001A2B3"          # or  location: "1-1.4:1.0"   or  port: rfc2217://bench-2:4001
    tags: {chip: esp32, profile: edgent-esp32, wiring: auto-reset}
    sideband: {kind: dtr-rts, button: io0}
    firmware: build/edgent.bin         # written with esptool before the run (relative to this file)
  bench-b:
    location: "1-1.3:1.0"
    tags: {chip: esp8266}
    sideband:
      - {kind: command, power_on: "usbrelay R1_1=1", power_off: "usbrelay R1_1=0"}
      - {kind: command, led: "read-led-sensor --board {name}"}   # prints `beat BLUE {50,500}` and the like
      - {kind: operator, can: [button]}
```

The same in TOML is `[boards.bench-a]` tables. A board is found by its USB serial number, its USB location
or a fixed port (a path or a remote URL). Tests pick boards by tags (`select(chip="esp32")`, what a
`@pytest.mark.board(chip="esp32")` marker asks for).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from provlab.drivers.discovery import SerialPortInfo

IDENTITIES = ("serial_number", "location", "port")
KEYS = {*IDENTITIES, "tags", "sideband", "baudrate", "description", "firmware"}


class InventoryError(ValueError):
    """The inventory file is not usable; the message names the file and the entry."""


@dataclass(frozen=True)
class InventoryBoard:
    """One board of the inventory."""

    name: str
    serial_number: str | None = None
    location: str | None = None
    port: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    sideband: tuple[dict[str, Any], ...] = ()
    baudrate: int = 115200
    description: str = ""
    firmware: str | None = None
    """The app image to write before a run (`provlab.drivers.flashing`); `--flash FILE` overrides it."""

    def matches(self, info: SerialPortInfo) -> bool:
        if self.serial_number is not None:
            return info.serial_number == self.serial_number
        if self.location is not None:
            return info.location == self.location
        return self.port == info.device

    def has_tags(self, wanted: Mapping[str, object]) -> bool:
        return all(self.tags.get(key) == str(value) for key, value in wanted.items())


@dataclass(frozen=True)
class FoundBoard:
    """An inventory board and the port it is on now (None: not attached)."""

    board: InventoryBoard
    url: str | None


@dataclass
class Inventory:
    """The boards of one station."""

    boards: list[InventoryBoard]
    source: str = "inventory"

    @classmethod
    def load(cls, path: str | Path) -> Inventory:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InventoryError(f"cannot read the board inventory {path}: {exc}") from exc
        if path.suffix.lower() == ".toml":
            data = _load_toml(text, path)
        elif path.suffix.lower() in (".yaml", ".yml"):
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise InventoryError(f"{path}: not valid YAML: {exc}") from exc
        else:
            raise InventoryError(f"{path}: an inventory is a .yaml, .yml or .toml file")
        return cls.from_data(data, str(path), base=path.parent)

    @classmethod
    def from_data(cls, data: object, source: str = "inventory", base: Path | None = None) -> Inventory:
        """Paths in it (`firmware`) are relative to `base` (the inventory file's folder)."""
        if not isinstance(data, dict) or not isinstance(data.get("boards"), dict):
            raise InventoryError(f"{source}: expected a `boards` table of named boards")
        boards = [_board(name, entry, source, base) for name, entry in data["boards"].items()]
        return cls(boards, source)

    def get(self, name: str) -> InventoryBoard:
        for board in self.boards:
            if board.name == name:
                return board
        raise InventoryError(f"{self.source}: no board named {name!r}; boards: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return [board.name for board in self.boards]

    def select(self, **tags: object) -> list[InventoryBoard]:
        """Boards carrying all these tag values, e.g. `select(chip="esp32", wiring="auto-reset")`."""
        return [board for board in self.boards if board.has_tags(tags)]

    def board_for(self, info: SerialPortInfo) -> InventoryBoard | None:
        return next((board for board in self.boards if board.matches(info)), None)

    def locate(self, ports: list[SerialPortInfo], boards: list[InventoryBoard] | None = None) -> list[FoundBoard]:
        """Where each board is now: its fixed port, or the enumerated port it matches (None if absent)."""
        found = []
        for board in self.boards if boards is None else boards:
            if board.port is not None:
                found.append(FoundBoard(board, board.port))
                continue
            port = next((p for p in ports if board.matches(p)), None)
            found.append(FoundBoard(board, port.device if port else None))
        return found


def _load_toml(text: str, path: Path) -> object:
    try:
        tomllib: Any = importlib.import_module("tomllib")
    except ImportError:  # Python 3.10
        raise InventoryError(f"{path}: TOML inventories need Python 3.11 (tomllib); use YAML here") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"{path}: not valid TOML: {exc}") from exc


def _board(name: object, entry: object, source: str, base: Path | None = None) -> InventoryBoard:
    where = f"{source}: board {name!r}"
    if not isinstance(name, str) or not name:
        raise InventoryError(f"{where}: a board name is a non-empty string")
    if not isinstance(entry, dict):
        raise InventoryError(f"{where}: expected a table of settings")
    unknown = sorted(set(entry) - KEYS)
    if unknown:
        raise InventoryError(f"{where}: unknown setting(s) {unknown}; known: {', '.join(sorted(KEYS))}")
    given = [key for key in IDENTITIES if entry.get(key) not in (None, "")]
    if len(given) != 1:
        raise InventoryError(f"{where}: give exactly one of {', '.join(IDENTITIES)} (got {given or 'none'})")
    tags = entry.get("tags", {})
    if not isinstance(tags, dict) or not all(isinstance(k, str) for k in tags):
        raise InventoryError(f"{where}: tags are a table of name: value (e.g. chip: esp32)")
    sideband = entry.get("sideband", ())
    parts = [sideband] if isinstance(sideband, dict) else list(sideband)
    if not all(isinstance(part, dict) and "kind" in part for part in parts):
        raise InventoryError(f"{where}: sideband is a table with a `kind`, or a list of them")
    firmware = _text(entry.get("firmware"))
    if firmware is not None and base is not None and not Path(firmware).is_absolute():
        firmware = str(base / firmware)
    return InventoryBoard(
        name=name,
        serial_number=_text(entry.get("serial_number")),
        location=_text(entry.get("location")),
        port=_text(entry.get("port")),
        tags={key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in tags.items()},
        sideband=tuple(dict(part) for part in parts),
        baudrate=int(entry.get("baudrate", 115200)),
        description=str(entry.get("description", "")),
        firmware=firmware,
    )


def _text(value: object) -> str | None:
    return None if value in (None, "") else str(value)
