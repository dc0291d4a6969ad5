"""What `provlab boards` shows: the board-like serial ports, their inventory names and, probed, their devinfo.

`collect_boards` does the work (enumerate, match the inventory, probe); `boards_table` renders a rich table.
Inventory boards with a fixed port (a remote `rfc2217://` URL) are listed too, and inventory boards that are
not attached get a row saying so, so a station check shows what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from provlab.drivers.discovery import ProbeResult, SerialPortInfo, find_ports, probe
from provlab.drivers.inventory import Inventory, InventoryBoard


@dataclass(frozen=True)
class BoardRow:
    """One line of the report."""

    port: SerialPortInfo | None
    """None: an inventory board that is not attached."""
    inventory: InventoryBoard | None = None
    probe: ProbeResult | None = None


def collect_boards(
    *,
    include_all: bool = False,
    probe_ports: bool = False,
    inventory: Inventory | None = None,
    timeout: float = 3.0,
    source: Callable[[], Iterable[Any]] | None = None,
) -> list[BoardRow]:
    ports = find_ports(include_all=include_all, source=source)
    if inventory is not None:  # an inventoried port counts even when its bridge is not a known one
        every = find_ports(include_all=True, source=source)
        known = {port.device for port in ports}
        ports += [p for p in every if p.device not in known and inventory.board_for(p) is not None]
        ports += [
            SerialPortInfo(device=b.port, description="fixed port (inventory)") for b in inventory.boards if b.port
        ]
    rows = []
    for port in ports:
        named = inventory.board_for(port) if inventory is not None else None
        result = (
            probe(port.device, timeout=timeout, baudrate=named.baudrate if named else 115200) if probe_ports else None
        )
        rows.append(BoardRow(port, named, result))
    if inventory is not None:
        present = {row.inventory.name for row in rows if row.inventory is not None}
        rows += [BoardRow(None, board) for board in inventory.boards if board.name not in present]
    return rows


def _inventory_cell(board: InventoryBoard | None) -> str:
    if board is None:
        return ""
    tags = " ".join(f"{key}={value}" for key, value in sorted(board.tags.items()))
    return f"[bold]{board.name}[/]" + (f"\n[dim]{tags}[/]" if tags else "")


def _probe_cells(result: ProbeResult | None) -> list[str]:
    if result is None:
        return ["", "", ""]
    if result.devinfo is not None:
        info = result.devinfo
        return [f"[green]{info.name}[/]", f"{info.board} ({info.tmpl_id})", f"{info.fw_type} {info.fw_ver}"]
    style = "yellow" if result.busy else "red"
    return [f"[{style}]{'in use' if result.busy else 'no answer'}[/]", f"[{style}]{result.error}[/]", ""]


def boards_table(rows: list[BoardRow], *, probed: bool = False) -> Table:
    table = Table(title="Serial ports that look like boards", show_lines=probed)
    for column in ("Port", "VID:PID", "Bridge", "Serial", "USB location", "Inventory"):
        table.add_column(column, overflow="fold")
    if probed:
        for column in ("devinfo name", "Template", "Firmware"):
            table.add_column(column, overflow="fold")
    for row in rows:
        if row.port is None:
            board = row.inventory
            assert board is not None
            cells = ["[red]not attached[/]", "", "", board.serial_number or "", board.location or ""]
            cells.append(_inventory_cell(board))
        else:
            port = row.port
            cells = [
                port.device,
                port.vid_pid,
                port.bridge or (f"[dim]{port.description}[/]" if port.description else ""),
                port.serial_number or "",
                port.location or "",
                _inventory_cell(row.inventory),
            ]
        if probed:
            cells += _probe_cells(row.probe)
        table.add_row(*cells)
    if not rows:
        table.caption = "no ESP USB bridge found (use --all to list every serial port)"
    return table
